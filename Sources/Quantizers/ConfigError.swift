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

/// A configuration that cannot be built: every problem found, with the layer and key it concerns.
public struct QuantConfigError: Error, Equatable, CustomStringConvertible {
    /// One problem with one key.
    public struct Problem: Equatable, Sendable, CustomStringConvertible {
        public var key: String
        public var message: String
        public init(key: String, message: String) {
            self.key = key
            self.message = message
        }
        public var description: String { "'\(key)': \(message)" }
    }

    /// The layer (or quantizer) being configured, e.g. `QuantReLU.act_quant`.
    public var context: String
    /// All problems found.
    public var problems: [Problem]

    public init(context: String, problems: [Problem]) {
        self.context = context
        self.problems = problems
    }

    public var description: String {
        if problems.count == 1 { return "\(context): \(problems[0])" }
        return "\(context): \(problems.count) problems:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
