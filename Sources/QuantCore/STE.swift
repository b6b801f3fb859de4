import TensorEngine

/// Straight-through estimators and clamps of Brevitas's `brevitas.function` /
/// `brevitas.ops.autograd_ste_ops`.
///
/// | function | forward | backward |
/// |---|---|---|
/// | `roundSte` | half-to-even round (`torch.round`) | identity |
/// | `ceilSte` / `floorSte` | ceil / floor | identity |
/// | `tensorClamp` | `where(x > max, max, where(x < min, min, x))` | routed: x gets G only where not clipped, the bounds where they were selected |
/// | `tensorClampSte` | same | identity to x |
/// | `scalarClampMinSte` | `max(x, min)` | identity |
/// | `absBinarySignGrad` | `|x|` | `G · sign(x)` with sign(0) = +1 |
public enum STE {
    /// Half-to-even rounding with an identity gradient.
    public static func roundSte(_ x: Tensor) -> Tensor {
        Tensor.custom("round_ste", inputs: [x], forward: { x.rounded() }, backward: { g in [g] })
    }

    /// Ceil with an identity gradient.
    public static func ceilSte(_ x: Tensor) -> Tensor {
        Tensor.custom("ceil_ste", inputs: [x], forward: { x.ceil() }, backward: { g in [g] })
    }

    /// Floor with an identity gradient.
    public static func floorSte(_ x: Tensor) -> Tensor {
        Tensor.custom("floor_ste", inputs: [x], forward: { x.floor() }, backward: { g in [g] })
    }

    /// `sign(x)·floor(|x|)` with an identity gradient (Brevitas `round_to_zero_ste`).
    public static func roundTowardZeroSte(_ x: Tensor) -> Tensor {
        Tensor.custom("round_to_zero_ste", inputs: [x], forward: { x.sign() * x.abs().floor() }, backward: { g in [g] })
    }

    /// Brevitas `tensor_clamp`: a select, so clipped elements pass no gradient to `x`.
    public static func tensorClamp(_ x: Tensor, min lo: Tensor, max hi: Tensor) -> Tensor {
        let upper = Tensor.where(x.gt(hi), hi, x)
        return Tensor.where(upper.lt(lo), lo, upper)
    }

    /// Clamp with an identity gradient to `x` (Brevitas `tensor_clamp_ste`).
    public static func tensorClampSte(_ x: Tensor, min lo: Tensor, max hi: Tensor) -> Tensor {
        Tensor.custom("tensor_clamp_ste", inputs: [x], forward: { tensorClamp(x, min: lo, max: hi) },
                      backward: { g in [g] })
    }

    /// `max(x, minVal)` with an identity gradient (Brevitas `scalar_clamp_min_ste`).
    public static func scalarClampMinSte(_ x: Tensor, min minVal: Float) -> Tensor {
        Tensor.custom("scalar_clamp_min_ste", inputs: [x], forward: { x.clamp(min: minVal) },
                      backward: { g in [g] })
    }

    /// `|x|` whose gradient is `G · sign(x)` with sign(0) = +1 (Brevitas `abs_binary_sign_grad`).
    public static func absBinarySignGrad(_ x: Tensor) -> Tensor {
        let dx = x.detach()
        return Tensor.custom("abs_binary_sign_grad", inputs: [x], forward: { x.abs() }, backward: { g in
            [g * dx.lt(0) * -2 + g]
        })
    }
}
