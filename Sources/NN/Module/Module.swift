import TensorEngine

/// The base class of every layer and model: a tree of modules that own named parameters and
/// buffers, like `torch.nn.Module`.
///
/// A module registers what it owns under a name. Names compose into the dotted keys of a state
/// dict (`features.0.weight`), exactly as in PyTorch and Brevitas, so checkpoints line up key for
/// key.
///
/// - **Parameters** are trainable tensors (`requiresGrad` is switched on at registration); the
///   optimizers update them in place.
/// - **Buffers** are tensors that belong to the state but are not trained (BatchNorm's running
///   statistics). A non-persistent buffer is left out of the state dict.
/// - **Children** are sub-modules; their parameters and buffers appear under `name.`.
/// - **Extra state** is anything else worth saving (an integer counter, a phase flag): override
///   ``extraState()`` and ``loadExtraState(_:)``.
///
/// Registration is explicit. Keep a stored property for typed access *and* register the same
/// object: tensors and modules are reference types, and everything in this library (optimizers,
/// ``loadStateDict(_:strict:)``) mutates a tensor in place, so the property and the registry never
/// diverge. Only re-registering a name swaps the object, and then the property must be reassigned
/// too.
///
/// ```swift
/// final class TwoLayer: Module, Layer {
///     let fc1: Linear, fc2: Linear
///     let scale: Tensor
///     init() {
///         fc1 = Linear(8, 5)
///         fc2 = Linear(5, 3)
///         scale = Tensor(1)
///         super.init()
///         registerModule("fc1", fc1)          // keys fc1.weight, fc1.bias
///         registerModule("fc2", fc2)
///         registerParameter("scale", scale)  // key scale
///     }
///     func callAsFunction(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) * scale }
/// }
/// ```
///
/// Every name must be non-empty, contain no `.`, and be unique among the module's parameters,
/// buffers, extra-state keys and children.
open class Module: CustomStringConvertible {
    /// Whether the module is in training mode (the default) or evaluation mode. Set it for a whole
    /// tree with ``train(_:)`` or ``eval()``.
    public private(set) var training = true

    private(set) var parameterEntries: [(name: String, tensor: Tensor)] = []
    private(set) var bufferEntries: [(name: String, tensor: Tensor, persistent: Bool)] = []
    private(set) var childEntries: [(name: String, module: Module)] = []

    public init() {}

    // MARK: Registration

    /// Registers `tensor` as a trainable parameter under `name` (replacing any parameter of that
    /// name) and sets its `requiresGrad`. Returns `tensor`.
    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        checkName(name, kind: "parameter")
        tensor.requiresGrad = true
        if let i = parameterEntries.firstIndex(where: { $0.name == name }) {
            parameterEntries[i].tensor = tensor
        } else {
            parameterEntries.append((name, tensor))
        }
        return tensor
    }

    /// Registers `tensor` as a buffer under `name` (replacing any buffer of that name). A
    /// non-persistent buffer is not part of the state dict. Returns `tensor`.
    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor, persistent: Bool = true) -> Tensor {
        checkName(name, kind: "buffer")
        if let i = bufferEntries.firstIndex(where: { $0.name == name }) {
            bufferEntries[i] = (name, tensor, persistent)
        } else {
            bufferEntries.append((name, tensor, persistent))
        }
        return tensor
    }

    /// Registers `module` as a child under `name` (replacing any child of that name, in place in
    /// the order). Returns `module`.
    @discardableResult
    public func registerModule<M: Module>(_ name: String, _ module: M) -> M {
        checkName(name, kind: "module")
        precondition(module !== self, "registerModule: a module cannot be its own child ('\(name)')")
        if let i = childEntries.firstIndex(where: { $0.name == name }) {
            childEntries[i].module = module
        } else {
            childEntries.append((name, module))
        }
        return module
    }

    /// Removes the parameter, buffer or child called `name`; returns whether one existed.
    @discardableResult
    public func unregister(_ name: String) -> Bool {
        let before = parameterEntries.count + bufferEntries.count + childEntries.count
        parameterEntries.removeAll { $0.name == name }
        bufferEntries.removeAll { $0.name == name }
        childEntries.removeAll { $0.name == name }
        return parameterEntries.count + bufferEntries.count + childEntries.count < before
    }

    private func checkName(_ name: String, kind: String) {
        precondition(!name.isEmpty, "register \(kind): the name must not be empty")
        precondition(!name.contains("."), "register \(kind) '\(name)': names must not contain '.' (dots separate levels of a state-dict key)")
        let clash: String?
        if kind != "parameter", parameterEntries.contains(where: { $0.name == name }) {
            clash = "parameter"
        } else if kind != "buffer", bufferEntries.contains(where: { $0.name == name }) {
            clash = "buffer"
        } else if kind != "module", childEntries.contains(where: { $0.name == name }) {
            clash = "module"
        } else {
            clash = nil
        }
        precondition(clash == nil, "register \(kind) '\(name)' on \(typeName): a \(clash ?? "") of that name already exists")
    }

    // MARK: Lookup

    /// This module's own parameters, in registration order.
    public var localParameters: [(name: String, tensor: Tensor)] { parameterEntries }
    /// This module's own buffers (persistent or not), in registration order.
    public var localBuffers: [(name: String, tensor: Tensor)] { bufferEntries.map { ($0.name, $0.tensor) } }
    /// The direct children, in registration order.
    public var children: [(name: String, module: Module)] { childEntries }

    /// Whether the buffer `name` of this module is saved in the state dict.
    public func isPersistentBuffer(_ name: String) -> Bool {
        bufferEntries.first { $0.name == name }?.persistent ?? false
    }

    /// The descendant at a dotted path (`"features.0"`); `""` is the module itself.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var current: Module = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current.childEntries.first(where: { $0.name == part })?.module else { return nil }
            current = next
        }
        return current
    }

    /// Replaces (or adds) the descendant at a dotted path, e.g. to swap a float layer for a
    /// quantized one: `model.setModule(QuantConv2d(...), at: "features.0")`. The parent must
    /// exist; the child keeps its position in the order.
    public func setModule(_ module: Module, at path: String) {
        let (parentPath, name) = Self.splitKey(path)
        guard let parent = self.module(at: parentPath) else {
            preconditionFailure("setModule: no module at '\(parentPath)' (path '\(path)') in \(typeName)")
        }
        parent.registerModule(name, module)
    }

    /// The parameter or buffer at a dotted key (`"features.0.weight"`).
    public func tensor(at key: String) -> Tensor? {
        let (path, name) = Self.splitKey(key)
        guard let owner = module(at: path) else { return nil }
        return owner.parameterEntries.first { $0.name == name }?.tensor
            ?? owner.bufferEntries.first { $0.name == name }?.tensor
    }

    static func splitKey(_ key: String) -> (path: String, name: String) {
        guard let dot = key.lastIndex(of: ".") else { return ("", key) }
        return (String(key[..<dot]), String(key[key.index(after: dot)...]))
    }

    // MARK: Traversal

    /// This module and every descendant with its dotted path (`""` for this one), depth first in
    /// registration order. A module reachable twice is listed once.
    public func namedModules() -> [(name: String, module: Module)] {
        var result: [(name: String, module: Module)] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [(String, Module)] = [("", self)]
        while let (name, module) = stack.popLast() {
            guard seen.insert(ObjectIdentifier(module)).inserted else { continue }
            result.append((name, module))
            for (childName, child) in module.childEntries.reversed() {
                stack.append((name.isEmpty ? childName : name + "." + childName, child))
            }
        }
        return result
    }

    /// This module and all its descendants.
    public func modules() -> [Module] { namedModules().map(\.module) }

    /// Every parameter of the tree under its dotted key; a tensor shared by several modules is
    /// listed once, under its first key (as PyTorch's `named_parameters`).
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return namedModules().flatMap { prefix, module in
            module.parameterEntries.compactMap { entry in
                seen.insert(ObjectIdentifier(entry.tensor)).inserted ? (Self.join(prefix, entry.name), entry.tensor) : nil
            }
        }
    }

    /// Every parameter of the tree, for an optimizer.
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Every buffer of the tree (persistent or not) under its dotted key, each tensor once.
    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return namedModules().flatMap { prefix, module in
            module.bufferEntries.compactMap { entry in
                seen.insert(ObjectIdentifier(entry.tensor)).inserted ? (Self.join(prefix, entry.name), entry.tensor) : nil
            }
        }
    }

    /// Every buffer of the tree.
    public func buffers() -> [Tensor] { namedBuffers().map(\.tensor) }

    /// Calls `body` on every descendant and then on this module (PyTorch's `apply` order).
    public func apply(_ body: (Module) -> Void) {
        for (_, child) in childEntries { child.apply(body) }
        body(self)
    }

    static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }

    // MARK: Modes and gradients

    /// Sets training mode (`true`) or evaluation mode (`false`) on this module and every
    /// descendant, then calls ``didSetTraining(_:)`` on each.
    public func train(_ on: Bool = true) {
        for (_, module) in namedModules() {
            module.training = on
            module.didSetTraining(on)
        }
    }

    /// Evaluation mode for the whole tree: `train(false)`.
    public func eval() { train(false) }

    /// Called after ``train(_:)`` sets this module's mode; override to react (switch a statistics
    /// collector, freeze a counter). The default does nothing.
    open func didSetTraining(_ training: Bool) {}

    /// Clears the gradient of every parameter of the tree (sets it to `nil`).
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }

    // MARK: Extra state

    /// State that is not a registered tensor but belongs in the state dict (an integer counter, a
    /// phase), keyed relative to this module: `["counter": Tensor(Float(counter))]` is saved as
    /// `<path>.counter`. The default is empty.
    ///
    /// Values are `Float` tensors, so integers are exact up to 2²⁴. Keys follow the rules of
    /// parameter names and must not clash with them.
    open func extraState() -> StateDict { StateDict() }

    /// The value saved in the state dict for this module's parameter or buffer `name`; the
    /// tensor itself by default. Override to save a derived value (Brevitas's runtime-statistics
    /// scales save the collected statistic as `value` while still collecting).
    open func stateDictValue(forLocal name: String, _ tensor: Tensor) -> Tensor { tensor }

    /// Called after ``loadStateDict(_:strict:)`` with the names of this module's parameters and
    /// buffers that were loaded. The default does nothing (Brevitas's statistics collectors end
    /// collection when their learned value is loaded).
    open func didLoadState(localNames: Set<String>) {}

    /// Restores what ``extraState()`` saved. It receives only keys that ``extraState()`` currently
    /// reports, with the same shapes, after the whole state dict was validated; in non-strict mode
    /// absent keys are left out. The default does nothing.
    open func loadExtraState(_ state: StateDict) {}

    // MARK: Printing

    /// The name printed for this module; the Swift type name by default.
    open var typeName: String { String(describing: type(of: self)) }

    /// The settings printed between the parentheses, as PyTorch's `extra_repr`
    /// (`"in_features=4, out_features=2, bias=True"`). Empty by default.
    open var extraRepr: String { "" }

    /// A PyTorch-style tree, one child per line:
    /// ```
    /// Sequential(
    ///   (0): Linear(in_features=4, out_features=2, bias=True)
    ///   (1): ReLU()
    /// )
    /// ```
    open var description: String {
        let extra = extraRepr
        if childEntries.isEmpty { return "\(typeName)(\(extra))" }
        var lines = extra.isEmpty ? [] : extra.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (name, child) in childEntries {
            let text = child.description.replacingNewlines(with: "\n  ")
            lines.append("(\(name)): \(text)")
        }
        return "\(typeName)(\n" + lines.map { "  " + $0 }.joined(separator: "\n") + "\n)"
    }
}

extension String {
    func replacingNewlines(with replacement: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
