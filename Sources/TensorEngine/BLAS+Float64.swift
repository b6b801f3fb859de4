#if canImport(Accelerate)
    import Accelerate
#elseif canImport(COpenBLAS)
    import COpenBLAS
#endif

/// Double-precision products through the platform BLAS, for the Float64 statistics of the
/// post-training algorithms (GPTQ's and GPFQ's Hessians). One call on the calling thread (the
/// matrices are `columns × columns`, small next to the convolutions), so results never depend on
/// the thread count.
extension BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, Float64.
    public static func dgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "BLAS.dgemm: negative size m \(m), n \(n), k \(k)")
        if m == 0 || n == 0 { return }
        _ = configured
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C = alpha · A · Aᵀ + beta · C` for row-major `A` `[n, k]` and `C` `[n, n]`: the upper
    /// triangle by `dsyrk`, then mirrored, so `C` is exactly symmetric.
    public static func dsyrk(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int, beta: Double,
                             c: UnsafeMutablePointer<Double>, ldc: Int) {
        precondition(n >= 0 && k >= 0, "BLAS.dsyrk: negative size n \(n), k \(k)")
        if n == 0 { return }
        _ = configured
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
        for i in 0..<n { for j in 0..<i { c[i * ldc + j] = c[j * ldc + i] } }
    }
}
