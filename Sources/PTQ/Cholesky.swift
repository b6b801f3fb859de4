import Foundation

/// Cholesky factorization and inverse of symmetric positive-definite matrices (row-major
/// `n × n`, Float64): `H = L Lᵀ`, `H⁻¹ = L⁻ᵀ L⁻¹` (`torch.cholesky_inverse`).
enum Cholesky {
    /// The lower factor `L` (`nil` when `a` is not positive definite).
    static func lower(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var s = a[j * n + j]
            for k in 0..<j { s -= l[j * n + k] * l[j * n + k] }
            guard s > 0, s.isFinite else { return nil }
            let d = s.squareRoot()
            l[j * n + j] = d
            for i in (j + 1)..<max(j + 1, n) {
                var t = a[i * n + j]
                for k in 0..<j { t -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = t / d
            }
        }
        return l
    }

    /// `(L Lᵀ)⁻¹` from the lower factor `L`.
    static func inverseFromLower(_ l: [Double], _ n: Int) -> [Double] {
        // M = L⁻¹ (lower), by forward substitution column by column.
        var m = [Double](repeating: 0, count: n * n)
        for c in 0..<n {
            m[c * n + c] = 1 / l[c * n + c]
            for i in (c + 1)..<max(c + 1, n) {
                var s = 0.0
                for k in c..<i { s += l[i * n + k] * m[k * n + c] }
                m[i * n + c] = -s / l[i * n + i]
            }
        }
        // H⁻¹ = Mᵀ M
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var s = 0.0
                for k in j..<n { s += m[k * n + i] * m[k * n + j] }
                out[i * n + j] = s
                out[j * n + i] = s
            }
        }
        return out
    }
}
