import Foundation
import Testing

@testable import BrevitasCLI

/// The pieces of the reports: tables, curves, bench bookkeeping.
@Suite struct ReportTests {
    @Test func benchRowsPairWithTheReferenceByNameShapeAndOrder() {
        func row(_ name: String, _ shape: String, _ ms: Double) -> BenchRow {
            BenchRow(group: "i", name: name, shape: shape, median_ms: ms, min_ms: ms, reps: 5, note: "")
        }
        let ours = [row("a", "1", 1), row("b", "1", 2), row("a", "1", 3), row("c", "1", 4)]
        let reference = [row("a", "1", 10), row("a", "1", 30), row("b", "1", 20)]
        let pairs = BenchComparison.pairs(ours: ours, reference: reference)
        #expect(pairs.map { $0.reference?.median_ms } == [10, 20, 30, nil])
    }

    @Test func benchTimerMedianIsPythons() {
        #expect(BenchTimer.median([3, 1, 2]) == 2)
        #expect(BenchTimer.median([4, 1, 3, 2]) == 2.5)
        var calls = 0
        let r = BenchTimer(minReps: 3, maxReps: 4, budget: 0).time { calls += 1 }
        #expect(r.reps == 3 && calls == 5)
    }

    @Test func benchJSONHasTheScriptsKeys() throws {
        let report = BenchReport(torch_version: "none", brevitas_version: "swift-brevitas", threads: 2,
                                 rows: [BenchRow(group: "iv", name: "LeNet float: SGD step", shape: "64x1x28x28", median_ms: 1,
                                                 min_ms: 1, reps: 5, note: "", ratio_vs_float: nil)])
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as! [String: Any]
        #expect(Set(object.keys).isSuperset(of: ["torch_version", "brevitas_version", "threads", "rows"]))
        let row = (object["rows"] as! [[String: Any]])[0]
        #expect(Set(row.keys) == ["group", "name", "shape", "median_ms", "min_ms", "reps", "note"])
    }

    /// With two threads every row is timed on two threads and then on one, and both land in the
    /// row; the thread count is restored afterwards.
    @Test func benchTimesEveryRowOnOneThreadToo() throws {
        var workloads = BenchWorkloads(quick: true, threads: 2)
        var current = 0, seen: [Int] = []
        workloads.setThreads = { current = $0 }
        workloads.add("i", "probe", "1") { seen.append(current) }
        #expect(seen.count >= 2 * (2 + 3))
        #expect(Set(seen) == [1, 2] && seen.first == 2 && seen.last == 1)
        #expect(current == 2)
        let row = try #require(workloads.rows.first)
        let one = try #require(row.one_thread_median_ms)
        #expect(row.thread_speedup == one / row.median_ms)
        let decoded = try JSONDecoder().decode(BenchRow.self, from: JSONEncoder().encode(row))
        #expect(decoded == row)
        var single = BenchWorkloads(quick: true, threads: 1)
        single.setThreads = { _ in }
        single.add("i", "probe", "1") {}
        #expect(single.rows[0].one_thread_median_ms == nil && single.rows[0].thread_speedup == nil)
    }

    @Test func tablesAlignColumns() {
        var t = TextTable(["model", "accuracy"])
        t.add(["float", "97.50%"])
        t.add(["quantized (w4 a4 in8)", "96.11%"])
        let lines = t.render().split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && Set(lines.map(\.count)).count == 1)
        #expect(lines[3].hasSuffix("96.11%"))
    }

    @Test func curvesSeparateFloatAndQAT() {
        func epoch(_ phase: String, _ i: Int) -> EpochResult {
            EpochResult(phase: phase, epoch: i, loss: 1 / Double(i), trainAccuracy: 0.5, testAccuracy: 0.6, testLoss: 1,
                        learningRate: 0.01, seconds: 1, samplesPerSecond: 100)
        }
        let svg = CurvesSVG.render([epoch("float", 1), epoch("float", 2), epoch("qat", 1)], title: "a < b")
        #expect(svg.contains(">QAT</text>") && svg.contains("a &lt; b"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 4)
    }
}
