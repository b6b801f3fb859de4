import NN
import TensorEngine

/// ±scale quantization (Brevitas `BinaryQuant` / `ClampedBinaryQuant`): `y = sign(x)·s` with
/// sign(0) = +1 and a straight-through gradient; with `clamp`, x is first clamped to [−s, s] so
/// elements outside get no gradient.
public final class BinaryQuant: Module, TensorQuantizer {
    public let scaling: ScalingImpl
    public let clamp: Bool
    let bitWidth = BitWidthConst(1)
    let zero = StatelessBuffer(0)

    public init(scaling: ScalingImpl, clamp: Bool) {
        self.scaling = scaling
        self.clamp = clamp
        super.init()
        registerModule("scaling_impl", scaling)
        registerModule("bit_width_impl", bitWidth)
        registerModule("zero_point", zero)
    }

    public var isSigned: Bool { true }

    public func callAsFunction(_ x: Tensor) -> QuantOutput {
        let s = scaling(x, threshold: Tensor(1))
        let xc = clamp ? STE.tensorClamp(x, min: -s, max: s) : x
        let sign = Tensor.custom("binary_sign_ste", inputs: [xc], forward: {
            Tensor.where(xc.ge(Tensor(0)), Tensor(1), Tensor(-1)).reshape(xc.shape) * 1
        }, backward: { g in [g] })
        return QuantOutput(value: sign * s, scale: s, zeroPoint: zero.value, bitWidth: bitWidth())
    }
}

/// {−s, 0, +s} quantization (Brevitas `TernaryQuant`): `y = sign(x)·s` where `|x| ≥ t·s`, else 0,
/// with a straight-through gradient.
public final class TernaryQuant: Module, TensorQuantizer {
    public let scaling: ScalingImpl
    public let threshold: Float
    let bitWidth = BitWidthConst(2)
    let zero = StatelessBuffer(0)

    public init(scaling: ScalingImpl, threshold: Float) {
        self.scaling = scaling
        self.threshold = threshold
        super.init()
        registerModule("scaling_impl", scaling)
        registerModule("bit_width_impl", bitWidth)
        registerModule("zero_point", zero)
    }

    public var isSigned: Bool { true }

    public func callAsFunction(_ x: Tensor) -> QuantOutput {
        let s = scaling(x, threshold: Tensor(1))
        let t = (s * threshold).detach()
        let q = Tensor.custom("ternary_sign_ste", inputs: [x], forward: {
            x.sign() * x.abs().ge(t)
        }, backward: { g in [g] })
        return QuantOutput(value: q * s, scale: s, zeroPoint: zero.value, bitWidth: bitWidth())
    }
}
