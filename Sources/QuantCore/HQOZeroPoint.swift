import Foundation
import NN
import TensorEngine

/// A statistic that also needs the quantizer's scale and bit width (the zero-point searches).
public protocol ScaleAwareStats: StatsOpModule {
    /// The statistic of `xView` (`[N]` or `[rows, N]`) quantized with `scale` (scalar or
    /// `[rows, 1]`) at `bitWidth`.
    func stats(_ xView: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor
}

/// The half-quadratic optimizer of a zero point (Brevitas `HalfQuadraticOptimizerZeroPoint`,
/// the shifted `*HQO` presets), per tensor (`[N]`) or per row (`[rows, N]`):
///
///     c ← min(min(x), 0) (per row)
///     repeat up to 1000 times:
///         z = |c| / s + minInt;  q = (clamp(round(x/s + z), minInt, maxInt) − z) · s
///         loss = mean|q − x| over the whole tensor; stop when loss ≥ best
///         W_e = shrink_lp(x − q, β, 0.5)
///         c ← mean over the row of (x − W_e) − (q/s + z) · s;  β ← 1.01 β
///
/// The zero point is not rounded (`quantize_zero_point = False`). As in Brevitas, `β` is a
/// property of the module that keeps growing across calls (it starts at 1 and is never reset).
/// `searchScale` gives the scale the search quantizes with (Brevitas's local-loss forward of the
/// whole quantizer; see `ParameterFromRuntimeStatsScaling.localLossScale`).
public final class HQOZeroPointStats: Module, ScaleAwareStats {
    let initOp = NegativeMinOrZero()
    /// The shrinkage weight; grows by `kappa` per improving iteration, across calls.
    public var beta: Double
    public let kappa: Double, lpNorm: Float, iterations: Int
    public let minInt: Float, maxInt: Float
    /// Maps the quantizer's scale to the one the search uses; identity when nil.
    public var searchScale: ((Tensor) -> Tensor)?

    public init(minInt: Float, maxInt: Float, beta: Double = 1, kappa: Double = 1.01, lpNorm: Float = 0.5, iterations: Int = 1000) {
        self.minInt = minInt
        self.maxInt = maxInt
        self.beta = beta
        self.kappa = kappa
        self.lpNorm = lpNorm
        self.iterations = iterations
        super.init()
        registerModule("hqo_init_op_zp", initOp)
    }

    public override var typeName: String { "HalfQuadraticOptimizerZeroPoint" }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        preconditionFailure("HQOZeroPointStats needs the quantizer's scale: call stats(_:scale:bitWidth:)")
    }

    public func stats(_ xView: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        Autograd.noGrad {
            let s = searchScale?(scale) ?? scale
            let rows = xView.rank >= 2 ? xView.shape[0] : 1
            let n = rows == 0 ? 0 : xView.count / rows
            let px = xView.reshape([rows, n]).scalars
            let ps = s.scalars
            precondition(ps.count == 1 || ps.count == rows, "HQO zero point: scale of \(ps.count) values for \(rows) rows")
            var c = (0..<rows).map { r in Swift.min(px[(r * n)..<((r + 1) * n)].min() ?? 0, 0) }
            var best = c
            var bestLoss = Float.infinity
            var q = [Float](repeating: 0, count: px.count)
            var err = [Float](repeating: 0, count: px.count)
            var vals = [Float](repeating: 0, count: n)
            for _ in 0..<iterations {
                for r in 0..<rows {
                    let sr = ps.count == 1 ? ps[0] : ps[r]
                    let z = Swift.abs(c[r]) / sr + minInt
                    for i in (r * n)..<((r + 1) * n) {
                        let code = Swift.min(Swift.max((px[i] / sr + z).rounded(.toNearestOrEven), minInt), maxInt)
                        q[i] = (code - z) * sr
                        err[i] = Swift.abs(q[i] - px[i])
                    }
                }
                // torch: abs(q - x).mean() = sum (float32, its order) / N.
                let loss = TorchSum.sum(err) / Float(Swift.max(1, px.count))
                if !(loss < bestLoss) { break }
                best = c
                bestLoss = loss
                let invBeta = Float(1.0 / beta)
                for r in 0..<rows {
                    let sr = ps.count == 1 ? ps[0] : ps[r]
                    let z = Swift.abs(c[r]) / sr + minInt
                    for i in (r * n)..<((r + 1) * n) {
                        let we = shrinkLp(px[i] - q[i], invBeta, lpNorm)
                        let qtInt = q[i] / sr + z
                        vals[i - r * n] = (px[i] - we) - qtInt * sr
                    }
                    c[r] = TorchSum.sum(vals) / Float(Swift.max(1, n))
                }
                beta *= kappa
            }
            return xView.rank >= 2 ? Tensor(shape: [rows], best) : Tensor(best[0])
        }
    }
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
