
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
