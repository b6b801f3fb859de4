import ArgumentParser
import Foundation
import TensorEngine

/// `brevitas bench`: the workloads of `bench_brevitas.py`, timed the same way.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the workloads of the reference bench_brevitas.py (same shapes, same LeNet).",
        discussion: """
            QuantReLU forward / forward+backward (during and after statistics collection), \
            QuantConv2d(64,64,3)+QuantReLU forward+backward against a float Conv2d+ReLU, and one SGD \
            step of the script's LeNet-5 (w4a4, 64x1x28x28) in float, during and after collection, \
            and with constant or learned activation scales (the script's torch fake-quant rows). \
            Median of repeated runs after 2 warm-up calls, as the script. With --threads above 1, \
            every row is also timed on one thread (columns "1 thread ms" and "scaling"; JSON fields \
            one_thread_median_ms, one_thread_min_ms, thread_speedup); the results do not depend on \
            the thread count.

            --json writes the script's schema with its row names, so the two files pair row by row; \
            --compare FILE (a JSON written by bench_brevitas.py --json) prints both side by side. \
            Compare figures measured one right after the other on a quiet machine.
            """)

    @Option(help: "Kernel and BLAS threads (the script's --threads).")
    var threads = 2

    @Flag(help: "Fewer repetitions and smaller large shapes (the script's --quick).")
    var quick = false

    @Option(help: "Only these workloads: relu (groups i, ii), conv (iii), lenet (iv, v), resnet (vi), formats (vii), ptq (the rows of ptq_brevitas.py, with --ptq-dir); repeatable.")
    var only: [BenchWorkloads.Family] = []

    @Option(help: ArgumentHelp("The folder ptq_brevitas.py --out wrote (float.onnx, calib.npy, test_x.npy, test_y.npy), for --only ptq.", valueName: "dir"),
            completion: .directory)
    var ptqDir: String?

    @Option(help: "Also write the results to this JSON file.", completion: .file(extensions: ["json"]))
    var json: String?

    @Option(help: "A bench_brevitas.py --json file to print side by side with these results.",
            completion: .file(extensions: ["json"]))
    var compare: String?

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be >= 1, got \(threads)") }
        if only.contains(.ptq) && ptqDir == nil { throw ValidationError("--only ptq needs --ptq-dir DIR (the folder ptq_brevitas.py --out wrote)") }
        if ptqDir != nil && !only.isEmpty && !only.contains(.ptq) { throw ValidationError("--ptq-dir is for --only ptq") }
        if ptqDir != nil && compare != nil && only != [.ptq] {
            throw ValidationError("with --ptq-dir, --compare takes a ptq_brevitas.py --json file: use it with --only ptq alone")
        }
    }

    func run() throws {
        if let ptqDir, only.isEmpty || only.contains(.ptq) {
            if let json { try AtomicFile.prepareDirectory(URL(fileURLWithPath: json).deletingLastPathComponent()) }
            Threads.apply(threads)
            print("swift-brevitas, threads \(Parallel.threadCount), \(BLAS.info); ptq rows on \(ptqDir)")
            let report = try PTQBench.run(dir: ptqDir, only: []) { print($0); fflush(stdout) }
            if let json {
                try AtomicFile.writeJSON(report, to: URL(fileURLWithPath: json))
                print("wrote \(json)")
            }
            if let compare { print(try PTQBench.render(report, reference: compare)) }
            if only == [.ptq] { return }
        }
        let reference = try compare.map(BenchComparison.loadReference)
        if let json { try AtomicFile.prepareDirectory(URL(fileURLWithPath: json).deletingLastPathComponent()) }
        Threads.apply(threads)
        print("swift-brevitas, threads \(Parallel.threadCount), \(BLAS.info)")
        var workloads = BenchWorkloads(quick: quick, threads: threads)
        workloads.report = { r in
            let one = r.one_thread_median_ms.map { String(format: "   1 thread %10.3f ms", $0) } ?? ""
            print("  \(r.group.padding(toLength: 5, withPad: " ", startingAt: 0)) \(r.name.padding(toLength: 52, withPad: " ", startingAt: 0)) "
                  + "\(r.shape.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(format: "%10.3f", r.median_ms)) ms\(one)")
            fflush(stdout)
        }
        try workloads.run(only.isEmpty ? Set(BenchWorkloads.Family.allCases) : Set(only))
        let rows = workloads.rows
        print("\ntensor allocator: \(CachingAllocator.shared.statistics)")
        print("")
        print("| group | benchmark | shape | median ms | min ms | reps | vs float | 1 thread ms | scaling |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for r in rows {
            let ratio = r.ratio_vs_float.map { String(format: "%.2fx", $0) } ?? ""
            let one = r.one_thread_median_ms.map { f($0, 3) } ?? ""
            let scaling = r.thread_speedup.map { String(format: "%.2fx", $0) } ?? ""
            print("| \(r.group) | \(r.name) | \(r.shape) | \(f(r.median_ms, 3)) | \(f(r.min_ms, 3)) | \(r.reps) | \(ratio) | \(one) | \(scaling) |")
        }
        if let json {
            let report = BenchReport(torch_version: "none", brevitas_version: "swift-brevitas", threads: Parallel.threadCount,
                                     rows: rows, implementation: "swift-brevitas", blas: BLAS.info,
                                     allocator: CachingAllocator.shared.statistics.description)
            try AtomicFile.writeJSON(report, to: URL(fileURLWithPath: json))
            print("\nwrote \(json)")
        }
        if let reference {
            print("")
            print(BenchComparison.render(ours: rows, reference: reference))
        }
    }
}

extension BenchWorkloads.Family: ExpressibleByArgument {}

/// Pairs our rows with a `bench_brevitas.py --json` file's.
enum BenchComparison {
    static func loadReference(_ path: String) throws -> BenchReport {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIError("cannot read \(path): \(AtomicFile.reason(error))")
        }
        do {
            try InputLimits.checkJSONDepth(data)
            return try JSONDecoder().decode(BenchReport.self, from: data)
        } catch let error as InputLimitExceeded {
            throw CLIError("\(path) is not a bench_brevitas.py --json file: it \(error)")
        } catch {
            throw CLIError("\(path) is not a bench_brevitas.py --json file: \(RunConfig.oneLine(RunConfig.describe(error)))")
        }
    }

    /// Rows matched by group, name, shape and order of appearance.
    static func pairs(ours: [BenchRow], reference: [BenchRow]) -> [(ours: BenchRow, reference: BenchRow?)] {
        var used = Set<Int>()
        return ours.map { r in
            let i = reference.indices.first { !used.contains($0) && reference[$0].group == r.group && reference[$0].name == r.name && reference[$0].shape == r.shape }
            if let i { used.insert(i) }
            return (r, i.map { reference[$0] })
        }
    }

    static func render(ours: [BenchRow], reference: BenchReport) -> String {
        var table = TextTable(["group", "benchmark", "shape", "Brevitas ms", "ours ms", "speed-up"],
                              alignments: [.left, .left, .left, .right, .right, .right])
        for (r, ref) in pairs(ours: ours, reference: reference.rows) {
            table.add([r.group, r.name, r.shape, ref.map { f($0.median_ms, 3) } ?? "—", f(r.median_ms, 3),
                       ref.map { f($0.median_ms / r.median_ms, 2) + "x" } ?? ""])
        }
        var lines = ["Against Brevitas \(reference.brevitas_version) (torch \(reference.torch_version), \(reference.threads) threads):",
                     table.render()]
        let targets: [(String, String, Double)] = [
            ("LeNet Brevitas w4a4: SGD step after collection", "64x1x28x28", 4),
            ("LeNet Brevitas w4a4: SGD step during collection", "64x1x28x28", 4),
            ("QuantConv2d(64,64,3,p=1)+QuantReLU fwd+bwd", "8x64x56x56", 2),
            ("QuantReLU train fwd+bwd (after collection)", "64x64x56x56", 40),
            ("ResNet-8 Brevitas w4a4: SGD step after collection", "32x3x32x32", 3),
        ]
        let paired = pairs(ours: ours, reference: reference.rows)
        for (name, shape, goal) in targets {
            guard let (r, ref) = paired.first(where: { $0.ours.name == name && $0.ours.shape == shape }), let ref else { continue }
            let speedup = ref.median_ms / r.median_ms
            lines.append("target \(name) \(shape): \(f(speedup, 2))x faster than Brevitas (goal >= \(f(goal, 0))x): "
                         + (speedup >= goal ? "met" : "MISSED"))
        }
        // Quantized rows that must be no slower than the reference's float PyTorch row.
        let floatTargets: [(String, String, String)] = [
            ("QuantConv2d(64,64,3,p=1)+QuantReLU fwd+bwd", "torch Conv2d+ReLU fwd+bwd (baseline)", "8x64x56x56"),
            ("QuantConv2d(64,64,3,p=1)+QuantReLU fwd+bwd", "torch Conv2d+ReLU fwd+bwd (baseline)", "32x64x56x56"),
            ("ResNet-8 Brevitas w4a4: SGD step after collection", "ResNet-8 float: SGD step", "32x3x32x32"),
        ]
        for (name, floatName, shape) in floatTargets {
            guard let r = ours.first(where: { $0.name == name && $0.shape == shape }),
                  let ref = reference.rows.first(where: { $0.name == floatName && $0.shape == shape }) else { continue }
            let ratio = ref.median_ms / r.median_ms
            lines.append("target \(name) \(shape): \(f(ratio, 2))x the speed of PyTorch's float \"\(floatName)\" (goal >= 1x): "
                         + (ratio >= 1 ? "met" : "MISSED"))
        }
        return lines.joined(separator: "\n")
    }
}
