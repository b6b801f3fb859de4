import Foundation
import Testing
@testable import PTQ

/// GPTQ against a direct Float64 transcription of Brevitas's `single_layer_update` (blocked
/// update, explicit matrix inverse by Gauss-Jordan, Cholesky of `1e4·Hinv`), written
/// independently of the implementation.
struct GPTQTests {
    /// Float64 reference: returns the updated weight `[rows, n]`.
    static func reference(_ w0: [Double], rows: Int, n: Int, h0: [Double], actOrder: Bool, blocks: Int,
                          quant: ([Double]) -> [Double]) -> [Double] {
        var w = w0, h = h0
        for i in 0..<n where h[i * n + i] == 0 { h[i * n + i] = 1; for r in 0..<rows { w[r * n + i] = 0 } }
        var perm = Array(0..<n)
        if actOrder { perm.sort { h[$0 * n + $0] > h[$1 * n + $1] } }
        var hp = h
        for i in 0..<n { for j in 0..<n { hp[i * n + j] = h[perm[i] * n + perm[j]] } }
        let damp = 0.01 * (0..<n).map { hp[$0 * n + $0] }.reduce(0, +) / Double(n)
        for i in 0..<n { hp[i * n + i] += damp }
        // Gauss-Jordan inverse
        var a = hp, inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for c in 0..<n {
            let p = a[c * n + c]
            for j in 0..<n { a[c * n + j] /= p; inv[c * n + j] /= p }
            for r in 0..<n where r != c {
                let f = a[r * n + c]
                for j in 0..<n { a[r * n + j] -= f * a[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
            }
        }
        // upper Cholesky U of 1e4·inv: inv·1e4 = UᵀU
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            var s = 1e4 * inv[i * n + i]
            for k in 0..<i { s -= u[k * n + i] * u[k * n + i] }
            u[i * n + i] = s.squareRoot()
            for j in (i + 1)..<max(i + 1, n) {
                var t = 1e4 * inv[i * n + j]
                for k in 0..<i { t -= u[k * n + i] * u[k * n + j] }
                u[i * n + j] = t / u[i * n + i]
            }
        }
        for k in 0..<(n * n) { u[k] /= 100 }
        let bs = (n + blocks - 1) / blocks
        var i1 = 0
        while i1 < n {
            let i2 = min(i1 + bs, n)
            var errs = [[Double]](repeating: [Double](repeating: 0, count: rows), count: i2 - i1)
            for i in i1..<i2 {
                let col = (0..<rows).map { w[$0 * n + perm[i]] }
                let q = quant(col)
                for r in 0..<rows {
                    let e = (col[r] - q[r]) / u[i * n + i]
                    errs[i - i1][r] = e
                    for j in i..<i2 { w[r * n + perm[j]] -= e * u[i * n + j] }
                }
            }
            for r in 0..<rows { for j in i2..<n { for i in i1..<i2 { w[r * n + perm[j]] -= errs[i - i1][r] * u[i * n + j] } } }
            i1 = i2
        }
        return w
    }

    /// Per-tensor signed 8-bit quantization of one column, half-to-even (the sliced quantizer).
    static func quantColumn<T: BinaryFloatingPoint>(_ c: [T]) -> [T] {
        let s = c.map { abs($0) }.max()! / 127
        return c.map { s == 0 ? 0 : max(-128, min(127, ($0 / s).rounded(.toNearestOrEven))) * s }
    }

    @Test(arguments: [false, true])
    func matchesFloat64Reference(actOrder: Bool) throws {
        let rows = 5, n = 7, m = 40
        // deterministic pseudo-random data
        var state: UInt64 = 12345
        func rnd() -> Float { state = state &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1 }
        let w0 = (0..<(rows * n)).map { _ in rnd() }
        var x = (0..<(n * m)).map { _ in rnd() }
        for t in 0..<m { x[3 * m + t] = 0 }   // a dead column
        for t in 0..<m { x[5 * m + t] *= 3 }  // a dominant column (act_order moves it first)
        var h = GPTQHessian(groups: 1, columns: n)
        h.add([x], samples: m)
        var w = w0
        try GPTQ.update(weight: &w, groups: 1, rows: rows, columns: n, hessian: h.h, actOrder: actOrder) { cur, cols in
            [Self.quantColumn((0..<rows).map { cur[$0 * n + cols[0]] })]
        }
        let ref = Self.reference(w0.map(Double.init), rows: rows, n: n, h0: h.h, actOrder: actOrder, blocks: 3,
                                 quant: { Self.quantColumn($0) })
        let maxRef = ref.map { abs($0) }.max()!
        let diff = zip(w, ref).map { abs(Double($0) - $1) }.max()!
        #expect(diff <= 1e-4 * maxRef, "max diff \(diff) vs max \(maxRef)")
        // the dead column is zero, and GPTQ did change the weight
        #expect((0..<rows).allSatisfy { w[$0 * n + 3] == 0 })
        #expect(zip(w, w0).contains { abs($0 - $1) > 1e-3 })
        // Each column ends at its quantized value (err·U[i,i] removes exactly w − q).
        #expect((0..<rows).allSatisfy { r in abs(w[r * n] - Self.quantColumn((0..<rows).map { w[$0 * n] })[r]) < 1e-5 })
    }

    @Test func hessianIsRunningMeanOfTwoXXt() {
        var h = GPTQHessian(groups: 1, columns: 2)
        h.add([[1, 2, 3, 4]], samples: 2)   // x = [[1,2],[3,4]]
        h.add([[5, 6]], samples: 1)         // x = [[5],[6]]
        // H = 2/3 · (x1 x1ᵀ + x2 x2ᵀ) = 2/3 · [[1+4+25, 3+8+30], [., 9+16+36]]
        let expect: [Double] = [2.0 / 3 * 30, 2.0 / 3 * 41, 2.0 / 3 * 41, 2.0 / 3 * 61]
        #expect(zip(h.h, expect).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(h.samples == 3)
    }

    @Test func notPositiveDefiniteIsAnError() {
        #expect(Cholesky.lower([1, 2, 2, 1], 2) == nil)
        let l = Cholesky.lower([4, 2, 2, 3], 2)!
        let inv = Cholesky.inverseFromLower(l, 2)
        // [[4,2],[2,3]]⁻¹ = 1/8 [[3,-2],[-2,4]]
        #expect(zip(inv, [3.0 / 8, -2.0 / 8, -2.0 / 8, 0.5]).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}
