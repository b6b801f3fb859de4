import Dispatch

/// Splits loops over two (or more) cores with a static partition, so results never depend on the
/// number of threads: every chunk computes exactly what a single thread would.
public enum Parallel {
    /// Number of worker threads used for large kernels (defaults to the number of cores).
    nonisolated(unsafe) public static var threadCount: Int = max(1, System.coreCount)

    /// Runs `body` over `0..<n` split into contiguous ranges, in parallel when the work
    /// (`n * costPerItem`) is large enough to amortise the hand-off.
    @inline(__always)
    public static func forRanges(
        _ n: Int, costPerItem: Int = 1, minWork: Int = 1 << 18, _ body: (Range<Int>) -> Void
    ) {
        let threads = threadCount
        if threads <= 1 || n < 2 || n * costPerItem < minWork {
            if n > 0 { body(0..<n) }
            return
        }
        let chunks = min(threads, n)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Facts about the host.
public enum System {
    /// Active processor count.
    public static var coreCount: Int {
        #if canImport(Foundation)
            return _coreCount()
        #else
            return 1
        #endif
    }
}

#if canImport(Foundation)
    import Foundation
    @inline(never) func _coreCount() -> Int { ProcessInfo.processInfo.activeProcessorCount }
#endif
