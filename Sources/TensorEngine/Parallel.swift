import Dispatch

#if os(Linux) && canImport(Synchronization)
    import Synchronization
    #if canImport(Glibc)
        import Glibc
    #endif
#endif

/// Splits loops over the cores with fixed chunk boundaries, so results never depend on the
/// number of threads: every chunk computes exactly what a single thread would, only who runs it
/// varies.
///
/// On Linux the work goes to a persistent worker pool (spin briefly, then park): the calling
/// thread starts on the chunks at once and the workers claim the remaining ones, so a worker that
/// is slow to wake (or descheduled on a busy machine) never delays the caller by more than the
/// chunk it already holds. Elsewhere `DispatchQueue.concurrentPerform` is used.
///
/// `BLAS.sgemm` may be called from inside a `forRanges` body: nested calls run on the calling
/// thread.
public enum Parallel {
    /// Number of threads used for large kernels (defaults to the number of cores); 1 turns
    /// threading off.
    nonisolated(unsafe) public static var threadCount: Int = max(1, System.coreCount)

    /// Runs `body` over `0..<n` split into contiguous ranges, in parallel when the work
    /// (`n * costPerItem`, roughly in element operations) reaches `minWork`; below that the
    /// hand-off costs more than it saves.
    public static func forRanges(
        _ n: Int, costPerItem: Int = 1, minWork: Int = 1 << 15, _ body: (Range<Int>) -> Void
    ) {
        let threads = threadCount
        if threads <= 1 || n < 2 || n * Swift.max(costPerItem, 1) < minWork {
            if n > 0 { body(0..<n) }
            return
        }
        // Chunks of at least ~8K element operations, about 4 per thread.
        let minItems = Swift.max(1, (1 << 13) / Swift.max(costPerItem, 1))
        let chunks = Swift.max(2, Swift.min(threads * 4, n / minItems))
        #if os(Linux) && canImport(Synchronization)
            if WorkerPool.shared.run(n: n, chunks: chunks, threads: threads, body) { return }
            body(0..<n)
        #else
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = n * c / chunks, hi = n * (c + 1) / chunks
                if lo < hi { body(lo..<hi) }
            }
        #endif
    }
}

#if os(Linux) && canImport(Synchronization)
    /// Persistent worker threads that claim chunks of the current job.
    ///
    /// `state` packs the job generation (high 32 bits) and the number of unclaimed chunks (low 32
    /// bits; chunks are claimed from the last one down). A thread claims a chunk with a
    /// compare-and-swap that fails if the job changed or has no chunk left, and reads the job's
    /// fields only after a successful claim: the submitter cannot finish (and overwrite them)
    /// before every claimed chunk is done.
    final class WorkerPool: @unchecked Sendable {
        static let shared = WorkerPool()

        private let state = Atomic<Int>(0)
        private let done = Atomic<Int>(0)
        private let busy = Atomic<Bool>(false)
        private let sleepers = Atomic<Int>(0)
        private let workerCount = Atomic<Int>(0)
        // Job fields, written by the submitter before publishing `state`.
        private var body: ((Range<Int>) -> Void)? = nil
        private var n = 0
        private var chunks = 0
        private var activeWorkers = 0
        // Heap-allocated so their addresses are stable.
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private var spawned = 0

        private init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(cond, nil)
        }

        /// Runs the job on the caller plus up to `threads - 1` workers. Returns `false` (having
        /// run nothing) when the pool is in use, e.g. by another thread or a nested call.
        func run(n: Int, chunks: Int, threads: Int, _ body: (Range<Int>) -> Void) -> Bool {
            guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
                return false
            }
            ensureWorkers(threads - 1)
            withoutActuallyEscaping(body) { esc in
                self.body = esc
                self.n = n
                self.chunks = chunks
                self.activeWorkers = threads - 1
                done.store(0, ordering: .relaxed)
                let gen = (state.load(ordering: .relaxed) >> 32) &+ 1
                state.store((gen & 0x7fff_ffff) << 32 | chunks, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(cond)
                    pthread_mutex_unlock(mutex)
                }
                // Work alongside the workers.
                var mine = 0
                while let c = claim(generation: gen & 0x7fff_ffff) {
                    esc(range(c))
                    mine += 1
                }
                if mine > 0 { done.add(mine, ordering: .releasing) }
                var spins = 0
                while done.load(ordering: .acquiring) < chunks {
                    spins += 1
                    if spins > 64 { sched_yield() }
                }
                self.body = nil
            }
            busy.store(false, ordering: .releasing)
            return true
        }

        @inline(__always) private func range(_ c: Int) -> Range<Int> { (n * c / chunks)..<(n * (c + 1) / chunks) }

        /// Claims the next chunk of job `generation`, or `nil` when the job is finished or
        /// replaced.
        @inline(__always) private func claim(generation: Int) -> Int? {
            var s = state.load(ordering: .acquiring)
            while true {
                let left = s & 0xffff_ffff
                if s >> 32 != generation || left == 0 { return nil }
                let (exchanged, original) = state.compareExchange(
                    expected: s, desired: s - 1, ordering: .acquiringAndReleasing)
                if exchanged { return left - 1 }
                s = original
            }
        }

        private func ensureWorkers(_ count: Int) {
            while spawned < count {
                let index = spawned
                spawned += 1
                workerCount.add(1, ordering: .relaxed)
                let t = Thread { [unowned self] in self.workerLoop(index) }
                t.start()
            }
        }

        private func workerLoop(_ index: Int) {
            var seen = 0
            while true {
                // Spin (yielding) for the next job for about a millisecond, then park: the serial stretches
                // between the kernels of a training step are shorter, and a futex wake-up costs more.
                var s = state.load(ordering: .acquiring)
                var spins = 0
                while s >> 32 == seen {
                    spins += 1
                    if spins > 40_000 {
                        pthread_mutex_lock(mutex)
                        sleepers.add(1, ordering: .sequentiallyConsistent)
                        while state.load(ordering: .sequentiallyConsistent) >> 32 == seen {
                            pthread_cond_wait(cond, mutex)
                        }
                        sleepers.subtract(1, ordering: .relaxed)
                        pthread_mutex_unlock(mutex)
                        spins = 0
                    } else if spins & 63 == 0 {
                        sched_yield()
                    }
                    s = state.load(ordering: .acquiring)
                }
                seen = s >> 32
                var mine = 0
                while let c = claim(generation: seen) {
                    if index >= activeWorkers {
                        // More workers than the current thread count: hand the chunk back by
                        // running it anyway (it is claimed), then stop taking new ones.
                        body!(range(c))
                        mine += 1
                        break
                    }
                    body!(range(c))
                    mine += 1
                }
                if mine > 0 { done.add(mine, ordering: .releasing) }
            }
        }
    }

    import Foundation
#endif

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
