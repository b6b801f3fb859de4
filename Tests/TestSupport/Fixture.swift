import Foundation
import Testing
import TensorEngine

/// The package root, found from this file's path (works for `swift test` from any directory).
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Reads the reference fixtures under `Tests/Fixtures/<directory>/` written by PyTorch or
/// Brevitas (format in Tests/Fixtures/README.md): JSON objects whose tensors are
/// `{"shape": [...], "data": [...]}` with float32 values written exactly.
///
///     let f = try Fixture("engine", "conv2d")
///     let x = f["case0"].t("input")          // a tensor entry, required
///     let g = f["case0"].tensor("grad")      // nil where the reference has None
public struct Fixture {
    public let json: [String: Any]

    public init(_ json: [String: Any]) { self.json = json }

    /// Loads `Tests/Fixtures/<directory>/<name>.json` (`name` with or without `.json`).
    public init(_ directory: String, _ name: String) throws {
        let file = name.hasSuffix(".json") ? name : name + ".json"
        let data = try Data(contentsOf: Self.url(directory, file))
        json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(directory)/\(file) is not a JSON object")
    }

    /// `Tests/Fixtures/<directory>/<file>`.
    public static func url(_ directory: String, _ file: String) -> URL {
        packageRoot.appendingPathComponent("Tests/Fixtures/\(directory)/\(file)")
    }

    public subscript(_ key: String) -> Fixture { Fixture(json[key] as! [String: Any]) }

    /// The raw object of one case (for fixtures read key by key).
    public func `case`(_ name: String) -> [String: Any] { json[name] as! [String: Any] }

    /// A `{"shape", "data"}` entry as a tensor, `nil` for JSON null or a missing key.
    public func tensor(_ key: String) -> Tensor? { Self.tensor(json[key]) }

    /// A `{"shape", "data"}` value as a tensor, `nil` for JSON null.
    public static func tensor(_ value: Any?) -> Tensor? {
        guard let t = value as? [String: Any] else { return nil }
        let shape = (t["shape"] as! [Any]).map { ($0 as! NSNumber).intValue }
        let data = (t["data"] as! [Any]).map { Float(($0 as! NSNumber).doubleValue) }
        return Tensor(shape: shape, data)
    }

    /// A required tensor value.
    public static func t(_ value: Any?) -> Tensor { tensor(value)! }

    /// A required tensor entry.
    public func t(_ key: String) -> Tensor { tensor(key)! }
    public func tensors(_ key: String) -> [Tensor] { (json[key] as! [Any]).map { Self.tensor($0)! } }

    /// Integers stored as a tensor entry or as a plain list.
    public func ints(_ key: String) -> [Int] {
        if let t = json[key] as? [String: Any] { return (t["data"] as! [Any]).map { ($0 as! NSNumber).intValue } }
        return (json[key] as! [Any]).map { ($0 as! NSNumber).intValue }
    }
    public func int(_ key: String) -> Int { (json[key] as! NSNumber).intValue }
    public func double(_ key: String) -> Double { (json[key] as! NSNumber).doubleValue }
    public func doubles(_ key: String) -> [Double] { (json[key] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    public func bool(_ key: String) -> Bool { (json[key] as! NSNumber).boolValue }
    public func string(_ key: String) -> String { json[key] as! String }
    public func has(_ key: String) -> Bool { json[key] != nil && !(json[key] is NSNull) }
    public func cases(_ key: String = "cases") -> [Fixture] { (json[key] as! [[String: Any]]).map(Fixture.init) }
}
