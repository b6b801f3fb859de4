#if !canImport(Accelerate) && arch(x86_64) && canImport(Glibc)
    import CKernels
    import Glibc
    import Testing
    import TestSupport
    @testable import TensorEngine

    /// OpenBLAS runs kernels that use the processor's vector instructions: where its own
    /// detection fell back to a generic core (unrecognised virtual CPUs), `BLAS.configured`
    /// upgraded it; a GEMM through the selected kernels is still right.
    @Suite struct BLASCoreSelectionTests {
        @Test func kernelsUseTheProcessorsVectorInstructions() throws {
            _ = BLAS.configured
            let core = BLAS.info
            let dynamic = dlsym(nil, "gotoblas_dynamic_init") != nil
            if getenv("OPENBLAS_CORETYPE") == nil && dynamic && ck_vector_level() >= 1 {
                let name = try #require(core.split(separator: " ").dropFirst(2).first).filter { $0 != "," }.lowercased()
                #expect(!BLAS.coresWithoutAVX2.contains(name), "OpenBLAS still runs generic kernels: \(core)")
            }
            // A product with an exact answer in floats: A·B with small integers.
            let m = 37, n = 45, k = 53
            let a = (0..<(m * k)).map { Float($0 % 7) - 3 }, b = (0..<(k * n)).map { Float($0 % 5) - 2 }
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!,
                                   ldb: n, c: pc.baseAddress!, ldc: n)
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for t in 0..<k { s += a[i * k + t] * b[t * n + j] }
                    #expect(c[i * n + j] == s, "C[\(i), \(j)]")
                }
            }
        }
    }
#endif
