import NN
import TensorEngine

/// A value of a graph under construction: a graph input or the output of a node.
public struct GraphValue: Hashable, Sendable, CustomStringConvertible {
    /// The value's name in the graph.
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}

/// Builds a ``GraphModule`` from Swift code, one call per node, the way FX tracing records a
/// PyTorch forward: a model written in Swift then goes through the same graph tools as an
/// imported one.
///
/// Node names default to FX's: a module call is named after the module's path; an op after its
/// ``GraphOp/baseName``, numbered from the second on (`add`, `add_1`, ...).
///
/// ```swift
/// let g = GraphBuilder()
/// let x = g.input("x")
/// let c = g.call("conv1", Conv2d(3, 8, kernelSize: 3, padding: 1), x)
/// let r = g.call("relu", ReLU(), c)
/// let s = g.op(.add, r, g.call("shortcut", Conv2d(3, 8, kernelSize: 1), x))
/// let model = try g.build(outputs: [g.op(.flatten(startDim: 1, endDim: -1), s)])
/// ```
public final class GraphBuilder {
    private let graph: GraphModule
    private var nodes: [GraphNode] = []
    private var used: Set<String> = []
    private var counters: [String: Int] = [:]

    public init() { graph = GraphModule(inputs: []) }

    /// Declares a graph input.
    public func input(_ name: String) -> GraphValue {
        precondition(!used.contains(name), "GraphBuilder: the value '\(name)' already exists")
        used.insert(name)
        inputs.append(name)
        return GraphValue(name)
    }
    private var inputs: [String] = []

    /// Registers `module` at the dotted `path` and calls it on `input`; the node is named `path`
    /// (or `name`).
    public func call(_ path: String, _ module: any Layer, _ input: GraphValue, name: String? = nil) -> GraphValue {
        precondition(graph.module(at: path) == nil, "GraphBuilder: a module is already registered at '\(path)'; call it with call(_:_:) to share it")
        graph.addModule(module, at: path)
        return call(path, input, name: name)
    }

    /// Calls the module already registered at `path` again (a shared module).
    public func call(_ path: String, _ input: GraphValue, name: String? = nil) -> GraphValue {
        precondition(graph.module(at: path) is any Layer, "GraphBuilder: no Layer registered at '\(path)'")
        return add(GraphNode(uniqueName(name ?? path), .module(path), [input.name]))
    }

    /// A functional op on `inputs`.
    @discardableResult
    public func op(_ op: GraphOp, _ inputs: GraphValue..., name: String? = nil) -> GraphValue {
        self.op(op, inputs, name: name)
    }

    /// A functional op on `inputs`.
    @discardableResult
    public func op(_ op: GraphOp, _ inputs: [GraphValue], name: String? = nil) -> GraphValue {
        if case .module = op { preconditionFailure("GraphBuilder: use call(_:_:_:) for module nodes") }
        if case .parameter = op { preconditionFailure("GraphBuilder: use parameter(_:_:trainable:) for tensors") }
        return add(GraphNode(uniqueName(name ?? op.baseName), op, inputs.map(\.name)))
    }

    /// Registers `tensor` at the dotted state-dict `key` (a parameter if `trainable`, else a
    /// buffer) and returns its value.
    public func parameter(_ key: String, _ tensor: Tensor, trainable: Bool = true, name: String? = nil) -> GraphValue {
        precondition(graph.tensor(at: key) == nil, "GraphBuilder: a tensor is already registered at '\(key)'")
        graph.addTensor(tensor, at: key, trainable: trainable)
        return add(GraphNode(uniqueName(name ?? key), .parameter(key), []))
    }

    /// A literal tensor (not part of the state dict).
    public func constant(_ tensor: Tensor, name: String? = nil) -> GraphValue {
        add(GraphNode(uniqueName(name ?? "const"), .constant(tensor), []))
    }

    /// The module registered at `path`, if any.
    public func module(at path: String) -> Module? { graph.module(at: path) }

    /// Finishes the graph with `outputs` and validates it.
    public func build(outputs: [GraphValue]) throws(GraphError) -> GraphModule {
        graph.setInputs(inputs)
        graph.setNodes(nodes, outputs: outputs.map(\.name))
        try graph.validate()
        return graph
    }

    private func add(_ node: GraphNode) -> GraphValue {
        nodes.append(node)
        return GraphValue(node.name)
    }

    /// `base` if free, else `base_1`, `base_2`, ... (FX's numbering).
    private func uniqueName(_ base: String) -> String {
        var name = base
        var k = counters[base] ?? 0
        while used.contains(name) {
            k += 1
            name = "\(base)_\(k)"
        }
        counters[base] = k
        used.insert(name)
        return name
    }
}
