#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The backward rule of one recorded operation: given the gradient of the loss with respect to
/// the operation's output, return the gradient with respect to each input (`nil` where an input
/// receives none).
public final class GradFunction {
    /// Operation name, for debugging (`"mul"`, `"conv2d"`, ...).
    public let name: String
    /// The inputs the operation was applied to, in the order `backward` returns gradients.
    public private(set) var inputs: [Tensor]
    private(set) var backward: (Tensor) -> [Tensor?]
    /// Set once a `backward()` without `retainGraph` has run through this node.
    public private(set) var isReleased = false

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }

    /// Drops the references to inputs and saved tensors (after a backward pass).
    func release() {
        isReleased = true
        inputs = []
        backward = { _ in [] }
    }
}

/// Global switches of the autograd tape.
public enum Autograd {
    /// Per-thread recording switch: the thread-specific value is non-nil while recording is off,
    /// so concurrent tasks (and test cases) cannot switch each other's tape off.
    static let disabledKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    static let offMarker = UnsafeMutableRawPointer(bitPattern: 1)!

    static var enabled: Bool {
        get { pthread_getspecific(disabledKey) == nil }
        set { pthread_setspecific(disabledKey, newValue ? nil : offMarker) }
    }

    /// Whether operations are currently recorded for differentiation.
    public static var isEnabled: Bool { enabled }

    /// Runs `body` without recording operations (`torch.no_grad()`).
    @discardableResult
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        let saved = enabled
        enabled = false
        defer { enabled = saved }
        return try body()
    }

    /// Runs `body` with recording forced on or off (`torch.set_grad_enabled`).
    @discardableResult
    public static func withGradEnabled<R>(_ on: Bool, _ body: () throws -> R) rethrows -> R {
        let saved = enabled
        enabled = on
        defer { enabled = saved }
        return try body()
    }

    /// Whether an operation on `inputs` must be recorded.
    @inline(__always) static func needsRecording(_ inputs: [Tensor]) -> Bool {
        enabled && inputs.contains { $0.requiresGrad }
    }

    /// Attaches a backward rule to `output` if gradient tracking is on and any input requires a
    /// gradient. Returns `output`.
    @discardableResult
    public static func record(
        _ name: String, output: Tensor, inputs: [Tensor],
        backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard needsRecording(inputs) else { return output }
        output.requiresGrad = true
        output.gradFn = GradFunction(name: name, inputs: inputs, backward: backward)
        return output
    }
}

extension Tensor {
    /// Defines a differentiable operation with a hand-written backward rule, like
    /// `torch.autograd.Function`. The forward runs without recording; `backward` receives the
    /// gradient of the output and returns one gradient (or `nil`) per input.
    ///
    /// The straight-through estimators of quantization are built on this:
    /// ```swift
    /// let y = Tensor.custom("round_ste", inputs: [x], forward: { x.rounded() },
    ///                       backward: { g in [g] })
    /// ```
    public static func custom(
        _ name: String, inputs: [Tensor], forward: () -> Tensor,
        backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        let out = Autograd.noGrad { forward() }
        let result = out.gradFn == nil ? out : out.detach()
        return Autograd.record(name, output: result, inputs: inputs, backward: backward)
    }

    /// Back-propagates from this tensor: accumulates `d(self · gradient)/d(leaf)` into the `grad`
    /// of every leaf that requires a gradient. `gradient` defaults to 1 for one-element tensors.
    ///
    /// The traversal is iterative, so arbitrarily deep graphs do not overflow the stack.
    ///
    /// Unless `retainGraph` is true, the graph is released afterwards (saved tensors freed, so
    /// memory returns at once and deep graphs are torn down without recursion); a second
    /// backward through it stops with a message.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        let seed: Tensor
        if let gradient {
            precondition(
                gradient.shape == shape,
                "backward: gradient shape \(gradient.shape) does not match tensor shape \(shape)")
            seed = gradient
        } else {
            precondition(count == 1, "backward: gradient can be implicit only for one-element tensors, shape is \(shape)")
            seed = Tensor(repeating: 1, shape: shape)
        }
        guard requiresGrad else { return }
        let order = topologicalOrder()
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        Autograd.noGrad {
            for node in order.reversed() {
                guard var g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                guard let fn = node.gradFn else {
                    if node.requiresGrad {
                        if let existing = node.grad {
                            node.grad = existing + g
                        } else if isKnownUniquelyReferenced(&g) && g.hasUniqueStorage() && !g.requiresGrad {
                            // Nothing else can see this gradient (not the caller's seed, not a
                            // tensor a backward rule kept or passed to another input): the leaf
                            // takes it, one pass over memory less than copying.
                            node.grad = g
                        } else {
                            node.grad = g.copy()
                        }
                    }
                    continue
                }
                precondition(!fn.isReleased, "backward through the graph of '\(fn.name)' a second time: pass retainGraph: true to the first backward")
                let inputGrads = fn.backward(g)
                precondition(inputGrads.count == fn.inputs.count, "backward of \(fn.name) returned \(inputGrads.count) gradients for \(fn.inputs.count) inputs")
                for (input, ig) in zip(fn.inputs, inputGrads) {
                    guard input.requiresGrad, let ig else { continue }
                    precondition(ig.shape == input.shape, "backward of \(fn.name): gradient shape \(ig.shape) does not match input shape \(input.shape)")
                    let key = ObjectIdentifier(input)
                    if let prev = grads[key] { grads[key] = prev + ig } else { grads[key] = ig }
                }
            }
        }
        if !retainGraph { for node in order { node.gradFn?.release() } }
    }

    /// Post-order of the graph reachable from `self` (inputs before the operations using them).
    func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded {
                order.append(node)
                continue
            }
            let id = ObjectIdentifier(node)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((node, true))
            if let fn = node.gradFn {
                for input in fn.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        return order
    }

    /// Resets the accumulated gradient.
    public func zeroGrad() { grad = nil }
}
