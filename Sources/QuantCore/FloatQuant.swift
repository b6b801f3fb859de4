import NN
import TensorEngine

/// Minifloat quantization with a scale (Brevitas `FloatQuant` with `FloatClamp` and, for the
/// scaled quantizers, `FloatScaling`):
///
///     M = format.maxValue;  s = scaling(x, threshold: M)   (unscaled quantizers: s = 1)
///     y = MinifloatQuantize(x / s) · s
///
/// The module tree and constant buffers mirror Brevitas 0.13.4 key for key, so state dicts
/// match: `exponent_bit_width_impl.bit_width.value`, `mantissa_bit_width_impl.bit_width.value`,
/// `exponent_bias_impl.exponent_bias.value`, `zero_point_impl.value` (0),
/// `compute_max_mantissa.compute_max_mantissa.value` (`2 − 2^−m`), and
/// `float_clamp_impl.max_available_float.value` / `float_scaling_impl.max_available_float.value`
/// (`M`) where Brevitas declares them (OCP, not FNUZ).
///
/// ```swift
/// let q = FloatQuant(format: .ocp(exponentBitWidth: 4, mantissaBitWidth: 3),
///                    scaling: ConstScaling(range: 1, restrict: .float), scaled: false,
///                    declaresMaxAvailableFloat: true)
/// q(Tensor([1.1, 500])).value.scalars   // [1.125, 448]
/// ```
public final class FloatQuant: Module, TensorQuantizer {
    public let format: MinifloatFormat
    public let scaling: ScalingImpl
    /// Whether the scale divides the range by `M` (`FloatScaling`); unscaled quantizers use a
    /// constant scale of 1 and no threshold.
    public let scaled: Bool
    let zero = StatelessBuffer(0)
    let bitWidthBuffer: StatelessBuffer

    /// - Parameter declaresMaxAvailableFloat: whether Brevitas's quantizer declares
    ///   `max_available_float` (OCP ones do, FNUZ and plain ones do not): only the buffers differ.
    /// The group layout of a group-wise quantizer (MX): the scaling receives the grouped view
    /// (`GroupView`) and returns one scale per group; the output scale has the input's shape.
    public let group: GroupLayout?

    public init(format: MinifloatFormat, scaling: ScalingImpl, scaled: Bool, declaresMaxAvailableFloat: Bool,
                group: GroupLayout? = nil) {
        self.group = group
        self.format = format
        self.scaling = scaling
        self.scaled = scaled
        bitWidthBuffer = StatelessBuffer(Float(format.bitWidth))
        super.init()
        registerModule("input_view_impl", DescriptiveNode("Identity"))
        registerModule("float_to_int_impl", DescriptiveNode("RoundSte"))
        registerModule("exponent_bit_width_impl", BitWidthConst(format.exponentBitWidth))
        registerModule("mantissa_bit_width_impl", BitWidthConst(format.mantissaBitWidth))
        let bias = DescriptiveNode("ExponentBiasConst")
        bias.registerModule("exponent_bias", StatelessBuffer(Float(format.exponentBias)))
        registerModule("exponent_bias_impl", bias)
        registerModule("zero_point_impl", zero)
        if scaled {
            let fs = DescriptiveNode("FloatScaling")
            if declaresMaxAvailableFloat { fs.registerModule("max_available_float", StatelessBuffer(format.maxValue)) }
            registerModule("float_scaling_impl", fs)
        }
        registerModule("scaling_impl", scaling)
        let clamp = DescriptiveNode("FloatClamp", "saturating=\(format.saturating ? "True" : "False")")
        clamp.registerModule("tensor_clamp_impl", DescriptiveNode("TensorClamp"))
        if declaresMaxAvailableFloat { clamp.registerModule("max_available_float", StatelessBuffer(format.maxValue)) }
        registerModule("float_clamp_impl", clamp)
        let mm = DescriptiveNode("ComputeMaxMantissa")
        mm.registerModule("compute_max_mantissa", StatelessBuffer(format.maxMantissa))
        registerModule("compute_max_mantissa", mm)
    }

    public var isSigned: Bool { true }

    public func callAsFunction(_ x: Tensor) -> QuantOutput {
        if let group {
            let v = GroupView(shape: x.shape, layout: group)
            let xp = v.pad(x)
            let s = scaling(xp.reshape(v.groupedShape), threshold: Tensor(format.maxValue))
            let full = v.expand(s)
            let y = v.inner == 1
                ? v.unpad(MinifloatQuantize.apply(xp.reshape([v.outer * v.groups, v.groupSize]), scale: s.reshape([v.outer * v.groups, 1]), format: format).reshape(v.paddedShape))
                : MinifloatQuantize.apply(x, scale: full, format: format)
            return QuantOutput(value: y, scale: full, zeroPoint: zero.value, bitWidth: bitWidthBuffer.value, minifloat: format, group: group)
        }
        // Unscaled quantizers divide their constant 1 by Brevitas's default threshold
        // `torch.ones(1)`, so the scale has shape [1].
        let s = scaling(x, threshold: scaled ? Tensor(format.maxValue) : Tensor(shape: [1], [1]))
        let y = MinifloatQuantize.apply(x, scale: s, format: format)
        return QuantOutput(value: y, scale: s, zeroPoint: zero.value, bitWidth: bitWidthBuffer.value, minifloat: format)
    }
}
