import NN
import TensorEngine

/// A model whose forward is an ordered list of nodes over named child modules and functional ops:
/// what an FX `GraphModule` is to Brevitas.
///
/// Each ``GraphNode`` defines one value; the values of the graph are its `inputs` and its nodes,
/// evaluated in order. Layers with weights (Conv2d, Linear, BatchNorm2d, ...) and activations are
/// children of the module, registered under their dotted paths (`layers.0.c1`), so
/// ``Module/stateDict()`` has PyTorch's keys, optimizers train them, and graph passes can find and
/// replace them (``replaceModule(at:with:)``, ``insert(_:after:)``, ``users(of:)``).
///
/// ```swift
/// let g = GraphBuilder()
/// let x = g.input("x")
/// let y = g.call("fc1", Linear(4, 8), x)
/// let z = g.op(.relu, y)
/// let model = try g.build(outputs: [g.call("fc2", Linear(8, 2), z)])
/// print(model)          // the modules, then `graph(x): fc1 = fc1(x) ...`
/// let out = model(Tensor.zeros([3, 4]))
/// ```
///
/// Build one with ``GraphBuilder``, from an ONNX file (`ONNXImport`), or from a PyTorch-style
/// module description (``TorchGraphSpec/build(_:)``).
open class GraphModule: Module, Layer {
    /// The names of the graph inputs, in call order.
    public private(set) var inputNames: [String]
    /// The nodes in evaluation order.
    public private(set) var nodes: [GraphNode]
    /// The values returned, in order.
    public private(set) var outputNames: [String]

    private var plan: Plan?

    /// A graph with the given inputs, nodes and outputs; modules and tensors the nodes refer to
    /// are registered separately (``addModule(_:at:)``, ``addTensor(_:at:trainable:)``), then
    /// ``validate()`` checks the whole.
    public init(inputs: [String], nodes: [GraphNode] = [], outputs: [String] = []) {
        inputNames = inputs
        self.nodes = nodes
        outputNames = outputs
        super.init()
    }

    open override var typeName: String { "GraphModule" }

    // MARK: Registration under dotted paths

    /// Registers `module` at the dotted `path`, creating empty ``ModuleContainer``s for missing
    /// parents (`layers.0.c1` creates `layers` and `layers.0`). Replaces what is there.
    @discardableResult
    public func addModule<M: Module>(_ module: M, at path: String) -> M {
        let (parent, name) = Self.parentAndName(path)
        container(at: parent).registerModule(name, module)
        return module
    }

    /// Registers `tensor` as a parameter (`trainable`) or buffer at the dotted `key`, creating
    /// containers for missing parents.
    @discardableResult
    public func addTensor(_ tensor: Tensor, at key: String, trainable: Bool) -> Tensor {
        let (parent, name) = Self.parentAndName(key)
        let owner = container(at: parent)
        if trainable { owner.registerParameter(name, tensor) } else { owner.registerBuffer(name, tensor) }
        return tensor
    }

    private func container(at path: String) -> Module {
        var current: Module = self
        guard !path.isEmpty else { return current }
        for part in path.split(separator: ".", omittingEmptySubsequences: false).map(String.init) {
            if let next = current.children.first(where: { $0.name == part })?.module {
                current = next
            } else {
                current = current.registerModule(part, ModuleContainer())
            }
        }
        return current
    }

    static func parentAndName(_ path: String) -> (String, String) {
        guard let dot = path.lastIndex(of: ".") else { return ("", path) }
        return (String(path[..<dot]), String(path[path.index(after: dot)...]))
    }

    // MARK: Forward

    /// Runs the graph on one tensor per input (in ``inputNames`` order); returns one per output.
    open func forward(_ inputs: [Tensor]) -> [Tensor] {
        precondition(inputs.count == inputNames.count,
                     "GraphModule: expected \(inputNames.count) inputs (\(inputNames)), got \(inputs.count)")
        let plan = currentPlan()
        var slots = [Tensor?](repeating: nil, count: inputNames.count + nodes.count)
        for (i, x) in inputs.enumerated() { slots[i] = x }
        for (k, step) in plan.steps.enumerated() {
            let node = nodes[k]
            let args = step.inputs.map { slots[$0]! }
            slots[inputNames.count + k] = evaluate(node, args)
            for dead in step.releases { slots[dead] = nil }
        }
        return plan.outputs.map { slots[$0]! }
    }

    /// Runs a graph with one input and one output.
    open func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(inputNames.count == 1 && outputNames.count == 1,
                     "GraphModule: callAsFunction(_:) needs one input and one output, the graph has \(inputNames.count) and \(outputNames.count); use forward(_:)")
        return forward([x])[0]
    }

    func evaluate(_ node: GraphNode, _ args: [Tensor]) -> Tensor {
        switch node.op {
        case .module(let path):
            guard let layer = module(at: path) as? any Layer else {
                preconditionFailure("GraphModule: node '\(node.name)' calls '\(path)', which is not a child Layer (call validate())")
            }
            return layer(args[0])
        case .parameter(let key):
            guard let t = tensor(at: key) else {
                preconditionFailure("GraphModule: node '\(node.name)' reads tensor '\(key)', which is not registered (call validate())")
            }
            return t
        default:
            return node.op.apply(args)
        }
    }

    struct Plan {
        var steps: [(inputs: [Int], releases: [Int])]
        var outputs: [Int]
    }

    private func currentPlan() -> Plan {
        if let plan { return plan }
        var index: [String: Int] = [:]
        for (i, name) in inputNames.enumerated() { index[name] = i }
        var lastUse: [Int: Int] = [:]
        var steps: [(inputs: [Int], releases: [Int])] = []
        for (k, node) in nodes.enumerated() {
            let ins = node.inputs.map { name -> Int in
                guard let i = index[name] else {
                    preconditionFailure("GraphModule: node '\(node.name)' reads '\(name)', which is not defined before it (call validate())")
                }
                return i
            }
            for i in ins { lastUse[i] = k }
            steps.append((ins, []))
            index[node.name] = inputNames.count + k
        }
        let outs = outputNames.map { name -> Int in
            guard let i = index[name] else { preconditionFailure("GraphModule: output '\(name)' is not defined (call validate())") }
            return i
        }
        let kept = Set(outs)
        for (slot, k) in lastUse where !kept.contains(slot) { steps[k].releases.append(slot) }
        let plan = Plan(steps: steps, outputs: outs)
        self.plan = plan
        return plan
    }

    // MARK: Checking

    /// Checks that every value is defined once and before it is read, that module nodes name
    /// child Layers, parameter nodes registered tensors, and that each op has as many inputs as
    /// it takes.
    public func validate() throws(GraphError) {
        guard !outputNames.isEmpty else { throw GraphError(.noOutputs) }
        var defined = Set<String>()
        for name in inputNames {
            guard defined.insert(name).inserted else { throw GraphError(.duplicateValue(name)) }
        }
        for node in nodes {
            for input in node.inputs where !defined.contains(input) {
                throw GraphError(.undefinedInput(node: node.name, input: input))
            }
            if let arity = node.op.arity, !arity.contains(node.inputs.count) {
                let expected = arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)"
                throw GraphError(.arity(node: node.name, op: node.op.baseName, expected: expected, got: node.inputs.count))
            }
            if node.op.arity == nil, node.inputs.isEmpty {
                throw GraphError(.arity(node: node.name, op: node.op.baseName, expected: "at least 1", got: 0))
            }
            switch node.op {
            case .module(let path):
                guard module(at: path) is any Layer else { throw GraphError(.missingModule(node: node.name, path: path)) }
                guard node.inputs.count == 1 else {
                    throw GraphError(.arity(node: node.name, op: "module", expected: "1", got: node.inputs.count))
                }
            case .parameter(let key):
                guard tensor(at: key) != nil else { throw GraphError(.missingTensor(node: node.name, key: key)) }
            default: break
            }
            guard defined.insert(node.name).inserted else { throw GraphError(.duplicateValue(node.name)) }
        }
        for output in outputNames where !defined.contains(output) { throw GraphError(.undefinedOutput(output)) }
    }

    // MARK: Editing (what graph passes use)

    /// The node that defines `value`, `nil` for a graph input or an unknown name.
    public func node(named value: String) -> GraphNode? { nodes.first { $0.name == value } }

    /// The position of the node that defines `value`.
    public func index(of value: String) -> Int? { nodes.firstIndex { $0.name == value } }

    /// The nodes that read `value`, in graph order (a node reading it twice is listed once).
    public func users(of value: String) -> [GraphNode] { nodes.filter { $0.inputs.contains(value) } }

    /// Whether `value` is returned by the graph.
    public func isOutput(_ value: String) -> Bool { outputNames.contains(value) }

    /// The module nodes call, as `(node, module)`, in graph order.
    public var moduleNodes: [(node: GraphNode, module: Module)] {
        nodes.compactMap { node in node.modulePath.flatMap { module(at: $0) }.map { (node, $0) } }
    }

    /// Replaces the child module at `path` (e.g. a `Conv2d` by a quantized one); every node that
    /// calls `path` now calls the new module.
    public func replaceModule(at path: String, with module: Module) {
        precondition(self.module(at: path) != nil, "replaceModule: no module at '\(path)'")
        addModule(module, at: path)
    }

    /// Inserts `node` right after the definition of `value` (at the start for a graph input) and
    /// makes every other reader of `value`, and the graph outputs, read `node.name` instead:
    /// `y = f(x)` becomes `y = f(q)` with `q = node(x)`. `node` must read `value`.
    public func insert(_ node: GraphNode, after value: String) {
        precondition(node.inputs.contains(value), "insert(after:): node '\(node.name)' must read '\(value)'")
        precondition(self.node(named: node.name) == nil && !inputNames.contains(node.name), "insert: the value '\(node.name)' already exists")
        let position: Int
        if let i = index(of: value) { position = i + 1 } else {
            precondition(inputNames.contains(value), "insert(after:): '\(value)' is not a value of the graph")
            position = 0
        }
        for k in position..<nodes.count { nodes[k].inputs = nodes[k].inputs.map { $0 == value ? node.name : $0 } }
        outputNames = outputNames.map { $0 == value ? node.name : $0 }
        nodes.insert(node, at: position)
        plan = nil
    }

    /// Inserts `node` right before the node `user` and makes `user` read `node.name` where it
    /// read the value `node` reads at `replacing`: `y = f(x)` becomes `q = node(x); y = f(q)`,
    /// other readers of `x` unchanged (an input quantizer of one layer).
    public func insert(_ node: GraphNode, before user: String, replacing value: String) {
        guard let k = index(of: user) else { preconditionFailure("insert(before:): no node '\(user)'") }
        precondition(nodes[k].inputs.contains(value), "insert(before:): node '\(user)' does not read '\(value)'")
        precondition(self.node(named: node.name) == nil && !inputNames.contains(node.name), "insert: the value '\(node.name)' already exists")
        nodes[k].inputs = nodes[k].inputs.map { $0 == value ? node.name : $0 }
        nodes.insert(node, at: k)
        plan = nil
    }

    /// Removes the node defining `value`; its readers (and the outputs) read `replacement`
    /// instead, which must be defined before the removed node (e.g. its input, to drop an
    /// identity or a BatchNorm merged into its conv).
    public func removeNode(_ value: String, replacingUsesWith replacement: String) {
        guard let k = index(of: value) else { preconditionFailure("removeNode: no node '\(value)'") }
        let definedBefore = inputNames.contains(replacement) || nodes[..<k].contains { $0.name == replacement }
        precondition(definedBefore, "removeNode: '\(replacement)' is not defined before '\(value)'")
        nodes.remove(at: k)
        for j in nodes.indices { nodes[j].inputs = nodes[j].inputs.map { $0 == value ? replacement : $0 } }
        outputNames = outputNames.map { $0 == value ? replacement : $0 }
        plan = nil
    }

    /// Sets the graph inputs (a builder's last step).
    public func setInputs(_ names: [String]) {
        inputNames = names
        plan = nil
    }

    /// Replaces the whole node list and outputs (a pass that rewrites the graph wholesale);
    /// call ``validate()`` afterwards.
    public func setNodes(_ nodes: [GraphNode], outputs: [String]) {
        self.nodes = nodes
        outputNames = outputs
        plan = nil
    }

    // MARK: Printing

    /// The graph as text, one node per line (FX's `graph.print_readable` in spirit):
    /// ```
    /// graph(x):
    ///   conv1 = conv1(x)
    ///   relu = relu(conv1)
    ///   return relu
    /// ```
    public var graphDescription: String {
        var lines = ["graph(\(inputNames.joined(separator: ", "))):"]
        lines += nodes.map { "  " + $0.description }
        lines.append("  return " + outputNames.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// The module tree, then the graph.
    open override var description: String { super.description + "\n" + graphDescription }
}

/// An empty module that holds children under a path segment (`layers` in `layers.0.c1`), as
/// PyTorch's FX does for nested names.
public final class ModuleContainer: Module {
    public override init() { super.init() }
    public override var typeName: String { "Module" }
}
