import NN
import TensorEngine

/// A scale computed from the statistics of the current input at every call, training and eval
/// alike, with no state (Brevitas `RuntimeDynamicStatsScaling`, the `*DynamicAct*` presets of
/// `brevitas_examples.common.generative.quantizers`):
///
///     s = clampMin(restrict(pre(stat(view(x))))) / restrict(pre(threshold))
///
/// The gradient flows through the statistic into `x` (nothing is detached). Example:
/// `Int8DynamicActPerTensorFloat` on `x = [0.5, -2, 1]` gives `s = 2 / 128`, and a second call
/// on `[4, 0, 0]` gives `4 / 128`: the first input is forgotten.
///
/// `scalingShape` is `[]` per tensor. Per row (`perRow`, Brevitas `OverOutputFeaturesView` with the
/// `dynamic_scaling_broadcastable_fn` that `brevitas_examples`' `quantize` injects) the input is
/// viewed as rows of its last dimension, `[N / F, F]`, and the scale has the input's shape with
/// the last dimension 1: `x` of shape `[2, 3, 8]` gets a `[2, 3, 1]` scale. The clamp (`scaling_min_val`) comes after `restrict`, as in
/// Brevitas's `_RestrictClampValue`, so an all-zero input gets `scalingMinVal / threshold`.
public final class RuntimeDynamicStatsScaling: Module, ScalingImpl {
    let statsImpl: StatsOpModule
    public let view: StatsView
    public let restrict: Restrict
    public let scalingMinVal: Float?
    let scalingShape: [Int]
    public let perRow: Bool

    public init(stats: StatsOpModule, view: StatsView, scalingShape: [Int], restrict: Restrict, scalingMinVal: Float?, perRow: Bool = false) {
        statsImpl = stats
        self.view = view
        self.restrict = restrict
        self.scalingMinVal = scalingMinVal
        self.scalingShape = scalingShape
        self.perRow = perRow
        super.init()
        // Brevitas 0.13.4's layout (brevitas_examples.common.generative.quant_blocks).
        registerModule("scaling_stats_input_view_shape_impl", perRow ? DescriptiveNode("OverOutputFeaturesView") : view.descriptiveNode)
        registerModule("stats_impl", stats)
        let rc = DescriptiveNode("_RestrictClampValue")
        if let v = scalingMinVal, v != 0 { rc.registerModule("clamp_ste", DescriptiveNode("ScalarSignedClampMinSte", "min_val=\(v)")) }
        rc.registerModule("restrict_value_impl", DescriptiveNode(restrict.typeName))
        registerModule("restrict_clamp_scaling", rc)
    }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        let t = restrict.restrict(restrict.pre(threshold))
        let stat = dynamicStatistic(statsImpl, x, view: view, shape: scalingShape, perRow: perRow)
        return signedClampMin(restrict.restrict(restrict.pre(stat)), scalingMinVal) / t
    }
}

/// A zero point computed from the current input at every call, with no state (Brevitas
/// `RuntimeDynamicStatsZeroPoint`, the shifted `*DynamicAct*` presets):
///
///     z = scaleShift(|stat(view(x))|, s, b)
///
/// With `NegativeMinOrZero` the statistic is `min(min(x), 0)`, so the unsigned code 0 lands on
/// the most negative input; `|·|` passes the gradient with the sign of the statistic, +1 at 0
/// (`abs_binary_sign_grad`), so a non-negative input whose minimum is exactly 0 sends +G to it.
/// Example: `ShiftedUint8DynamicActPerTensorFloat` on `[-1, 0, 3]`: `s = 4 / 255`,
/// `z = round(1 / s) = 64`.
public final class RuntimeDynamicStatsZeroPoint: Module, ZeroPointImpl {
    let statsImpl: StatsOpModule
    public let view: StatsView
    public let scaleShift: ScaleShiftZeroPoint
    let shape: [Int]
    public let perRow: Bool

    public init(stats: StatsOpModule, view: StatsView, shape: [Int], scaleShift: ScaleShiftZeroPoint, perRow: Bool = false) {
        statsImpl = stats
        self.view = view
        self.shape = shape
        self.scaleShift = scaleShift
        self.perRow = perRow
        super.init()
        registerModule("zero_point_stats_input_view_shape_impl", perRow ? DescriptiveNode("OverOutputFeaturesView") : view.descriptiveNode)
        registerModule("zero_point_stats_impl", stats)
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        let stat = dynamicStatistic(statsImpl, x, view: view, shape: shape, perRow: perRow)
        return scaleShift(STE.absBinarySignGrad(stat), scale: scale, bitWidth: bitWidth)
    }

    public var readsInput: Bool { true }
}

/// The statistic of `x` over `view` reshaped to `shape`, or per row of the last dimension with the
/// shape of `x` and a last dimension of 1.
func dynamicStatistic(_ stats: StatsOpModule, _ x: Tensor, view: StatsView, shape: [Int], perRow: Bool) -> Tensor {
    guard perRow else { return stats(view.apply(x)).reshape(shape) }
    let f = x.shape.last ?? 1
    precondition(f > 0, "dynamic per-row statistics of an input \(x.shape) with an empty last dimension")
    let rowsShape = x.shape.isEmpty ? [1] : Array(x.shape.dropLast()) + [1]
    return stats(x.reshape([-1, f])).reshape(rowsShape)
}
