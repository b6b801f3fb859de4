import NN
import TensorEngine

/// A learned zero point initialised from a value (Brevitas `ParameterZeroPoint`):
///
///     z = scaleShift(abs_binary_sign_grad(value), s, b)
///
/// `value` (state-dict key `zero_point_impl.value`, shape of the scale) is the zero point in the
/// units of the input, starting at `zero_point_init`; with the quantized shift its integer zero
/// point is `clamp(round(|value| / s + minInt(b)), minInt(b), maxInt(b))`.
///
/// ```swift
/// let zp = ParameterZeroPoint(initial: 0.3, shape: [], scaleShift: shift)  // z = round(0.3 / s)
/// ```
public final class ParameterZeroPoint: Module, ZeroPointImpl {
    /// The learned float zero point.
    public let value: Tensor
    public let scaleShift: ScaleShiftZeroPoint

    public init(initial: Float, shape: [Int], scaleShift: ScaleShiftZeroPoint) {
        value = Tensor(repeating: initial, shape: shape)
        self.scaleShift = scaleShift
        super.init()
        registerParameter("value", value)
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        scaleShift(STE.absBinarySignGrad(value), scale: scale, bitWidth: bitWidth)
    }

    public var readsInput: Bool { false }
}

/// A zero point recomputed from the tensor at every call (Brevitas `StatsFromParameterZeroPoint`,
/// weights), with gradient through the statistic:
///
///     z = scaleShift(−stat(view(W)), s, b)
///
/// With `NegativeMinOrZero` (Brevitas's `ShiftedMinUintQuant`) the shift is `−min(min(W), 0)`, so
/// an unsigned code 0 lands on the most negative weight. Per channel the statistic is taken over
/// each output channel and reshaped to `shape` (e.g. `[C, 1, 1, 1]`).
public final class StatsFromParameterZeroPoint: Module, ZeroPointImpl {
    let statsImpl: StatsOpModule
    public let view: StatsView
    public let scaleShift: ScaleShiftZeroPoint
    let shape: [Int]

    public init(stats: StatsOpModule, view: StatsView, shape: [Int], scaleShift: ScaleShiftZeroPoint) {
        statsImpl = stats
        self.view = view
        self.shape = shape
        self.scaleShift = scaleShift
        super.init()
        registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: stats, view: view.descriptiveNode))
        registerModule("affine_rescaling", DescriptiveNode("Identity"))
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        let stats = statsImpl(view.apply(x)).reshape(shape)
        return scaleShift(-stats, scale: scale, bitWidth: bitWidth)
    }

    public var readsInput: Bool { true }
}
