#if canImport(Accelerate)
    import Accelerate
#elseif canImport(COpenBLAS)
    import COpenBLAS
#endif

/// Single-precision GEMM through the platform BLAS (OpenBLAS on Linux, Accelerate on macOS):
/// `C = alpha · op(A) · op(B) + beta · C`, row-major.
///
/// BLAS runs its own threads: never call it from inside `Parallel` work. Products below
/// `singleThreadWork` multiply-adds run on one BLAS thread: handing tiny GEMMs (the convolutions
/// of a small CNN) to a second thread costs more than it saves.
public enum BLAS {
    /// Multiply-adds (m·n·k) below which a GEMM runs on one thread.
    public static let singleThreadWork = 1 << 21
    nonisolated(unsafe) static var configuredThreads = 0
    nonisolated(unsafe) static var activeThreads = 0

    static func useThreads(forWork work: Int) {
        #if !canImport(Accelerate) && canImport(COpenBLAS)
            if configuredThreads == 0 {
                configuredThreads = Int(openblas_get_num_threads())
                activeThreads = configuredThreads
            }
            let want = work < singleThreadWork ? 1 : configuredThreads
            if want != activeThreads {
                openblas_set_num_threads(Int32(want))
                activeThreads = want
            }
        #endif
    }

    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        useThreads(forWork: m * n * k)
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Sets the number of BLAS threads (no-op on macOS).
    public static func setThreads(_ n: Int) {
        #if !canImport(Accelerate) && canImport(COpenBLAS)
            openblas_set_num_threads(Int32(n))
            configuredThreads = n
            activeThreads = n
        #endif
    }

    /// The BLAS library and, for OpenBLAS, the CPU kernel set it selected at load time
    /// (`OPENBLAS_CORETYPE` overrides it) and its thread count.
    public static var info: String {
        #if canImport(Accelerate)
            return "Accelerate"
        #elseif canImport(COpenBLAS)
            let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
            return "OpenBLAS core \(core), \(openblas_get_num_threads()) threads"
        #else
            return "none"
        #endif
    }
}
