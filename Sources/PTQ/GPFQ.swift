/// The GPFQ weight update (Brevitas 0.13.4 `brevitas/graph/gpfq.py: GPFQ.single_layer_update`)
/// on one layer's weight viewed as `[groups, rows, columns]`.
///
/// With `H = Σ (xq/√m)(xq/√m)ᵀ` and `G = Σ (xq/√m)(x/√m)ᵀ` per group (quantized input `xq`,
/// float input `x`, `m` samples per batch): dead columns (`H[i,i] == 0`) of the weight are set
/// to 0; with `actOrder` the columns are visited by descending `diag(H)` (permutation `p`);
/// `Ds = diag(G)/diag(H)` (0 where either is 0), `Lg = diag(1/diag H)·tril(G, −1)`,
/// `Lh = diag(1/diag H)·tril(H, −1)` in permuted order; for each step t with `i = p[t]`:
/// `W[:, i] = Ds[t]·W[:, i] + W₀[:, p[<t]]·Lg[t, <t] − Q[:, p[<t]]·Lh[t, <t]`, where `W₀` is the
/// weight before GPFQ and `Q` the whole current weight quantized by the layer's quantizer.
public enum GPFQ {
    /// - Parameters:
    ///   - weight: `[groups·rows·columns]`, updated in place; `original`: the weight before GPFQ.
    ///   - h, g: `[groups·columns·columns]`.
    ///   - quantize: the whole current weight quantized (same layout).
    public static func update(weight: inout [Float], original: [Float], groups: Int, rows: Int, columns n: Int,
                              h: [Double], g: [Double], actOrder: Bool, quantize: (_ weight: [Float]) -> [Float]) {
        precondition(weight.count == groups * rows * n && original.count == weight.count,
                     "GPFQ.update: weight \(weight.count) / original \(original.count) elements, expected \(groups) x \(rows) x \(n)")
        precondition(h.count == groups * n * n && g.count == h.count, "GPFQ.update: H and G must be \(groups) x \(n)^2")
        var perms: [[Int]] = [], ds: [[Double]] = [], lgs: [[Double]] = [], lhs: [[Double]] = []
        for gr in 0..<groups {
            let o = gr * n * n
            for i in 0..<n where h[o + i * n + i] == 0 {
                for r in 0..<rows { weight[(gr * rows + r) * n + i] = 0 }
            }
            var p = Array(0..<n)
            if actOrder { p.sort { h[o + $0 * n + $0] > h[o + $1 * n + $1] || (h[o + $0 * n + $0] == h[o + $1 * n + $1] && $0 < $1) } }
            var d = [Double](repeating: 0, count: n)
            var lg = [Double](repeating: 0, count: n * n), lh = lg
            for t in 0..<n {
                let dh = h[o + p[t] * n + p[t]], dg = g[o + p[t] * n + p[t]]
                d[t] = dg * dh != 0 ? dg / dh : 0
                let inv = dh != 0 ? 1 / dh : 0
                for s in 0..<t {
                    lg[t * n + s] = inv * g[o + p[t] * n + p[s]]
                    lh[t * n + s] = inv * h[o + p[t] * n + p[s]]
                }
            }
            perms.append(p); ds.append(d); lgs.append(lg); lhs.append(lh)
        }
        for t in 0..<n {
            let q = quantize(weight)
            precondition(q.count == weight.count, "GPFQ.update: quantize must return the whole weight")
            for gr in 0..<groups {
                let p = perms[gr], i = p[t]
                for r in 0..<rows {
                    let base = (gr * rows + r) * n
                    var lw = 0.0, lq = 0.0
                    for s in 0..<t {
                        lw += Double(original[base + p[s]]) * lgs[gr][t * n + s]
                        lq += Double(q[base + p[s]]) * lhs[gr][t * n + s]
                    }
                    weight[base + i] = Float(ds[gr][t] * Double(weight[base + i]) + lw - lq)
                }
            }
        }
    }
}
