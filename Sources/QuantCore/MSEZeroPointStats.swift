import NN
import TensorEngine

/// The loss-driven zero point of Brevitas's shifted `*MSE` presets (`MSE` with
/// `mse_init_op = NegativeMinOrZero`, `MSEZeroPointSubInjector`): the float zero point `c ≤ 0`
/// that minimises `Σ (x − q)²` on a grid, per tensor (`[N]`) or per row (`[rows, N]`):
///
///     init = min(min(x), 0)  (per row),   base = init / 20
///     c_0 = init,   c_j = init + (base − init) · t_j,   t = linspace(1/19, 1, 19)  (float32)
///     z_j = scaleShift(|c_j|, s, b)         (round(|c_j| / s) + minInt, clamped, when quantized)
///     loss_j = Σ (x − (clamp(round(x/s + z_j)) − z_j) · s)²
///
/// and the first candidate with a strictly smaller loss wins (ties keep the earlier one, NaN
/// losses never win). An input with no negative value has the single candidate 0.
///
/// The same module also answers the scale search (`MSEStats`), which quantizes every scale
/// candidate with the zero point of `candidate`: Brevitas's `internal_candidate`, set to the
/// initial `min(min(x), 0)` the first time it is asked and to the best candidate after every
/// search. An activation quantizer searches on each statistics-collection call, scale first:
/// from the second call on, its scale search quantizes with the previous call's zero point
/// (Brevitas keeps it in the module), not with this input's minimum.
///
/// Example: `ShiftedUint8WeightPerTensorFloatMSE` on `W = [−1, 0.5, 2]`: the scale search
/// (`|max − min| = 3`) quantizes with `z = round(1 / s)`; then this search tries `c` from `−1`
/// to `−0.05` with the scale found.
public final class MSEZeroPointStats: Module, ScaleAwareStats {
    /// Brevitas's `mse_init_op`, for the module tree (its `zero` buffer); the search computes
    /// the same statistic with NaN propagation in `negativeMinOrZero`.
    let initOp = NegativeMinOrZero()
    public let scaleShift: ScaleShiftZeroPoint
    public let minInt: Float, maxInt: Float
    /// Whether the quantizer clamps straight-through (weights); only the gradient differs.
    public let clampSte: Bool
    /// Brevitas's `internal_candidate`: per row, `nil` until the first call.
    public private(set) var candidate: [Float]?
    /// Maps the quantizer's scale to the one the search uses; identity when nil.
    public var searchScale: ((Tensor) -> Tensor)?

    public init(scaleShift: ScaleShiftZeroPoint, minInt: Float, maxInt: Float, clampSte: Bool) {
        self.scaleShift = scaleShift
        self.minInt = minInt
        self.maxInt = maxInt
        self.clampSte = clampSte
        super.init()
        registerModule("mse_init_op", initOp)
    }

    public override var typeName: String { "MSE" }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        preconditionFailure("MSEZeroPointStats needs the quantizer's scale: call stats(_:scale:bitWidth:)")
    }

    /// `x` as `[rows, N]`.
    static func rows(_ x: Tensor) -> Tensor {
        x.rank >= 2 ? x.reshape([x.shape[0], -1]) : x.reshape([1, -1])
    }

    /// `min(min(row), 0)` per row of `xRows` (`[rows, N]`), NaN for a row holding a NaN (as
    /// torch's `min` and `clamp` give), 0 for an empty row.
    static func negativeMinOrZero(_ xRows: Tensor) -> [Float] {
        let rows = xRows.shape[0], n = xRows.shape[1], p = xRows.scalars
        return (0..<rows).map { r in
            var m: Float = 0
            for v in p[(r * n)..<((r + 1) * n)] {
                if v.isNaN { return .nan }
                m = Swift.min(m, v)
            }
            return m
        }
    }

    /// The integer zero point of the float candidates `c` (one per row) with `scale` (`[]` or
    /// `[rows, 1]`): the zero point has the scale's shape.
    func zeroPoint(_ c: [Float], scale: Tensor, bitWidth: Tensor) -> Tensor {
        let zf = scale.rank == 0 ? Tensor(c[0]) : Tensor(shape: [c.count, 1], c)
        return scaleShift(zf.abs(), scale: scale, bitWidth: bitWidth)
    }

    /// The zero point the scale search quantizes `xRows` (`[rows, N]`) with at scale `scale`:
    /// that of `candidate`, first set to `min(min(x), 0)` of this input.
    public func localLossZeroPoint(_ xRows: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        if candidate == nil { candidate = MSEZeroPointStats.negativeMinOrZero(MSEZeroPointStats.rows(xRows)) }
        let c = candidate!
        precondition(c.count == Swift.max(1, xRows.rank >= 2 ? xRows.shape[0] : 1),
                     "MSEZeroPointStats: \(c.count) zero-point candidates for input \(xRows.shape)")
        return zeroPoint(c, scale: scale, bitWidth: bitWidth)
    }

    public func stats(_ xView: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        Autograd.noGrad {
            let s = (searchScale?(scale) ?? scale).detach()
            let xv = MSEZeroPointStats.rows(xView.detach())
            let rows = xv.shape[0], n = xv.shape[1]
            precondition(s.count == 1 || s.count == rows, "MSE zero point: scale of \(s.count) values for \(rows) rows")
            let sq = s.count == 1 ? s.reshape([]) : s.reshape([rows, 1])
            let initial = MSEZeroPointStats.negativeMinOrZero(xv)
            let base = initial.map { $0 / 20 }
            var best = initial
            var bestLoss = [Float](repeating: .infinity, count: rows)
            let px = xv.scalars
            for j in 0...MSEStats.grid.count {
                let cand = j == 0 ? initial : zip(initial, base).map { $0 + ($1 - $0) * MSEStats.grid[j - 1] }
                let z = zeroPoint(cand, scale: sq, bitWidth: bitWidth)
                let q = FakeQuantize.apply(xv, scale: sq, zeroPoint: z, minInt: minInt, maxInt: maxInt, clampSte: clampSte).scalars
                for r in 0..<rows {
                    // torch: mse_loss(reduction='none') then a float32 sum per row, in its order.
                    let sqErr = ((r * n)..<((r + 1) * n)).map { i -> Float in let d = px[i] - q[i]; return d * d }
                    let loss = TorchSum.sum(sqErr)
                    // Brevitas starts from loss(c_0) and keeps a candidate only when strictly better.
                    if j == 0 || loss < bestLoss[r] { best[r] = cand[r] }
                    bestLoss[r] = j == 0 ? loss : MSEStats.torchMin(loss, bestLoss[r])
                }
            }
            candidate = best
            return xView.rank >= 2 ? Tensor(shape: [rows], best) : Tensor(best[0])
        }
    }
}
