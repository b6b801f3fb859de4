/// Why a graph is not well formed: what ``GraphModule/validate()`` reports.
public struct GraphError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        /// Two nodes (or a node and an input) define the same value.
        case duplicateValue(String)
        /// A node reads a value that no input or earlier node defines.
        case undefinedInput(node: String, input: String)
        /// A graph output names a value nothing defines.
        case undefinedOutput(String)
        /// A module node names a path with no child module, or one that is not a `Layer`.
        case missingModule(node: String, path: String)
        /// A parameter node names a key with no registered tensor.
        case missingTensor(node: String, key: String)
        /// A node has a number of inputs its op does not take.
        case arity(node: String, op: String, expected: String, got: Int)
        /// The graph has no outputs.
        case noOutputs
    }

    public var problem: Problem

    public init(_ problem: Problem) { self.problem = problem }

    public var description: String {
        switch problem {
        case .duplicateValue(let v): "the value '\(v)' is defined twice"
        case .undefinedInput(let node, let input):
            "node '\(node)' reads '\(input)', which no graph input or earlier node defines"
        case .undefinedOutput(let v): "the graph output '\(v)' is not defined"
        case .missingModule(let node, let path): "node '\(node)' calls module '\(path)', which is not a child Layer of the graph"
        case .missingTensor(let node, let key): "node '\(node)' reads tensor '\(key)', which is not registered"
        case .arity(let node, let op, let expected, let got): "node '\(node)': \(op) takes \(expected) inputs, got \(got)"
        case .noOutputs: "the graph has no outputs"
        }
    }
}
