import Foundation
import Testing
@testable import PTQ

/// What GPTQ does when it cannot factorize a Hessian (Brevitas: warn, leave the layer alone,
/// its dead columns already zeroed), and the BLAS Hessian against a direct sum.
struct GPTQFailureTests {
    /// Group 1's Hessian holds a NaN: the update throws for it, and the dead columns of both
    /// groups are zero while the rest of the weight is untouched.
    @Test func nonPositiveDefiniteHessianLeavesTheWeight() throws {
        let n = 2, rows = 2
        // group 0: column 1 dead; group 1: column 0 dead, NaN elsewhere
        let h: [Double] = [1, 0, 0, 0, 0, 0, 0, .nan]
        var w: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        #expect(throws: PTQError.hessianNotPositiveDefinite(group: 1)) {
            try GPTQ.update(weight: &w, groups: 2, rows: rows, columns: n, hessian: h, actOrder: false) { cur, cols in
                cols.enumerated().map { g, c in (0..<rows).map { r in cur[(g * rows + r) * n + c] } }
            }
        }
        #expect(w == [1, 0, 3, 0, 0, 6, 0, 8])
    }

    /// `H = (2/n)·Σ x xᵀ` over batches, as a running average: the BLAS accumulation agrees with
    /// a direct Float64 sum and is exactly symmetric.
    @Test func hessianMatchesADirectSum() {
        var hess = GPTQHessian(groups: 1, columns: 3)
        let b1: [Float] = [1, -2, 0.5, 3, 0, 1]  // [3, 2]
        let b2: [Float] = [0.25, 4, -1, 2, 2, -3, 1, 0, 0.5]  // [3, 3]
        hess.add([b1], samples: 2)
        hess.add([b2], samples: 3)
        var direct = [Double](repeating: 0, count: 9)
        for (x, m) in [(b1, 2), (b2, 3)] {
            for i in 0..<3 { for j in 0..<3 { for t in 0..<m { direct[i * 3 + j] += Double(x[i * m + t]) * Double(x[j * m + t]) } } }
        }
        for k in 0..<9 {
            #expect(abs(hess.h[k] - 2 * direct[k] / 5) <= 1e-12 * max(1, abs(direct[k])))
        }
        for i in 0..<3 { for j in 0..<3 { #expect(hess.h[i * 3 + j] == hess.h[j * 3 + i]) } }
        #expect(hess.samples == 5)
    }
}
