import Foundation
import Testing
import TestSupport
import NN
import TensorEngine

/// Compares every parameter gradient recorded by Brevitas (`grads`, by state-dict name) with the
/// module's.
func expectParameterGrads(
    _ module: Module, _ grads: [String: Any], rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let params = Dictionary(uniqueKeysWithValues: module.namedParameters().map { ($0.name, $0.tensor) })
    for (name, g) in grads.sorted(by: { $0.key < $1.key }) {
        guard let p = params[name] else {
            Issue.record("\(what): no parameter \(name); have \(params.keys.sorted())", sourceLocation: sourceLocation)
            continue
        }
        if g is NSNull { continue }
        expectClose(p.grad, Fixture.t(g), rtol: rtol, atol: atol, "\(what) grad \(name)", sourceLocation: sourceLocation)
    }
}
