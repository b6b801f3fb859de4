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

/// One row of `--json`, named as `bench_brevitas.py` names its rows.
struct BenchRow: Codable, Equatable {
    var group: String
    var name: String
    var shape: String
    var median_ms: Double
    var min_ms: Double
    var reps: Int
    var note: String
    var ratio_vs_float: Double?
}

/// The `--json` document: `bench_brevitas.py`'s keys, with this implementation's versions.
struct BenchReport: Codable {
    var torch_version: String
    var brevitas_version: String
    var threads: Int
    var rows: [BenchRow]
    var implementation: String?
    var blas: String?
}
