/// The GPTQ weight update (Brevitas 0.13.4 `brevitas/graph/gptq.py: GPTQ.single_layer_update`),
/// on one layer's weight viewed as `[groups, rows, columns]` (a conv's `[out, in/groups·kh·kw]`
/// split by group; a Linear is one group of `[out, in]`).
///
/// Per group, with the layer's Hessian `H` (``GPTQHessian``):
/// 1. dead columns (`H[i,i] == 0`) get `H[i,i] = 1` and weight column 0;
/// 2. with `actOrder`, columns are visited by descending `diag(H)` (permutation `p`);
/// 3. `H += 0.01·mean(diag H)·I`; `Hinv = (L Lᵀ)⁻¹` with `L = cholesky(H)`;
///    `U = cholesky(1e4·Hinv, upper) / 100`;
/// 4. for step i: `q = quantize(current weight, i)` (column `p[i]` of each group),
///    `err = (W[:, p[i]] − q) / U[i,i]`, `W[:, p[j]] −= err·U[i,j]` for every `j ≥ i`
///    (column `p[i]` itself becomes `q` up to rounding).
///
/// Brevitas applies the update in blocks of `ceil(columns/num_blocks)` columns; the unblocked
/// update here is the same computation up to rounding (README-ptq: `num_blocks` is not
/// observable). The factorizations run in Float64 (README-ptq: within the policy, measured
/// 3.3e-5 of the weights); the weight stays Float32 as in Brevitas.
///
/// ```swift
/// var w: [Float] = ...                           // [rows, columns], one group
/// try GPTQ.update(weight: &w, groups: 1, rows: 4, columns: 8, hessian: h, actOrder: false) { w, cols in
///     [quantizeColumn(w, cols[0])]               // q of column cols[g] of each group g
/// }
/// ```
public enum GPTQ {
    /// - Parameters:
    ///   - weight: `[groups·rows·columns]`, updated in place.
    ///   - hessian: `[groups·columns·columns]`, consumed.
    ///   - quantize: given the current weight and, per group, the column to quantize, returns
    ///     the quantized column of each group (`[groups][rows]`).
    public static func update(weight: inout [Float], groups: Int, rows: Int, columns: Int, hessian: [Double],
                              actOrder: Bool, percDamp: Double = 0.01,
                              quantize: (_ weight: [Float], _ columns: [Int]) -> [[Float]]) throws(PTQError) {
        precondition(weight.count == groups * rows * columns,
                     "GPTQ.update: weight has \(weight.count) elements, expected groups \(groups) x rows \(rows) x columns \(columns)")
        precondition(hessian.count == groups * columns * columns,
                     "GPTQ.update: hessian has \(hessian.count) elements, expected \(groups) x \(columns)^2")
        let n = columns
        var perms: [[Int]] = []
        var us: [[Double]] = []
        // Dead columns of every group first, as Brevitas does before it factorizes (so a failed
        // factorization leaves them zeroed).
        for g in 0..<groups {
            for i in 0..<n where hessian[g * n * n + i * n + i] == 0 {
                for r in 0..<rows { weight[(g * rows + r) * n + i] = 0 }
            }
        }
        for g in 0..<groups {
            var h = Array(hessian[(g * n * n)..<((g + 1) * n * n)])
            for i in 0..<n where h[i * n + i] == 0 { h[i * n + i] = 1 }
            var perm = Array(0..<n)
            if actOrder {
                perm.sort { h[$0 * n + $0] > h[$1 * n + $1] || (h[$0 * n + $0] == h[$1 * n + $1] && $0 < $1) }
                let old = h
                for i in 0..<n { for j in 0..<n { h[i * n + j] = old[perm[i] * n + perm[j]] } }
            }
            var mean = 0.0
            for i in 0..<n { mean += h[i * n + i] }
            let damp = percDamp * mean / Double(n)
            for i in 0..<n { h[i * n + i] += damp }
            guard let l = Cholesky.lower(h, n) else { throw PTQError.hessianNotPositiveDefinite(group: g) }
            var hinv = Cholesky.inverseFromLower(l, n)
            for k in 0..<(n * n) { hinv[k] *= 1e4 }
            guard let l2 = Cholesky.lower(hinv, n) else { throw PTQError.hessianNotPositiveDefinite(group: g) }
            // U = L2ᵀ / 100 (upper)
            var u = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in i..<n { u[i * n + j] = l2[j * n + i] / 100 } }
            perms.append(perm)
            us.append(u)
        }
        for i in 0..<n {
            let q = quantize(weight, perms.map { $0[i] })
            precondition(q.count == groups && q.allSatisfy { $0.count == rows },
                         "GPTQ.update: quantize must return \(groups) columns of \(rows) values")
            for g in 0..<groups {
                let p = perms[g], u = us[g]
                let d = Float(u[i * n + i])
                for r in 0..<rows {
                    let base = (g * rows + r) * n
                    let err = (weight[base + p[i]] - q[g][r]) / d
                    for j in i..<n { weight[base + p[j]] -= err * Float(u[i * n + j]) }
                }
            }
        }
    }
}

/// Errors of the post-training algorithms.
public enum PTQError: Error, CustomStringConvertible, Equatable {
    /// The damped Hessian of a group is not positive definite (too few samples for the columns).
    case hessianNotPositiveDefinite(group: Int)
    /// A layer the algorithm cannot handle.
    case unsupportedLayer(layer: String, reason: String)
    /// An option value or combination that cannot work, with what to do.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .hessianNotPositiveDefinite(let g):
            return "GPTQ: the damped Hessian of group \(g) is not positive definite; run more calibration samples"
        case .unsupportedLayer(let l, let r):
            return "layer \(l): \(r)"
        case .invalidOption(let m):
            return m
        }
    }
}
