import NN
import TensorEngine

/// A learned zero point initialised by a statistic of the weight at the first forward
/// (Brevitas `ParameterFromStatsFromParameterZeroPoint`, the zero point of the `*HQO` weight
/// presets), per tensor or per output channel:
///
///     first call: value ← stats(view(W), s, b)   (the HQO search, quantizing with the scale s)
///     every call: z = scaleShift(|value|, s, b)  (|·| passes the gradient with value's sign)
///
/// `view` is `.overTensor` (`value` of shape `[]`, the search's means over the flattened weight)
/// or `.overOutputChannel` (`value` of the scale's shape, e.g. `[C, 1]` for a linear weight or
/// `[C, 1, 1, 1]` for a convolution; one search row per output channel, quantized with that
/// channel's scale). Example: `ShiftedUint8WeightPerChannelFloatHQO` on a `[4, 64]` weight keeps
/// `zero_point_impl.value` of shape `[4, 1]`, about `min(min(W[c]), 0)` per row; with
/// `quantize_zero_point = False` the integer zero point is `|value| / s` (not rounded).
///
/// Brevitas 0.13.4 fails on per-channel 4-d weights (its search quantizes the `[C, N]` view with
/// the `[C, 1, 1, 1]` scale, which broadcasts to `[C, 1, C, N]`); here every row uses its own
/// channel's scale, which is what it computes for 2-d weights.
public final class ParameterFromStatsZeroPoint: Module, ZeroPointImpl {
    let statsImpl: ScaleAwareStats
    public let view: StatsView
    public let scaleShift: ScaleShiftZeroPoint
    /// The learned float zero point (state-dict key `zero_point_impl.value`).
    public let value: Tensor
    var initialized = false

    public init(stats: ScaleAwareStats, view: StatsView, shape: [Int], scaleShift: ScaleShiftZeroPoint) {
        statsImpl = stats
        self.view = view
        self.scaleShift = scaleShift
        value = Tensor(repeating: 0, shape: shape)
        super.init()
        // Brevitas 0.13.4's layout: parameter_list_stats.stats.stats_impl, affine_rescaling.
        registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: stats, view: view.descriptiveNode))
        registerParameter("value", value)
        registerModule("affine_rescaling", DescriptiveNode("Identity"))
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        if !initialized {
            Autograd.noGrad {
                let rows = view.apply(x.detach())
                let s: Tensor
                if rows.rank == 2 {
                    precondition(scale.count == rows.shape[0] || scale.count == 1,
                                 "ParameterFromStatsZeroPoint: scale \(scale.shape) for \(rows.shape[0]) output channels")
                    s = scale.detach().reshape([-1, 1])
                } else {
                    precondition(scale.count == 1, "ParameterFromStatsZeroPoint: per-tensor view with scale \(scale.shape)")
                    s = scale.detach().reshape([])
                }
                value.assign(statsImpl.stats(rows, scale: s, bitWidth: bitWidth).reshape(value.shape))
            }
            initialized = true
        }
        return scaleShift(STE.absBinarySignGrad(value), scale: scale, bitWidth: bitWidth)
    }

    /// Loading a learned `value` ends the initialisation (Brevitas semantics).
    public override func didLoadState(localNames: Set<String>) {
        if localNames.contains("value") { initialized = true }
    }

    public var readsInput: Bool { !initialized }
}

/// A learned zero point initialised by a statistic of the weight at the first forward
/// (Brevitas `ParameterFromStatsFromParameterZeroPoint`), per group of a group-wise quantizer:
///
///     first call: value ← stats(W_g)  (e.g. the HQO search);  z = scaleShift(|value|, s, b)
///
/// Input is the grouped view `[outer, groups, groupSize, inner]`; `value` has shape
/// `[outer, groups, 1]` (Brevitas's `[out, in/group, 1]` for a linear weight) or
/// `[outer, groups, 1, inner]`.
public final class ParameterFromStatsGroupwiseZeroPoint: Module, ZeroPointImpl {
    let statsImpl: ScaleAwareStats
    public let scaleShift: ScaleShiftZeroPoint
    public let value: Tensor
    var initialized = false

    public init(stats: ScaleAwareStats, shape: [Int], scaleShift: ScaleShiftZeroPoint) {
        statsImpl = stats
        self.scaleShift = scaleShift
        value = Tensor(repeating: 0, shape: shape)
        super.init()
        registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: stats))
        registerParameter("value", value)
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    public func callAsFunction(_ xg: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        precondition(xg.rank == 4, "ParameterFromStatsGroupwiseZeroPoint takes the grouped view, got \(xg.shape)")
        let sh = xg.shape
        if !initialized {
            Autograd.noGrad {
                let rowsView = sh[3] == 1 ? xg.reshape([sh[0] * sh[1], sh[2]]) : xg.permute([0, 1, 3, 2]).reshape([sh[0] * sh[1] * sh[3], sh[2]])
                let s = scale.reshape([-1, 1])
                value.assign(statsImpl.stats(rowsView.detach(), scale: s.detach(), bitWidth: bitWidth).reshape(value.shape))
            }
            initialized = true
        }
        let v = value.reshape([sh[0], sh[1], 1, sh[3]])
        return scaleShift(STE.absBinarySignGrad(v), scale: scale, bitWidth: bitWidth)
    }

    public var readsInput: Bool { !initialized }
}
