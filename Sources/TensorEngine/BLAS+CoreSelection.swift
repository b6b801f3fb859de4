#if !canImport(Accelerate) && canImport(COpenBLAS) && arch(x86_64) && canImport(Glibc)
    import CKernels
    import COpenBLAS
    import Glibc

    /// Choosing OpenBLAS's kernels where its own detection falls short.
    ///
    /// An OpenBLAS built with `DYNAMIC_ARCH` (Debian's, Ubuntu's) picks its kernels at load time
    /// from the processor's family and model numbers. On virtual machines that report a generic
    /// model ("Intel(R) Xeon(R) Processor") it falls back to the `Prescott` (SSE3) kernels, which
    /// run a convolution's GEMMs 2–3 times slower than the AVX2 or AVX-512 kernels the processor
    /// has (`brevitas bench --only conv --threads 1`, 8x64x56x56: 474 ms with Prescott, 185 ms
    /// with SkylakeX on the same machine).
    ///
    /// When the user has not chosen (`OPENBLAS_CORETYPE` unset) and OpenBLAS runs kernels
    /// without AVX2, this selects the best kernels the processor's features allow (`SkylakeX`
    /// with AVX-512 F/CD/BW/DQ/VL, `Haswell` with AVX2 and FMA), through OpenBLAS's own
    /// re-initialisation: `gotoblas_dynamic_quit` then `gotoblas_dynamic_init`, which reads
    /// `OPENBLAS_CORETYPE`. It runs once, before the first BLAS call (`BLAS.configured`). An
    /// OpenBLAS without those entry points (not `DYNAMIC_ARCH`) is left as it is.
    ///
    /// Results do not depend on the thread count either way; they may differ from the generic
    /// kernels' by float rounding (another summation order inside the GEMMs).
    extension BLAS {
        /// OpenBLAS cores without AVX2 (lower-cased, as `openblas_get_corename` reports them).
        static let coresWithoutAVX2: Set<String> = [
            "prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "atom", "katmai", "coppermine",
            "northwood", "banias", "unknown",
        ]

        /// Selects better kernels when OpenBLAS fell back to generic ones; returns the core now in
        /// use when it changed it, `nil` otherwise.
        static func selectCoreIfGeneric() -> String? {
            if getenv("OPENBLAS_CORETYPE") != nil { return nil }
            guard let current = openblas_get_corename().map({ String(cString: $0) }),
                  coresWithoutAVX2.contains(current.lowercased())
            else { return nil }
            let wanted: String
            switch ck_vector_level() {
            case 2: wanted = "SkylakeX"
            case 1: wanted = "Haswell"
            default: return nil
            }
            // dlsym(RTLD_DEFAULT, …): found only in a DYNAMIC_ARCH build.
            guard let quit = dlsym(nil, "gotoblas_dynamic_quit"), let initialise = dlsym(nil, "gotoblas_dynamic_init") else {
                return nil
            }
            typealias Entry = @convention(c) () -> Void
            setenv("OPENBLAS_CORETYPE", wanted, 1)
            unsafeBitCast(quit, to: Entry.self)()
            unsafeBitCast(initialise, to: Entry.self)()
            unsetenv("OPENBLAS_CORETYPE")
            return openblas_get_corename().map { String(cString: $0) }
        }
    }
#endif
