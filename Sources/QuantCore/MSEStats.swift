import NN
import TensorEngine

/// The loss-driven statistic of Brevitas's `*MSE` quantizers (`MSE` with `mse_grid_search`,
/// `MSESymmetricScale`): the clipping range that minimises `Σ (x − q)²`, searched on a grid.
///
/// With `A = max|x|` (per row of a `[C, N]` view, or over a `[N]` tensor):
///
///     c_0 = A / 20,   c_j = c_0 + (A − c_0) · t_j,   t = linspace(1/19, 1, 19)  (float32)
///     loss_j = Σ (x − quantize(x, c_j / threshold))²
///
/// and the first candidate with a strictly smaller loss wins (ties keep the earlier one). The
/// search is not differentiated (Brevitas runs it under `no_grad`). `quantize` is the
/// quantizer's own fake quantization with a given scale (integer or minifloat).
///
/// ```swift
/// let mse = MSEStats(threshold: 128) { x, s in
///     FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: -128, maxInt: 127) }
/// ```
public final class MSEStats: Module, StatsOpModule {
    /// The threshold a candidate range is divided by (127 narrow int8, 128 int8, 448 e4m3).
    public let threshold: Float
    let quantize: (Tensor, Tensor) -> Tensor

    public init(threshold: Float, quantize: @escaping (Tensor, Tensor) -> Tensor) {
        self.threshold = threshold
        self.quantize = quantize
        super.init()
    }

    public override var typeName: String { "MSE" }

    /// torch's float32 `linspace(1/19, 1, 19)`: `t_0 + i·step` below the middle,
    /// `1 − (18 − i)·step` from it on.
    static let grid: [Float] = {
        let t0 = Float(1.0 / 19.0), end: Float = 1
        let step = (end - t0) / 18
        return (0..<19).map { i in i < 9 ? t0 + step * Float(i) : end - step * Float(18 - i) }
    }()

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Autograd.noGrad {
            let rows = x.rank >= 2 ? x.shape[0] : 1
            let n = rows == 0 ? 0 : x.count / rows
            let xv = x.reshape([rows, n])
            let a = rows == 0 || n == 0 ? [Float](repeating: 0, count: rows) : xv.abs().max(dim: 1).values.scalars
            let c0 = a.map { $0 / 20 }
            var best = c0
            var bestLoss = [Float](repeating: .infinity, count: rows)
            let px = xv.scalars
            for j in 0...MSEStats.grid.count {
                let cand = j == 0 ? c0 : zip(a, c0).map { $1 + ($0 - $1) * MSEStats.grid[j - 1] }
                let scale = Tensor(shape: [rows, 1], cand.map { $0 / threshold })
                let q = quantize(xv, rows == 1 ? scale.reshape([]) : scale).scalars
                for r in 0..<rows {
                    // torch: mse_loss(reduction='none') then a float32 sum per row, in its order.
                    let sq = ((r * n)..<((r + 1) * n)).map { i -> Float in let d = px[i] - q[i]; return d * d }
                    let loss = TorchSum.sum(sq)
                    if loss < bestLoss[r] {
                        bestLoss[r] = loss
                        best[r] = cand[r]
                    }
                }
            }
            return x.rank >= 2 ? Tensor(shape: [rows], best) : Tensor(best[0])
        }
    }
}

/// A learned scale initialised by a statistic of the tensor at the first forward (Brevitas
/// `ParameterFromStatsFromParameterScaling`, used by the `*WeightPerChannelFloatMSE` weights):
///
///     first call (either mode): value ← stat(W)
///     every call: s = restrict(value) / restrict(pre(threshold))
///
/// Loading a state dict that holds `value` marks the scale initialised (Brevitas's
/// `_load_from_state_dict`: "disable stats collection when a pretrained value is loaded"), so a
/// saved scale (a GPTQ run's fixed scale, a QAT-learned one) survives a reload.
public final class ParameterFromStatsFromParameterScaling: Module, ScalingImpl {
    let statsImpl: StatsOpModule
    public let view: StatsView
    public let restrict: Restrict
    public let scalingMinVal: Float?
    /// The learned range, shape `scalingShape`.
    public let value: Tensor
    let scalingShape: [Int]
    var initialized = false

    public init(stats: StatsOpModule, view: StatsView, scalingShape: [Int], restrict: Restrict, scalingMinVal: Float?) {
        statsImpl = stats
        self.view = view
        self.restrict = restrict
        self.scalingMinVal = scalingMinVal
        self.scalingShape = scalingShape
        value = Tensor(repeating: 1, shape: scalingShape)
        super.init()
        // Brevitas 0.13.4's layout: parameter_list_stats.stats.stats_impl.
        registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: stats, view: view.descriptiveNode))
        registerParameter("value", value)
        registerRestrictNodes(self, restrict, minVal: scalingMinVal)
    }

    public override func didLoadState(localNames: Set<String>) {
        if localNames.contains("value") { initialized = true }
    }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        if !initialized {
            Autograd.noGrad {
                let s = signedClampMin(statsImpl(view.apply(x.detach())).reshape(scalingShape), scalingMinVal)
                value.assign(restrict.pre(s))
            }
            initialized = true
        }
        let v = signedClampMin(restrict.restrict(value), scalingMinVal)
        return v / restrict.restrict(restrict.pre(threshold))
    }
}
