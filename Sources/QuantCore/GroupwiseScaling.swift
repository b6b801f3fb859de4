import NN
import TensorEngine

/// The group-wise view of a tensor (Brevitas's group-wise proxies and `OverSubChannelBlockView`):
/// `groupSize` consecutive elements along `groupDim` share one scale.
///
/// A tensor of shape `[d0, ..., dk, ..., dn]` grouped along `k` is viewed as
/// `[outer, groups, groupSize, inner]` with `outer = d0···d(k−1)`, `groups = ceil(dk / groupSize)`,
/// `inner = d(k+1)···dn`. When `groupSize` does not divide `dk`, the tensor is first padded with
/// zeros along `k` to `groups · groupSize` (Brevitas `padding_to_multiple`: the zeros take part in
/// the statistics of the last group) and results are cut back to `dk` (`groupwise_dequant_expand`).
/// Scales have shape `[outer, groups, 1, inner]`; `expand` gives them the full shape of the
/// tensor, as group-wise QuantTensors carry them.
///
/// ```swift
/// let v = GroupView(shape: [4, 64], layout: GroupLayout(groupSize: 32, groupDim: 1))
/// v.groupedShape    // [4, 2, 32, 1]
/// GroupView(shape: [4, 40], layout: GroupLayout(groupSize: 32, groupDim: 1)).groupedShape
///                   // [4, 2, 32, 1]: 24 zeros pad the second group
/// ```
public struct GroupView: Equatable, Sendable {
    public let shape: [Int]
    public let outer: Int, groups: Int, groupSize: Int, inner: Int
    /// The grouped dimension (non-negative).
    public let dim: Int

    public init(shape: [Int], layout: GroupLayout) {
        let k = layout.groupDim < 0 ? layout.groupDim + shape.count : layout.groupDim
        precondition(k >= 0 && k < shape.count, "group_dim \(layout.groupDim) is out of range for a tensor of shape \(shape)")
        precondition(layout.groupSize > 0, "group_size must be positive, got \(layout.groupSize) for a tensor of shape \(shape)")
        self.shape = shape
        dim = k
        outer = shape[..<k].reduce(1, *)
        groupSize = layout.groupSize
        groups = (shape[k] + layout.groupSize - 1) / layout.groupSize
        inner = shape[(k + 1)...].reduce(1, *)
    }

    /// Zeros pad the grouped dimension (`groups · groupSize > dk`).
    public var isPadded: Bool { groups * groupSize != shape[dim] }
    /// The shape after padding: `dk` rounded up to a multiple of `groupSize`.
    public var paddedShape: [Int] {
        var p = shape
        p[dim] = groups * groupSize
        return p
    }
    /// `[outer, groups, groupSize, inner]`.
    public var groupedShape: [Int] { [outer, groups, groupSize, inner] }
    /// `[outer, groups, 1, inner]`: one value per group.
    public var scaleShape: [Int] { [outer, groups, 1, inner] }

    /// `x` (of `shape`) padded with zeros to `paddedShape` (itself when no padding is needed).
    public func pad(_ x: Tensor) -> Tensor {
        guard isPadded else { return x }
        var z = shape
        z[dim] = groups * groupSize - shape[dim]
        return Tensor.cat([x, Tensor.zeros(z)], dim: dim)
    }

    /// A tensor of `paddedShape` cut back to `shape`.
    public func unpad(_ y: Tensor) -> Tensor {
        isPadded ? y.narrow(dim: dim, start: 0, length: shape[dim]) : y
    }

    /// A per-group tensor (`scaleShape`) repeated over its group, in the shape of the tensor.
    /// Contiguous groups (`inner == 1`) are filled group by group, in parallel (the general
    /// broadcast walks them element by element); the gradient is `Tensor.expand`'s either way.
    public func expand(_ perGroup: Tensor) -> Tensor {
        let g = perGroup.reshape(scaleShape)
        guard inner == 1 else { return unpad(g.expand(groupedShape).reshape(paddedShape)) }
        let out = Tensor.empty(groupedShape)
        let pg = g.storage.pointer, po = out.storage.pointer, size = groupSize
        Parallel.forRanges(outer * groups, costPerItem: size) { r in
            for k in r { (po + k * size).update(repeating: pg[k], count: size) }
        }
        let inShape = scaleShape
        let expanded = Autograd.record("expand", output: out, inputs: [g]) { grad in [grad.sum(toShape: inShape)] }
        return unpad(expanded.reshape(paddedShape))
    }
}

/// The per-group statistic of a grouped view `[outer, groups, groupSize, inner]`: the group
/// axis is moved last and `stats` reduces it (`AbsMax`, `AbsMinMax`, `NegativeMinOrZero`), giving
/// `[outer, groups, 1, inner]`.
func groupStatistic(_ stats: StatsOpModule, _ xg: Tensor) -> Tensor {
    precondition(xg.rank == 4, "group-wise statistics take the grouped view [outer, groups, groupSize, inner], got \(xg.shape)")
    let s = xg.shape
    let last = s[3] == 1 ? xg.reshape([s[0], s[1], s[2]]) : xg.permute([0, 1, 3, 2])
    return stats(last).reshape([s[0], s[1], 1, s[3]])
}

/// The scale of a group-wise quantizer, one per group, recomputed from the tensor at every call
/// (Brevitas `StatsFromParameterScaling` over a group view for weights,
/// `RuntimeDynamicGroupStatsScaling` for activations: no learned state in either case):
///
///     s_g = restrict(pre(clampMin(stat(x_g)))) / restrict(pre(threshold))
///
/// Microscaling (MX) quantizers restrict both to powers of two with a floor (E8M0 scales):
/// `s_g = 2^(floor(log2 max|x_g|) − floor(log2 T))`, with straight-through floors so the gradient
/// reaches the largest element of each group. The input is the grouped view
/// `[outer, groups, groupSize, inner]` (see `GroupView`); the result has shape
/// `[outer, groups, 1, inner]`. State keys as Brevitas's: `parameter_list_stats.stats.stats_impl`.
public final class GroupwiseStatsScaling: Module, ScalingImpl {
    public let restrict: Restrict
    public let scalingMinVal: Float?
    let statsImpl: StatsOpModule

    /// - Parameter stats: the statistic of one group (`AbsMax` for symmetric, `AbsMinMax` for
    ///   shifted quantizers).
    /// - Parameter runtime: activations: Brevitas `RuntimeDynamicGroupStatsScaling`'s state keys
    ///   (`scaling_stats_impl`) instead of the weights' `parameter_list_stats.stats.stats_impl`.
    public init(stats: StatsOpModule, restrict: Restrict, scalingMinVal: Float?, runtime: Bool = false) {
        self.restrict = restrict
        self.scalingMinVal = scalingMinVal
        statsImpl = stats
        super.init()
        if runtime {
            registerModule("scaling_stats_impl", stats)
        } else {
            registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: stats))
        }
        registerRestrictNodes(self, restrict, minVal: scalingMinVal)
    }

    public func callAsFunction(_ xg: Tensor, threshold: Tensor) -> Tensor {
        let t = restrict.restrict(restrict.pre(threshold))
        var s = signedClampMin(groupStatistic(statsImpl, xg), scalingMinVal)
        s = restrict.restrict(restrict.pre(s))
        return s / t
    }
}

/// A per-group zero point from the weight at every call (Brevitas `StatsFromParameterZeroPoint`
/// with `NegativeMinOrZero` over a group view): `z_g = scaleShift(−min(min(x_g), 0), s_g, b)`.
public final class GroupwiseZeroPoint: Module, ZeroPointImpl {
    let statsImpl = NegativeMinOrZero()
    public let scaleShift: ScaleShiftZeroPoint

    /// - Parameter runtime: activations: Brevitas `RuntimeDynamicGroupZeroPoint`'s state keys
    ///   (`zero_point_stats_impl`).
    public init(scaleShift: ScaleShiftZeroPoint, runtime: Bool = false) {
        self.scaleShift = scaleShift
        super.init()
        if runtime {
            registerModule("zero_point_stats_impl", statsImpl)
        } else {
            registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: statsImpl))
        }
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    /// `xg` is the grouped view, `scale` the per-group scale.
    public func callAsFunction(_ xg: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        scaleShift(-groupStatistic(statsImpl, xg), scale: scale, bitWidth: bitWidth)
    }

    public var readsInput: Bool { true }
}
