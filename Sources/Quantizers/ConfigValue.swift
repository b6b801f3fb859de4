/// A value at the string-keyed configuration boundary (config files, conformance specs):
/// Brevitas keyword values.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([ConfigValue])
    /// A quantizer preset named by class (`{"quantizer": "Int8ActPerTensorFloat"}`).
    case quantizer(String)

    public var description: String {
        switch self {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return "'\(s)'"
        case .array(let a): return "(" + a.map(\.description).joined(separator: ", ") + ")"
        case .quantizer(let q): return q
        }
    }

    /// The value as an integer, if it is a whole number.
    public var intValue: Int? {
        if case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        if case .bool(let b) = self { return b ? 1 : 0 }
        return nil
    }

    /// The value as a float.
    public var floatValue: Float? {
        if case .number(let d) = self { return Float(d) }
        return nil
    }

    /// The value as a list of integers (a single integer counts as a list of one).
    public var intList: [Int]? {
        if case .array(let a) = self {
            let ints = a.compactMap(\.intValue)
            return ints.count == a.count ? ints : nil
        }
        return intValue.map { [$0] }
    }
}
