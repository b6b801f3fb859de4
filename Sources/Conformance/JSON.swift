import Foundation
import TensorEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A parsed JSON value, shaped for conformance cases: objects keep their key order, and an array
/// made only of numbers is stored compactly as `numbers` (tensor data of up to a few hundred
/// thousand elements loads without one enum per element).
public indirect enum JSON: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    /// An array whose elements are all numbers (never empty: `[]` is `array([])`).
    case numbers([Double])
    case object(JSONObject)

    // MARK: Access

    /// The member `key` of an object (`nil` for other values or a missing key).
    public subscript(_ key: String) -> JSON? {
        if case .object(let o) = self { return o.values[key] }
        return nil
    }

    public var object: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements of an array (a numeric array as `number` values).
    public var array: [JSON]? {
        switch self {
        case .array(let a): return a
        case .numbers(let d): return d.map(JSON.number)
        default: return nil
        }
    }

    /// The elements of an array of numbers (`[]` for an empty array). Tensor data of
    /// `spec_version` 2 may spell non-finite elements as the strings `"nan"`, `"inf"` and
    /// `"-inf"`; they read as those numbers. Any other string makes this `nil`.
    public var doubles: [Double]? {
        switch self {
        case .numbers(let d): return d
        case .array(let a):
            var out: [Double] = []
            out.reserveCapacity(a.count)
            for e in a {
                switch e {
                case .number(let d): out.append(d)
                case .string("nan"): out.append(.nan)
                case .string("inf"): out.append(.infinity)
                case .string("-inf"): out.append(-.infinity)
                default: return nil
                }
            }
            return out
        default: return nil
        }
    }

    public var double: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    public var int: Int? {
        if case .number(let d) = self, d == d.rounded(), Swift.abs(d) < 1e15 { return Int(d) }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Whether this is a recorded tensor (`{"shape", "data"}` without `kind`).
    public var isTensor: Bool {
        guard let o = object else { return false }
        return o.values["shape"] != nil && o.values["data"] != nil && o.values["kind"] == nil
    }

    /// Whether this is a recorded integer QuantTensor (`{"kind": "IntQuantTensor", ...}`).
    public var isQuantTensor: Bool { quantKind == "IntQuantTensor" }

    /// The `kind` of a recorded QuantTensor of any kind (`IntQuantTensor`, `FloatQuantTensor`,
    /// `GroupwiseIntQuantTensor`, ...), `nil` for anything else.
    public var quantKind: String? { self["kind"]?.string }

    /// Compact text for messages (tensors as `tensor[shape]`).
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return JSON.format(d)
        case .string(let s): return "\"\(s)\""
        case .numbers(let d): return "[" + d.prefix(8).map(JSON.format).joined(separator: ", ") + (d.count > 8 ? ", ...]" : "]")
        case .array(let a): return "[" + a.prefix(8).map(\.description).joined(separator: ", ") + (a.count > 8 ? ", ...]" : "]")
        case .object(let o):
            if isTensor, let s = o.values["shape"]?.doubles { return "tensor" + JSON.shapeText(s) }
            return "{" + o.keys.prefix(8).map { "\($0): \(o.values[$0]!)" }.joined(separator: ", ") + (o.keys.count > 8 ? ", ...}" : "}")
        }
    }

    /// A recorded shape as text, `[2, 3]`; any number (even `1e300` or NaN from a hostile file)
    /// prints without trapping.
    static func shapeText(_ dims: [Double]) -> String { "[" + dims.map(format).joined(separator: ", ") + "]" }

    /// Shortest round-tripping text of a number, integers without a fraction.
    static func format(_ d: Double) -> String {
        if d == d.rounded(), Swift.abs(d) < 1e15 { return String(Int(d)) }
        return "\(d)"
    }
}

/// A JSON object: members in file order plus a dictionary for lookup.
public final class JSONObject: Equatable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: JSON] = [:]

    public init() {}

    public init(_ pairs: [(String, JSON)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(_ key: String) -> JSON? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Members in file order.
    public var pairs: [(key: String, value: JSON)] { keys.map { ($0, values[$0]!) } }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.values == b.values }
}

/// A malformed JSON file.
public struct JSONParseError: Error, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "JSON parse error at byte \(offset): \(message)" }
}

extension JSON {
    /// Parses a JSON document. Numbers are read with `strtod` (correctly rounded), so the shortest
    /// float64 text of a float32 gives back that float32 exactly; `NaN`, `Infinity` and
    /// `-Infinity` (Python's spellings) are accepted.
    public static func parse(_ data: Data) throws -> JSON {
        var bytes = [UInt8](data)
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buf in
            var p = JSONParser(buf: buf, count: buf.count - 1)
            p.skipWhitespace()
            let v = try p.value()
            p.skipWhitespace()
            guard p.pos == p.count else { throw p.error("trailing characters") }
            return v
        }
    }

    /// Reads and parses a JSON file.
    public static func load(contentsOf url: URL) throws -> JSON {
        try parse(try Data(contentsOf: url))
    }
}

struct JSONParser {
    let buf: UnsafeBufferPointer<UInt8>
    let count: Int
    var pos = 0
    /// Arrays and objects open around `pos`; past ``InputLimits/maxJSONDepth`` is an error, so
    /// a hostile file cannot exhaust the stack of this recursive parser.
    var depth = 0

    init(buf: UnsafeBufferPointer<UInt8>, count: Int) {
        self.buf = buf
        self.count = count
    }

    func error(_ m: String) -> JSONParseError { JSONParseError(offset: pos, message: m) }

    @inline(__always) var current: UInt8 { buf[pos] }  // buf[count] == 0

    mutating func skipWhitespace() {
        while pos < count {
            switch buf[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: String) throws {
        for c in literal.utf8 {
            guard current == c else { throw error("expected '\(literal)'") }
            pos += 1
        }
    }

    static func startsNumber(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x4E || c == 0x49  // 0-9 - N I
    }

    mutating func value() throws -> JSON {
        guard pos < count else { throw error("unexpected end of input") }
        switch current {
        case 0x7B: return .object(try object())
        case 0x5B: return try array()
        case 0x22: return .string(try string())
        case 0x74: try expect("true"); return .bool(true)
        case 0x66: try expect("false"); return .bool(false)
        case 0x6E: try expect("null"); return .null
        case let c where JSONParser.startsNumber(c): return .number(try number())
        default: throw error("unexpected character '\(Character(UnicodeScalar(current)))'")
        }
    }

    mutating func number() throws -> Double {
        let start = buf.baseAddress! + pos
        var end: UnsafeMutablePointer<CChar>? = nil
        let d = start.withMemoryRebound(to: CChar.self, capacity: 1) { s -> Double in
            let v = strtod(s, &end)
            return v
        }
        let consumed = end.map { UnsafeRawPointer($0) - UnsafeRawPointer(start) } ?? 0
        guard consumed > 0 else { throw error("malformed number") }
        pos += consumed
        return d
    }

    mutating func enter() throws {
        depth += 1
        guard depth <= InputLimits.maxJSONDepth else {
            throw error("arrays and objects nested deeper than the limit of \(InputLimits.maxJSONDepth)")
        }
    }

    mutating func array() throws -> JSON {
        try enter()
        defer { depth -= 1 }
        pos += 1  // [
        skipWhitespace()
        if current == 0x5D {
            pos += 1
            return .array([])
        }
        // Fast path: an array of numbers.
        var doubles: [Double] = []
        if JSONParser.startsNumber(current) {
            while true {
                doubles.append(try number())
                skipWhitespace()
                if current == 0x2C {
                    pos += 1
                    skipWhitespace()
                    if !JSONParser.startsNumber(current) { break }
                } else if current == 0x5D {
                    pos += 1
                    return .numbers(doubles)
                } else {
                    throw error("expected ',' or ']' in array")
                }
            }
        }
        var items: [JSON] = doubles.map(JSON.number)
        while true {
            items.append(try value())
            skipWhitespace()
            if current == 0x2C {
                pos += 1
                skipWhitespace()
            } else if current == 0x5D {
                pos += 1
                return .array(items)
            } else {
                throw error("expected ',' or ']' in array")
            }
        }
    }

    mutating func object() throws -> JSONObject {
        try enter()
        defer { depth -= 1 }
        pos += 1  // {
        let o = JSONObject()
        skipWhitespace()
        if current == 0x7D {
            pos += 1
            return o
        }
        while true {
            guard current == 0x22 else { throw error("expected a string key") }
            let k = try string()
            skipWhitespace()
            guard current == 0x3A else { throw error("expected ':'") }
            pos += 1
            skipWhitespace()
            o[k] = try value()
            skipWhitespace()
            if current == 0x2C {
                pos += 1
                skipWhitespace()
            } else if current == 0x7D {
                pos += 1
                return o
            } else {
                throw error("expected ',' or '}' in object")
            }
        }
    }

    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = current
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("bad \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    mutating func string() throws -> String {
        pos += 1  // "
        var out = [UInt8]()
        while true {
            guard pos < count else { throw error("unterminated string") }
            let c = current
            pos += 1
            if c == 0x22 { break }
            if c != 0x5C {
                out.append(c)
                continue
            }
            let e = current
            pos += 1
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00, current == 0x5C, buf[pos + 1] == 0x75 {
                    pos += 2
                    let low = try hex4()
                    // A high surrogate without its low half is not a scalar: U+FFFD below.
                    scalar = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xD800
                }
                let u = UnicodeScalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw error("bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension JSON {
    /// Compact JSON text. Numbers use Swift's shortest round-tripping form; non-finite numbers
    /// are written as Python writes them (`NaN`, `Infinity`, `-Infinity`).
    public func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += JSON.numberText(d)
        case .string(let s): JSON.writeString(s, to: &out)
        case .numbers(let d):
            out += "["
            for (i, x) in d.enumerated() {
                if i > 0 { out += "," }
                out += JSON.numberText(x)
            }
            out += "]"
        case .array(let a):
            out += "["
            for (i, x) in a.enumerated() {
                if i > 0 { out += "," }
                x.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.enumerated() {
                if i > 0 { out += "," }
                JSON.writeString(k, to: &out)
                out += ":"
                o.values[k]!.write(to: &out)
            }
            out += "}"
        }
    }

    static func numberText(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if d == d.rounded(), Swift.abs(d) < 1e15, !(d == 0 && d.sign == .minus) { return String(Int(d)) }
        return "\(d)"
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
