import Foundation
import Testing
import NN
import TensorEngine

/// A JSON fixture under `Tests/Fixtures/quant` written by one of its Brevitas scripts: tensors
/// are `{"shape": [...], "data": [...]}` (float32 values written exactly).
struct GoldenFixture {
    let root: [String: Any]

    init(_ file: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/quant").appendingPathComponent(file)
        root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// The object of one case.
    func `case`(_ name: String) -> [String: Any] { root[name] as! [String: Any] }

    /// A tensor stored as `{"shape", "data"}`.
    static func tensor(_ any: Any?) -> Tensor {
        let d = any as! [String: Any]
        return Tensor(shape: d["shape"] as! [Int], (d["data"] as! [Double]).map { Float($0) })
    }
}

/// Expects `actual` to match `expected` elementwise within `atol + rtol·|expected|`; a missing
/// gradient counts as zeros.
func expectClose(
    _ actual: Tensor?, _ expected: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let a = actual ?? Tensor.zeros(expected.shape)
    guard a.count == expected.count else {
        Issue.record("\(what): shape \(a.shape) vs expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let bad = zip(a.scalars, expected.scalars).enumerated().filter { _, p in !(abs(p.0 - p.1) <= atol + rtol * abs(p.1)) }
    if let (i, p) = bad.first {
        Issue.record("\(what): \(bad.count) of \(a.count) elements differ; first at \(i): \(p.0) vs expected \(p.1)",
                     sourceLocation: sourceLocation)
    }
}

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
        expectClose(p.grad, GoldenFixture.tensor(g), rtol: rtol, atol: atol, "\(what) grad \(name)", sourceLocation: sourceLocation)
    }
}
