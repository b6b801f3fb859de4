import Foundation
import Testing
@testable import TensorEngine

/// Reads the PyTorch reference fixtures in `Tests/Fixtures/engine/` (see Tests/Fixtures/README.md).
struct Fixture {
    let json: [String: Any]

    init(_ json: [String: Any]) { self.json = json }

    /// Loads `Tests/Fixtures/engine/<name>.json`.
    init(engine name: String) {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/engine/\(name).json")
        let data = try! Data(contentsOf: url)
        json = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    subscript(_ key: String) -> Fixture { Fixture(json[key] as! [String: Any]) }

    func has(_ key: String) -> Bool { json[key] != nil && !(json[key] is NSNull) }

    /// A `{"shape", "data"}` tensor entry, or `nil` when the entry is JSON null.
    func tensor(_ key: String) -> Tensor? {
        guard let t = json[key] as? [String: Any] else { return nil }
        let shape = (t["shape"] as! [Any]).map { ($0 as! NSNumber).intValue }
        let data = (t["data"] as! [Any]).map { Float(($0 as! NSNumber).doubleValue) }
        return Tensor(shape: shape, data)
    }

    func t(_ key: String) -> Tensor { tensor(key)! }

    func ints(_ key: String) -> [Int] {
        if let t = json[key] as? [String: Any] { return (t["data"] as! [Any]).map { ($0 as! NSNumber).intValue } }
        return (json[key] as! [Any]).map { ($0 as! NSNumber).intValue }
    }

    func int(_ key: String) -> Int { (json[key] as! NSNumber).intValue }
    func double(_ key: String) -> Double { (json[key] as! NSNumber).doubleValue }
    func bool(_ key: String) -> Bool { (json[key] as! NSNumber).boolValue }
    func string(_ key: String) -> String { json[key] as! String }

    func cases(_ key: String = "cases") -> [Fixture] { (json[key] as! [[String: Any]]).map(Fixture.init) }
}

/// Expects `a` and `b` to have equal shapes and elements within `atol + rtol·|b|`.
func expectClose(
    _ a: Tensor?, _ b: Tensor?, rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let a, let b else {
        #expect(a == nil && b == nil, "\(what): one side is nil", sourceLocation: sourceLocation)
        return
    }
    #expect(a.shape == b.shape, "\(what): shape \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
    guard a.shape == b.shape else { return }
    let x = a.scalars, y = b.scalars
    var worst = -1
    var worstErr: Float = 0
    for i in 0..<x.count {
        let err = Swift.abs(x[i] - y[i]) - (atol + rtol * Swift.abs(y[i]))
        if !(err <= 0) && (worst < 0 || err > worstErr) { worst = i; worstErr = err }
    }
    #expect(worst < 0, "\(what): element \(worst): \(worst >= 0 ? x[worst] : 0) vs \(worst >= 0 ? y[worst] : 0)",
            sourceLocation: sourceLocation)
}

/// Runs `f` on fresh leaves made from `inputs` and back-propagates `g`; returns the output and
/// each input's gradient.
func forwardBackward(_ inputs: [Tensor?], g: Tensor, _ f: ([Tensor?]) -> Tensor) -> (Tensor, [Tensor?]) {
    let leaves = inputs.map { $0.map { Tensor(shape: $0.shape, $0.scalars, requiresGrad: true) } }
    let out = f(leaves)
    out.backward(g)
    return (out, leaves.map { $0?.grad })
}
