#if canImport(Accelerate)
    import Accelerate
#elseif canImport(COpenBLAS)
    import COpenBLAS
#endif

/// Single-precision GEMM through the platform BLAS (OpenBLAS on Linux, Accelerate on macOS):
/// `C = alpha · op(A) · op(B) + beta · C`, row-major.
///
/// OpenBLAS always runs on the calling thread (its own thread pool is switched off: its idle
/// threads spin on `sched_yield` and take the cores away from everything else). Large products
/// are split here into blocks of rows or columns of `C` whose number depends only on the shape,
/// and the blocks run on `Parallel`'s workers. So results never depend on the thread count, and
/// `sgemm` may be called from inside `Parallel` work (it then runs its blocks on that thread).
public enum BLAS {
    /// Multiply-adds (m·n·k) per block of a split GEMM; smaller products are one block.
    public static let blockWork = 1 << 21
    /// Most blocks one GEMM is split into: one per core of these 2-core machines (every block
    /// packs the shared operand again, so more blocks than cores cost more than they balance).
    static let maxBlocks = 2
    /// Switches OpenBLAS's own threads off, once (a thread-safe lazy global).
    static let configured: Bool = {
        #if !canImport(Accelerate) && canImport(COpenBLAS)
            #if arch(x86_64) && canImport(Glibc)
                _ = selectCoreIfGeneric()
            #endif
            openblas_set_num_threads(1)
        #endif
        return true
    }()

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
        _ = configured
        let work = m * n * k
        let blocks = Swift.min(maxBlocks, work / blockWork)
        // Split the longer side of C, in multiples of 16 (the kernels' register tile).
        let splitColumns = n >= m
        let side = splitColumns ? n : m
        let step = Swift.max(16, (side + Swift.max(blocks, 1) * 16 - 1) / (Swift.max(blocks, 1) * 16) * 16)
        let count = (side + step - 1) / step
        if blocks < 2 || count < 2 {
            call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        Parallel.forRanges(count, costPerItem: work / count, minWork: 0) { r in
            for blk in r {
                let lo = blk * step, len = Swift.min(side, lo + step) - lo
                if splitColumns {
                    // Columns lo..<lo+len of op(B) and C.
                    let bb = transB ? b + lo * ldb : b + lo
                    call(transA, transB, m, len, k, alpha, a, lda, bb, ldb, beta, c + lo, ldc)
                } else {
                    // Rows lo..<lo+len of op(A) and C.
                    let aa = transA ? a + lo : a + lo * lda
                    call(transA, transB, len, n, k, alpha, aa, lda, b, ldb, beta, c + lo * ldc, ldc)
                }
            }
        }
    }

    @inline(__always)
    static func call(
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The BLAS library and, for OpenBLAS, the CPU kernel set in use (selected at load time,
    /// `OPENBLAS_CORETYPE` overrides it, `selectCoreIfGeneric` may upgrade it) and its thread count.
    public static var info: String {
        #if canImport(Accelerate)
            return "Accelerate"
        #elseif canImport(COpenBLAS)
            _ = configured
            let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
            return "OpenBLAS core \(core), split over \(Parallel.threadCount) thread\(Parallel.threadCount == 1 ? "" : "s")"
        #else
            return "none"
        #endif
    }
}
