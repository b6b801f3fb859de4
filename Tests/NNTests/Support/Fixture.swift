import Foundation
import NN
import Testing
import TensorEngine

/// The package root, found from this file's path (works for `swift test` from any directory).
let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Reads the PyTorch reference fixtures under `Tests/Fixtures/` (format in Tests/Fixtures/README.md).
struct Fixture {
    let json: [String: Any]

    init(_ json: [String: Any]) { self.json = json }

    /// Loads `Tests/Fixtures/<directory>/<name>.json`.
    init(_ directory: String, _ name: String) throws {
        let data = try Data(contentsOf: Self.url(directory, name + ".json"))
        json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func url(_ directory: String, _ file: String) -> URL {
        packageRoot.appendingPathComponent("Tests/Fixtures/\(directory)/\(file)")
    }

    subscript(_ key: String) -> Fixture { Fixture(json[key] as! [String: Any]) }

    /// A `{"shape", "data"}` entry as a tensor, `nil` for JSON null.
    func tensor(_ key: String) -> Tensor? { Self.tensor(json[key]) }

    static func tensor(_ value: Any?) -> Tensor? {
        guard let t = value as? [String: Any] else { return nil }
        let shape = (t["shape"] as! [Any]).map { ($0 as! NSNumber).intValue }
        let data = (t["data"] as! [Any]).map { Float(($0 as! NSNumber).doubleValue) }
        return Tensor(shape: shape, data)
    }

    func t(_ key: String) -> Tensor { tensor(key)! }
    func tensors(_ key: String) -> [Tensor] { (json[key] as! [Any]).map { Self.tensor($0)! } }
    func ints(_ key: String) -> [Int] {
        let t = json[key] as! [String: Any]
        return (t["data"] as! [Any]).map { ($0 as! NSNumber).intValue }
    }
    func int(_ key: String) -> Int { (json[key] as! NSNumber).intValue }
    func double(_ key: String) -> Double { (json[key] as! NSNumber).doubleValue }
    func doubles(_ key: String) -> [Double] { (json[key] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    func string(_ key: String) -> String { json[key] as! String }
    func has(_ key: String) -> Bool { json[key] != nil && !(json[key] is NSNull) }
    func cases(_ key: String = "cases") -> [Fixture] { (json[key] as! [[String: Any]]).map(Fixture.init) }
}

/// Expects equal shapes and elements within `atol + rtol·|expected|`, reporting the worst element
/// at the caller.
func expectClose(
    _ actual: Tensor?, _ expected: Tensor?, rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let actual, let expected else {
        #expect(actual == nil && expected == nil, "\(what): one side is nil", sourceLocation: sourceLocation)
        return
    }
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let x = actual.scalars, y = expected.scalars
    var worst = -1
    var worstErr: Float = 0
    for i in 0..<x.count {
        let err = abs(x[i] - y[i]) - (atol + rtol * abs(y[i]))
        if !(err <= 0) && (worst < 0 || err > worstErr) { (worst, worstErr) = (i, err) }
    }
    #expect(worst < 0, "\(what): element \(worst): \(worst >= 0 ? x[worst] : 0) vs expected \(worst >= 0 ? y[worst] : 0)",
            sourceLocation: sourceLocation)
}

/// A fresh leaf tensor with the values of `t` that requires a gradient.
func leaf(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, t.scalars, requiresGrad: true) }

/// A unique temporary directory, removed by the caller with `removeTemporary`.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("nn-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
