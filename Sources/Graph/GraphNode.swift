/// One step of a ``GraphModule``'s forward: `name = op(inputs...)`.
///
/// The node defines the value `name`; `inputs` name graph inputs or earlier nodes. Module
/// nodes usually carry the module's path as their name (`conv1 = conv1(x)`), as FX does.
public struct GraphNode: CustomStringConvertible {
    /// The value this node defines (unique in the graph).
    public var name: String
    /// What it computes.
    public var op: GraphOp
    /// The values it reads, in order.
    public var inputs: [String]

    public init(_ name: String, _ op: GraphOp, _ inputs: [String]) {
        self.name = name
        self.op = op
        self.inputs = inputs
    }

    /// The path of the child module this node calls, if it is a module node.
    public var modulePath: String? {
        if case .module(let path) = op { return path }
        return nil
    }

    /// `name = op(inputs)`, one line of the printed graph.
    public var description: String {
        switch op {
        case .parameter, .constant: "\(name) = \(op)"
        default: "\(name) = \(op)(\(inputs.joined(separator: ", ")))"
        }
    }
}
