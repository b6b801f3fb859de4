import Foundation

/// Pointwise activations of ONNX and PyTorch beyond the basic ones, each with its gradient.
///
/// | op | forward | gradient |
/// |---|---|---|
/// | `erf` | `erf(x)` | `2/√π · exp(-x²)` |
/// | `leakyRelu(α)` | `x > 0 ? x : α·x` | `x > 0 ? 1 : α` |
/// | `elu(α)` | `x > 0 ? x : α·(eˣ - 1)` | `x > 0 ? 1 : y + α` |
/// | `hardSigmoid(α, β)` | `clamp(α·x + β, 0, 1)` | `α` strictly inside (0, 1), else 0 |
/// | `hardSwish` | `x · clamp(x/6 + 1/2, 0, 1)` | `0` below -3, `1` above 3, `x/3 + 1/2` between |
///
/// `hardSigmoid` takes ONNX's parameters (defaults α = 0.2, β = 0.5); PyTorch's `Hardsigmoid` is
/// α = 1/6, β = 1/2. At the kinks the gradient is that of the left side, as in PyTorch
/// (`leakyRelu` and `elu` take the `x ≤ 0` branch at 0; `hardSwish` at ±3 uses the middle
/// formula).
extension Tensor {
    /// The Gauss error function, `erf(x) = 2/√π ∫₀ˣ e^(-t²) dt` (GELU is `x · (1 + erf(x/√2)) / 2`).
    public func erf() -> Tensor {
        unary("erf", { Foundation.erf($0) }, grad: { x, _ in 1.1283791670955126 * Foundation.exp(-x * x) })
    }

    /// `x > 0 ? x : negativeSlope · x` (`torch.nn.LeakyReLU`, ONNX `LeakyRelu`).
    public func leakyRelu(negativeSlope: Float = 0.01) -> Tensor {
        unary("leaky_relu", { $0 > 0 ? $0 : negativeSlope * $0 }, grad: { x, _ in x > 0 ? 1 : negativeSlope })
    }

    /// `x > 0 ? x : alpha · (exp(x) - 1)` (`torch.nn.ELU`, ONNX `Elu`).
    public func elu(alpha: Float = 1) -> Tensor {
        unary("elu", { $0 > 0 ? $0 : alpha * (Foundation.exp($0) - 1) }, grad: { x, y in x > 0 ? 1 : y + alpha })
    }

    /// `clamp(alpha · x + beta, 0, 1)` (ONNX `HardSigmoid`; PyTorch's is alpha 1/6, beta 1/2).
    public func hardSigmoid(alpha: Float = 0.2, beta: Float = 0.5) -> Tensor {
        unary("hard_sigmoid", { Swift.min(Swift.max(alpha * $0 + beta, 0), 1) }, grad: { x, _ in
            let v = alpha * x + beta
            return v > 0 && v < 1 ? alpha : 0
        })
    }

    /// `x · clamp(x/6 + 1/2, 0, 1)` (`torch.nn.Hardswish`, ONNX `HardSwish`).
    public func hardSwish() -> Tensor {
        unary("hardswish", { x in x * Swift.min(Swift.max(x / 6 + 0.5, 0), 1) }, grad: { x, _ in
            x < -3 ? 0 : (x > 3 ? 1 : x / 3 + 0.5)
        })
    }
}
