import Foundation
import TensorEngine

/// The hard-sigmoid parameterisation of learned rounding (AdaRound, arXiv:2004.10568; Brevitas
/// `LearnedRoundHardSigmoid` in `brevitas/core/function_wrapper/learned_round.py`): each weight
/// has a free parameter `v`, and its rounding offset is
///
///     h(v) = clamp(sigmoid(v) · (ζ − γ) + γ, 0, 1)          ζ = 1.1, γ = −0.1
///
/// The weight's integer code is `floor(w/s + z) + h(v)` (``LearnedRound/fakeQuantize(floorCodes:rounding:scale:zeroPoint:range:)``):
/// `h` near 0 rounds down, near 1 rounds up. Stretching the sigmoid past [0, 1] and clamping lets
/// `h` reach exactly 0 or 1 with a finite `v`. In training mode the offset is soft; in eval mode
/// (Brevitas returns `p > 0.5`) it is ``hardened(_:)`` to 0 or 1.
///
/// | v | sigmoid(v) | h(v) | hardened |
/// |---|---|---|---|
/// | −∞ … −ln 11 | ≤ 1/12 | 0 | 0 |
/// | 0 | 0.5 | 0.5 | 0 (not > 0.5) |
/// | ln 11 … +∞ | ≥ 11/12 | 1 | 1 |
///
/// The gradient is `(ζ − γ) · σ(v)(1 − σ(v))` where `0 ≤ σ(v)(ζ − γ) + γ ≤ 1` (torch.clamp passes
/// the gradient on the closed interval) and 0 outside.
///
/// ```swift
/// let hs = LearnedRoundHardSigmoid()
/// let v = hs.initialValue(fraction: Tensor([0, 0.25, 0.5]))   // h(v) == fraction
/// hs(v)            // [0, 0.25, 0.5] (differentiable)
/// hs.hardened(v)   // [0, 0, 0]
/// ```
public struct LearnedRoundHardSigmoid: Equatable, Sendable {
    /// Upper stretch of the sigmoid (`learned_round_zeta`, 1.1).
    public var zeta: Float
    /// Lower stretch of the sigmoid (`learned_round_gamma`, −0.1).
    public var gamma: Float

    public init(zeta: Float = 1.1, gamma: Float = -0.1) {
        precondition(zeta > 1 && gamma < 0, "LearnedRoundHardSigmoid: need zeta > 1 and gamma < 0 so h reaches 0 and 1, got zeta \(zeta), gamma \(gamma)")
        self.zeta = zeta
        self.gamma = gamma
    }

    /// The soft rounding offset `h(v)` in [0, 1], one fused pass, differentiable in `v`.
    public func callAsFunction(_ v: Tensor) -> Tensor {
        let span = zeta - gamma, lo = gamma
        let vd = v.detach()
        let n = vd.count
        let out = Tensor.zeros(v.shape)
        let vp = vd.storage.pointer, op = out.storage.pointer
        for i in 0..<n {
            let s = 1 / (1 + Foundation.exp(-vp[i]))
            op[i] = Swift.min(Swift.max(s * span + lo, 0), 1)
        }
        return Autograd.record("learned_round_hard_sigmoid", output: out, inputs: [v]) { g in
            precondition(g.count == n, "LearnedRoundHardSigmoid: gradient of \(g.shape) for offsets of \(vd.shape)")
                        let grad = Tensor.zeros(vd.shape)
            let gp = g.storage.pointer, dp = grad.storage.pointer
            for i in 0..<n {
                let s = 1 / (1 + Foundation.exp(-vp[i]))
                let pre = s * span + lo
                dp[i] = pre >= 0 && pre <= 1 ? gp[i] * span * s * (1 - s) : 0
            }
            return [grad]
        }
    }

    /// The eval-mode offset: 1 where `h(v) > 0.5`, else 0 (Brevitas `p > 0.5`). No gradient.
    public func hardened(_ v: Tensor) -> Tensor {
        Autograd.noGrad { self(v) }.gt(0.5)
    }

    /// The `v` whose offset is `fraction` (Brevitas `learned_round_value_init_non_linear`):
    /// `v = −log((ζ − γ) / (δ − γ) − 1)`, so that `h(v) = δ` for `δ` in [0, 1).
    public func initialValue(fraction delta: Tensor) -> Tensor {
        let span = zeta - gamma, lo = gamma
        return Tensor(shape: delta.shape, delta.scalars.map { d in -Foundation.log(span / (d - lo) - 1) })
    }
}

/// Weight fake quantization with a learned rounding offset (Brevitas `IntQuant` whose
/// `float_to_int_impl` is `LearnedRoundSte`):
///
///     y = (clamp(floor(w/s + z) + h, minInt, maxInt) − z) · s
///
/// with the straight-through clamp of weight quantizers, so `∂y/∂h = s` everywhere.
public enum LearnedRound {
    /// `floor(w/s + z)`, the integer codes rounded down, and `w/s − floor(w/s)`, the fractional
    /// part that initialises the offsets (Brevitas takes it without the zero point). Shapes:
    /// `w` any, `scale`/`zeroPoint` broadcastable to it (per tensor or per output channel).
    public static func floorCodes(_ w: Tensor, scale: Tensor, zeroPoint: Tensor) -> (codes: Tensor, fraction: Tensor) {
        Autograd.noGrad {
            let ws = w / scale
            let fraction = ws - ws.floor()
            return ((ws + zeroPoint).floor(), fraction)
        }
    }

    /// The fake-quantized weight for rounding offsets `rounding` (`h`, same shape as the codes),
    /// differentiable in `rounding`.
    public static func fakeQuantize(floorCodes: Tensor, rounding h: Tensor, scale: Tensor, zeroPoint: Tensor,
                                    range: IntRange) -> Tensor {
        precondition(floorCodes.shape == h.shape, "LearnedRound.fakeQuantize: codes \(floorCodes.shape) and offsets \(h.shape) differ")
        let b = range.bounds
        let clamped = STE.tensorClampSte(floorCodes + h, min: Tensor(b.min), max: Tensor(b.max))
        return (clamped - zeroPoint) * scale
    }
}
