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
/// and the first candidate with a strictly smaller loss wins (ties keep the earlier one; a NaN
/// loss makes the running best NaN, as `torch.min` does, so no later candidate wins). The
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
    /// Brevitas `scaling_min_val`: a candidate range is clamped to it before the division
    /// (`clamp_scaling` of the local-loss forward), so an all-zero row searches with a tiny scale.
    public let scalingMinVal: Float?
    let quantize: (Tensor, Tensor) -> Tensor
    let candidateScale: ((Tensor) -> Tensor)?

    /// `candidateScale` maps candidate ranges (shape `[]` or `[rows, 1]`) to the scales the
    /// quantizer uses while searching; by default `max(c, scalingMinVal) / threshold` (float
    /// scales). Power-of-two weight scales pass `2^ceil(log2 c) / 2^ceil(log2 threshold)`.
    /// The statistic whose value is the largest candidate (`mse_init_op`): `max|x|` when nil
    /// (`MSESymmetricScale`), `AbsMinMax` for the shifted presets (`MSEAsymmetricScale`).
    let initOp: StatsOpModule?

    public init(threshold: Float, scalingMinVal: Float? = nil, candidateScale: ((Tensor) -> Tensor)? = nil,
                initOp: StatsOpModule? = nil, quantize: @escaping (Tensor, Tensor) -> Tensor) {
        self.initOp = initOp
        self.threshold = threshold
        self.scalingMinVal = scalingMinVal
        self.candidateScale = candidateScale
        self.quantize = quantize
        super.init()
        if let initOp { registerModule("mse_init_op", initOp) }
    }

    /// The scale the quantizer has while the search evaluates the ranges `c`.
    func scale(of c: Tensor) -> Tensor {
        candidateScale?(c) ?? signedClampMin(c, scalingMinVal) / threshold
    }

    public override var typeName: String { "MSE" }

    /// torch's float32 `linspace(1/19, 1, 19)`: `t_0 + i·step` below the middle,
    /// `1 − (18 − i)·step` from it on.
    static let grid: [Float] = {
        let t0 = Float(1.0 / 19.0), end: Float = 1
        let step = (end - t0) / 18
        return (0..<19).map { i in i < 9 ? t0 + step * Float(i) : end - step * Float(18 - i) }
    }()

    /// `torch.min(a, b)`: NaN when either is NaN.
    static func torchMin(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Autograd.noGrad {
            let rows = x.rank >= 2 ? x.shape[0] : 1
            let n = rows == 0 ? 0 : x.count / rows
            let xv = x.reshape([rows, n])
            let a = rows == 0 || n == 0 ? [Float](repeating: 0, count: rows)
                : (initOp.map { $0(xv).scalars } ?? xv.abs().max(dim: 1).values.scalars)
            let c0 = a.map { $0 / 20 }
            var best = c0
            var bestLoss = [Float](repeating: .infinity, count: rows)
            let px = xv.scalars
            for j in 0...MSEStats.grid.count {
                let cand = j == 0 ? c0 : zip(a, c0).map { $1 + ($0 - $1) * MSEStats.grid[j - 1] }
                let c = Tensor(shape: [rows, 1], cand)
                let q = quantize(xv, scale(of: rows == 1 ? c.reshape([]) : c)).scalars
                for r in 0..<rows {
                    // torch: mse_loss(reduction='none') then a float32 sum per row, in its order.
                    let sq = ((r * n)..<((r + 1) * n)).map { i -> Float in let d = px[i] - q[i]; return d * d }
                    let loss = TorchSum.sum(sq)
                    // Brevitas starts from loss(c_0); a NaN loss poisons the running best
                    // (`torch.min`), so no later candidate wins.
                    if j == 0 || loss < bestLoss[r] { best[r] = cand[r] }
                    bestLoss[r] = j == 0 ? loss : MSEStats.torchMin(loss, bestLoss[r])
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
