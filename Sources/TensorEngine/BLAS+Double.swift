#if canImport(Accelerate)
    import Accelerate
#elseif canImport(COpenBLAS)
    import COpenBLAS
#endif

extension BLAS {
    /// Double-precision GEMM on the calling thread: `C = op(A) · op(B) + beta · C`, row-major
    /// (`A` is `m × k` after `op`, `B` is `k × n`, `C` is `m × n`).
    ///
    /// Integers whose products and partial sums stay below 2^53 in magnitude are exact in double
    /// precision whatever the summation order: the integer executor runs its convolutions and
    /// linear layers through this with accumulators it has proved smaller than 2^47.
    ///
    /// ```swift
    /// BLAS.dgemm(transA: false, transB: true, m: 2, n: 3, k: 4, a: x, lda: 4, b: w, ldb: 4, c: out, ldc: 3)
    /// ```
    public static func dgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        _ = configured
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
