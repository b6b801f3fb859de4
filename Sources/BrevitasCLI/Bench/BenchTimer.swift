import Foundation

/// Timing as `bench_brevitas.py` does it: 2 warm-up calls, then at least `minReps` timed calls,
/// more while the time budget lasts, at most `maxReps`; the median and the minimum.
struct BenchTimer {
    var minReps: Int
    var maxReps: Int
    var budget: Double

    struct Result {
        var median: Double
        var min: Double
        var reps: Int
    }

    func time(reps: Int? = nil, warmup: Int = 2, _ body: () throws -> Void) rethrows -> Result {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        let atLeast = reps ?? minReps
        while times.count < maxReps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            let t1 = DispatchTime.now().uptimeNanoseconds
            times.append(Double(t1 - t0) / 1e9)
            if times.count >= atLeast && Double(t1 - start) / 1e9 > budget { break }
        }
        return Result(median: Self.median(times), min: times.min() ?? 0, reps: times.count)
    }

    /// The median as Python's `statistics.median`: the mean of the two middle values for an even
    /// count.
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// One row of `--json`, named as `bench_brevitas.py` names its rows. `median_ms`/`min_ms`/`reps`
/// are measured with `--threads` threads (the script's figures); the `one_thread_*` fields with one
/// thread, on the same workload right before, so `thread_speedup = one_thread_median_ms / median_ms`
/// is the row's scaling (absent when `--threads` is 1 or the file comes from the script).
struct BenchRow: Codable, Equatable {
    var group: String
    var name: String
    var shape: String
    var median_ms: Double
    var min_ms: Double
    var reps: Int
    var note: String
    var ratio_vs_float: Double?
    var one_thread_median_ms: Double?
    var one_thread_min_ms: Double?
    var thread_speedup: Double?

    init(group: String, name: String, shape: String, median_ms: Double, min_ms: Double, reps: Int, note: String,
         ratio_vs_float: Double? = nil, one_thread_median_ms: Double? = nil, one_thread_min_ms: Double? = nil) {
        (self.group, self.name, self.shape, self.note) = (group, name, shape, note)
        (self.median_ms, self.min_ms, self.reps, self.ratio_vs_float) = (median_ms, min_ms, reps, ratio_vs_float)
        self.one_thread_median_ms = one_thread_median_ms
        self.one_thread_min_ms = one_thread_min_ms
        thread_speedup = one_thread_median_ms.map { median_ms > 0 ? $0 / median_ms : 0 }
    }
}

/// The `--json` document: `bench_brevitas.py`'s keys, with this implementation's versions.
struct BenchReport: Codable {
    var torch_version: String
    var brevitas_version: String
    var threads: Int
    var rows: [BenchRow]
    var implementation: String?
    var blas: String?
    /// The tensor allocator's statistics at the end of the run (`CachingAllocator.Statistics`).
    var allocator: String? = nil
}
