#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import TensorEngine

/// Adam (`torch.optim.Adam`, amsgrad off): adaptive moments with bias correction and optional L2
/// weight decay added to the gradient.
///
/// At step `t` for a parameter `p` with gradient `g`:
/// ```
/// g ← g + weightDecay · p
/// m ← m + (1 − β₁)(g − m)
/// v ← β₂ v + (1 − β₂) g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
/// ``AdamW`` decouples the weight decay instead.
public class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    /// Number of steps taken.
    public private(set) var stepCount = 0
    let decoupledWeightDecay: Bool
    private var firstMoments: [Tensor?]
    private var secondMoments: [Tensor?]

    /// - Parameters:
    ///   - parameters: the tensors to update.
    ///   - learningRate: step size, > 0 (default 0.001).
    ///   - betas: decay rates of the first and second moment estimates, each in `[0, 1)`.
    ///   - epsilon: added to the denominator for stability.
    ///   - weightDecay: L2 penalty added to the gradient, ≥ 0.
    public convenience init(
        _ parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
        epsilon: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.init(parameters, learningRate, betas, epsilon, weightDecay, decoupled: false)
    }

    init(
        _ parameters: [Tensor], _ learningRate: Float, _ betas: (Float, Float), _ epsilon: Float,
        _ weightDecay: Float, decoupled: Bool
    ) {
        let name = decoupled ? "AdamW" : "Adam"
        checkHyper(learningRate > 0, "\(name): learningRate must be > 0, got \(learningRate)")
        checkHyper(betas.0 >= 0 && betas.0 < 1 && betas.1 >= 0 && betas.1 < 1, "\(name): betas must be in [0, 1), got \(betas)")
        checkHyper(epsilon >= 0, "\(name): epsilon must be >= 0, got \(epsilon)")
        checkHyper(weightDecay >= 0, "\(name): weightDecay must be >= 0, got \(weightDecay)")
        self.parameters = parameters
        self.learningRate = learningRate
        (beta1, beta2) = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        decoupledWeightDecay = decoupled
        firstMoments = Array(repeating: nil, count: parameters.count)
        secondMoments = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        stepCount += 1
        let t = Double(stepCount)
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay
        let stepSize = Float(Double(lr) / (1 - pow(Double(b1), t)))
        let correction2Sqrt = Float((1 - pow(Double(b2), t)).squareRoot())
        let decay: Float = decoupledWeightDecay ? 1 - lr * wd : 1
        for (i, p) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            if firstMoments[i] == nil {
                firstMoments[i] = Tensor.zeros(p.shape)
                secondMoments[i] = Tensor.zeros(p.shape)
            }
            let pp = p.storage.pointer, gp = grad.storage.pointer
            let mp = firstMoments[i]!.storage.pointer, vp = secondMoments[i]!.storage.pointer
            let l2 = decoupledWeightDecay ? 0 : wd
            for j in 0..<p.count {
                if decoupledWeightDecay && wd != 0 { pp[j] *= decay }
                let g = l2 != 0 ? gp[j] + l2 * pp[j] : gp[j]
                mp[j] += (1 - b1) * (g - mp[j])
                vp[j] = vp[j] * b2 + (1 - b2) * g * g
                let denom = vp[j].squareRoot() / correction2Sqrt + eps
                pp[j] += -stepSize * (mp[j] / denom)
            }
        }
    }
}

/// Adam with decoupled weight decay (`torch.optim.AdamW`): before the Adam update,
/// `p ← p · (1 − learningRate · weightDecay)`; the gradient is not changed.
public final class AdamW: Adam {
    /// - Parameters: as ``Adam``, with PyTorch's default `weightDecay` of 0.01.
    public init(
        _ parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
        epsilon: Float = 1e-8, weightDecay: Float = 0.01
    ) {
        super.init(parameters, learningRate, betas, epsilon, weightDecay, decoupled: true)
    }
}
