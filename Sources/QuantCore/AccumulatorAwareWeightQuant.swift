import Foundation
import NN
import TensorEngine

/// Accumulator-aware weight quantization (Brevitas `DecoupledRescalingIntQuantWithInput` with
/// `AccumulatorAwareParameterPreScaling`, A2Q, or `AccumulatorAwareZeroCenterParameterPreScaling`
/// with `PreZeroCenterZeroPoint`, A2Q+): per output channel `c` the integer weights are bounded
/// in ℓ1 norm so that a `P`-bit accumulator never overflows for any `N`-bit input.
///
/// Parameters, per channel, in the log2 domain (used as `2^value`):
/// `scaling_impl.value` = log2 s (post-clipping scale), `pre_scaling_impl.scaling_impl.value` =
/// log2 s' (its own copy inside the pre-scale), `pre_scaling_impl.value` = log2 g (the norm).
///
/// ```
/// V_c = W_c                         (A2Q)       V_c = W_c − mean(W_c)          (A2Q+)
/// T   = (2^(P−1) − 1)·2^(sgn − N)   (A2Q)       T   = (2^P − 2) / (2^N − 1)    (A2Q+)
/// pre = max(‖V_c‖₁ / min(g / s', T), 1e−10)
/// q   = clamp(round_toward_zero(V_c / pre), −(2^(b−1)−1), 2^(b−1)−1)      y = q · s
/// ```
/// Rounding toward zero keeps `‖q‖₁ ≤ T`. Gradients: straight through the rounding, zero for
/// clamped elements (`TensorClamp`), through `‖V_c‖₁` (and the mean) to the weight; `g` and `s'`
/// receive a gradient only where `g / s' < T`.
public final class AccumulatorAwareWeightQuant: Module {
    /// Whether the weights are zero-centred first (A2Q+).
    public let zeroCenter: Bool
    public let bitWidth: Int
    /// `[C, 1, …]`: one value per output channel of a weight of the given shape.
    public let channelShape: [Int]
    public let scalingValue: Tensor
    public let preScalingValue: Tensor
    public let preScalingScaleValue: Tensor
    let accumulatorBits: Tensor
    static let minVal: Float = 1e-10

    /// - Parameters:
    ///   - weight: the weight the quantizer tracks (initialises the parameters: `s = s' =
    ///     max|W_c| / (2^(b−1) − 1)`, `g = ‖V_c‖₁`).
    ///   - accumulatorBitWidth: `P`.
    public init(weight: Tensor, accumulatorBitWidth: Int, zeroCenter: Bool, bitWidth: Int = 8) {
        precondition(weight.rank >= 2, "AccumulatorAwareWeightQuant: weight must be [out, in, ...], got \(weight.shape)")
        self.zeroCenter = zeroCenter
        self.bitWidth = bitWidth
        channelShape = [weight.shape[0]] + [Int](repeating: 1, count: weight.rank - 1)
        let reduce = Array(1..<weight.rank)
        let (s, g): (Tensor, Tensor) = Autograd.noGrad {
            let maxAbs = weight.abs().amax(dims: reduce, keepDim: true)
            let v = zeroCenter ? weight - weight.mean(dims: reduce, keepDim: true) : weight
            return (maxAbs / Float((1 << (bitWidth - 1)) - 1), v.abs().sum(dims: reduce, keepDim: true))
        }
        scalingValue = Autograd.noGrad { s.clamp(min: Self.minVal).log2() }.copy()
        preScalingScaleValue = scalingValue.copy()
        preScalingValue = Autograd.noGrad { g.clamp(min: Self.minVal).log2() }.copy()
        accumulatorBits = Tensor(Float(accumulatorBitWidth))
        super.init()
        let scaling = Module()
        scaling.registerParameter("value", scalingValue)
        let pre = Module()
        pre.registerParameter("value", preScalingValue)
        let preScaling = Module()
        preScaling.registerParameter("value", preScalingScaleValue)
        pre.registerModule("scaling_impl", preScaling)
        let acc = Module()
        acc.registerBuffer("bit_width", accumulatorBits)
        pre.registerModule("accumulator_bit_width", acc)
        let intScaling = Module()
        intScaling.registerModule("const", StatelessBuffer(1))
        registerModule("scaling_impl", scaling)
        registerModule("pre_scaling_impl", pre)
        registerModule("int_scaling_impl", intScaling)
        if !zeroCenter { registerModule("pre_zero_point_impl", ZeroZeroPoint()) }
        registerModule("zero_point_impl", ZeroZeroPoint())
        registerModule("msb_clamp_bit_width_impl", BitWidthConst(bitWidth))
    }

    public override var typeName: String { "DecoupledRescalingIntQuantWithInput" }

    /// `P`, as stored (a loaded state may change it).
    public var accumulatorBitWidth: Int { Int(accumulatorBits.item()) }

    /// The ℓ1 bound `T` on each channel's integer weights for `inputBitWidth`-bit inputs.
    public func l1Bound(inputBitWidth n: Double, inputSigned: Bool) -> Double {
        let p = Double(accumulatorBitWidth)
        if zeroCenter { return (pow(2, p) - 2) / (pow(2, n) - 1) }
        return (pow(2, p - 1) - 1) * pow(2, (inputSigned ? 1 : 0) - n)
    }

    /// The quantized weight for an input of `inputBitWidth` bits and sign `inputSigned`.
    public func quantize(_ w: Tensor, inputBitWidth: Double, inputSigned: Bool) -> QuantOutput {
        precondition(w.rank == channelShape.count && w.shape[0] == channelShape[0],
                     "AccumulatorAwareWeightQuant: weight \(w.shape) does not match the tracked channels \(channelShape)")
        let reduce = Array(1..<w.rank)
        let t = Float(l1Bound(inputBitWidth: inputBitWidth, inputSigned: inputSigned))
        let v = zeroCenter ? w - w.mean(dims: reduce, keepDim: true) : w
        let d = v.abs().sum(dims: reduce, keepDim: true)
        let s = STE.scalarClampMinSte(scalingValue.exp2(), min: Self.minVal)
        let sPre = STE.scalarClampMinSte(preScalingScaleValue.exp2(), min: Self.minVal)
        let g = STE.scalarClampMinSte(preScalingValue.exp2(), min: Self.minVal)
        let pre = STE.scalarClampMinSte(d / (g / sPre).clamp(max: t), min: Self.minVal)
        let maxInt = Float((1 << (bitWidth - 1)) - 1)
        let q = STE.tensorClamp(STE.roundTowardZeroSte(v / pre), min: Tensor(-maxInt), max: Tensor(maxInt))
        return QuantOutput(value: q * s, scale: s, zeroPoint: Tensor(0), bitWidth: Tensor(Float(bitWidth)))
    }
}
