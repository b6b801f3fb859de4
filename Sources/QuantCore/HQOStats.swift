import Foundation
import NN
import TensorEngine

/// Brevitas's half-quadratic shrinkage `shrink_lp(v) = sign(v) · relu(|v| − |v|^(p−1) / β)`, in
/// float32 with `1/β` rounded from double (as PyTorch applies a Python float to a float tensor).
@inline(__always)
func shrinkLp(_ v: Float, _ invBeta: Float, _ p: Float) -> Float {
    let a = Swift.abs(v)
    let r = a - invBeta * powf(a, p - 1)
    guard r > 0 else { return 0 }
    return v > 0 ? r : (v < 0 ? -r : 0)
}

/// The lower median of `values` (torch's `median`/`nanmedian`), NaN when empty.
func lowerMedian(_ values: inout [Float]) -> Float {
    guard !values.isEmpty else { return .nan }
    values.sort()
    return values[(values.count - 1) / 2]
}

/// The half-quadratic optimizer of a symmetric scale (Brevitas `HalfQuadraticOptimizerScale`,
/// the `*HQO` weight presets), a statistic of a `[C, N]` view (or `[N]`):
///
///     c ← max|x| (per row);  β ← 1e5
///     repeat up to 1000 times:
///         q = quantize(x, c / T);  loss = mean|q − x| over the whole tensor
///         stop when loss ≥ best (the previous candidate is kept)
///         W_e = shrink_lp(x − q, β, 0.7)
///         c ← T · median over the row of (x − W_e) / round(q / s), where both are non-zero
///         (a row without such elements keeps its candidate);  β ← 1.01 β
///
/// `T` is the integer threshold (127 for narrow int8). Not differentiated.
public final class HQOScaleStats: Module, StatsOpModule {
    public let threshold: Float
    public let beta: Double, kappa: Double, lpNorm: Float, iterations: Int
    public let scalingMinVal: Float?
    let quantize: (Tensor, Tensor) -> Tensor

    public init(threshold: Float, bitWidth: Int, scalingMinVal: Float?, beta: Double = 1e5, kappa: Double = 1.01,
                lpNorm: Float = 0.7, iterations: Int = 1000, quantize: @escaping (Tensor, Tensor) -> Tensor) {
        self.threshold = threshold
        self.scalingMinVal = scalingMinVal
        self.beta = beta
        self.kappa = kappa
        self.lpNorm = lpNorm
        self.iterations = iterations
        self.quantize = quantize
        super.init()
        registerModule("msb_clamp_bit_width_impl", BitWidthConst(bitWidth))
    }

    public override var typeName: String { "HalfQuadraticOptimizerScale" }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Autograd.noGrad {
            let rows = x.rank >= 2 ? x.shape[0] : 1
            let n = rows == 0 ? 0 : x.count / rows
            let xv = x.reshape([rows, n])
            let px = xv.scalars
            var candidate = n == 0 ? [Float](repeating: 0, count: rows) : xv.abs().max(dim: 1).values.scalars
            var best = candidate
            var bestLoss = Float.infinity
            var beta = self.beta
            var ratios: [Float] = []
            ratios.reserveCapacity(n)
            for _ in 0..<iterations {
                let scales = candidate.map { $0 / threshold }
                let st = Tensor(shape: [rows, 1], scales)
                let q = quantize(xv, rows == 1 ? st.reshape([]) : st).scalars
                // torch: abs(q - x).mean(), a float32 sum in its order, / N.
                let loss = TorchSum.sum(zip(q, px).map { Swift.abs($0 - $1) }) / Float(Swift.max(1, px.count))
                if !(loss < bestLoss) { break }
                best = candidate
                bestLoss = loss
                let invBeta = Float(1.0 / beta)
                var next = candidate
                for r in 0..<rows {
                    ratios.removeAll(keepingCapacity: true)
                    let s = scales[r]
                    for i in (r * n)..<((r + 1) * n) {
                        let num = px[i] - shrinkLp(px[i] - q[i], invBeta, lpNorm)
                        let den = (q[i] / s).rounded(.toNearestOrEven)
                        if num != 0 && den != 0 { ratios.append(num / den) }
                    }
                    var c = lowerMedian(&ratios)
                    if let m = scalingMinVal, m != 0, c.isFinite { c = c < 0 ? -Swift.max(-c, m) : Swift.max(c, m) }
                    c *= threshold
                    next[r] = c.isFinite ? c : candidate[r]
                }
                candidate = next
                beta *= kappa
            }
            return x.rank >= 2 ? Tensor(shape: [rows], best) : Tensor(best[0])
        }
    }
}
