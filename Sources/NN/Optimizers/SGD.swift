import TensorEngine

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay
/// (`torch.optim.SGD`, dampening 0).
///
/// For each parameter `p` with gradient `g`:
/// ```
/// g ← g + weightDecay · p
/// b ← g on the first step, else momentum · b + g      (when momentum ≠ 0)
/// g ← g + momentum · b  (Nesterov)  or  g ← b
/// p ← p − learningRate · g
/// ```
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private var momentumBuffers: [Tensor?]

    /// - Parameters:
    ///   - parameters: the tensors to update (usually `model.parameters()`).
    ///   - learningRate: step size, > 0.
    ///   - momentum: momentum factor in `[0, 1)`; 0 for plain SGD.
    ///   - nesterov: Nesterov momentum (needs `momentum > 0`).
    ///   - weightDecay: L2 penalty added to the gradient, ≥ 0.
    public init(
        _ parameters: [Tensor], learningRate: Float, momentum: Float = 0, nesterov: Bool = false,
        weightDecay: Float = 0
    ) {
        checkHyper(learningRate > 0, "SGD: learningRate must be > 0, got \(learningRate)")
        checkHyper(momentum >= 0 && momentum < 1, "SGD: momentum must be in [0, 1), got \(momentum)")
        checkHyper(weightDecay >= 0, "SGD: weightDecay must be >= 0, got \(weightDecay)")
        checkHyper(!nesterov || momentum > 0, "SGD: nesterov needs momentum > 0")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    /// Each `a + α·b` above is one fused multiply-add with one rounding, as PyTorch's CPU kernel
    /// for `add(b, alpha=α)` computes it; the momentum decay `momentum · b` is rounded on its own
    /// (`mul_`, then `add_`). Plain SGD therefore reproduces `torch.optim.SGD` bit for bit.
    public func step() {
        let lr = learningRate, mu = momentum, wd = weightDecay
        for (i, p) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            let pp = p.storage.pointer, gp = grad.storage.pointer
            let n = p.count
            precondition(grad.count == n, "SGD: gradient of shape \(grad.shape) for a parameter of shape \(p.shape)")
            if wd == 0 && mu == 0 {
                for j in 0..<n { pp[j] = pp[j].addingProduct(-lr, gp[j]) }
                continue
            }
            var d = [Float](repeating: 0, count: n)
            for j in 0..<n { d[j] = wd != 0 ? gp[j].addingProduct(wd, pp[j]) : gp[j] }
            if mu != 0 {
                if let buffer = momentumBuffers[i] {
                    let bp = buffer.storage.pointer
                    for j in 0..<n { bp[j] = bp[j] * mu + d[j] }
                } else {
                    momentumBuffers[i] = Tensor(shape: p.shape, d)
                }
                let bp = momentumBuffers[i]!.storage.pointer
                for j in 0..<n { d[j] = nesterov ? d[j].addingProduct(mu, bp[j]) : bp[j] }
            }
            for j in 0..<n { pp[j] = pp[j].addingProduct(-lr, d[j]) }
        }
    }
}
