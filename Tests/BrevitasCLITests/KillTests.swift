import Foundation
import NN
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

@testable import BrevitasCLI

/// Interrupted work loses nothing: a `brevitas train`, `export` or `quantize` killed with SIGKILL
/// at random moments (the built binary, as a child process) leaves every file of the previous
/// run intact and readable. Every output is written to a temporary file and renamed over the
/// old one (``AtomicWrite``), so each file is always either the old version or a complete new
/// one; `quantize` fills a temporary folder and exchanges it with the run folder in one step.
/// The re-runs use the previous run's arguments, and training and quantization are
/// deterministic, so a complete new version of a file written once per run is byte-identical to
/// the old one. The temporaries the kills leave (`.NAME.brevitas-tmp-PID-...`) are gone after
/// the next complete run.
@Suite(.serialized, .enabled(if: BrevitasBinary.url != nil, "skipped: the brevitas executable is not built"))
struct KillTests {
    static let train = ["train", "--epochs", "2", "--limit", "300", "--seed", "3", "--threads", "1"]

    /// The run folder's files (temporary files of an interrupted write left out) and their bytes.
    static func snapshot(_ dir: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where !name.hasPrefix(".") {
            files[name] = try Data(contentsOf: dir.appendingPathComponent(name))
        }
        return files
    }

    /// Checks each file of `before` against `dir` after a kill: still there and complete. Files
    /// written once per run (config, ONNX) are byte-identical to the old ones (the re-run is
    /// deterministic); those written after every epoch (checkpoint, metrics, curves) may hold the
    /// killed run's progress, but whole: the checkpoint reads back with the same tensors.
    static func expectIntact(_ dir: URL, before: [String: Data], _ context: String) throws {
        let after = try snapshot(dir)
        for (name, old) in before.sorted(by: { $0.key < $1.key }) {
            guard let new = after[name] else {
                Issue.record("\(context): \(name) is gone")
                continue
            }
            let same = new == old  // compared apart: a failing #expect on Data would diff 100 kB
            switch name {
            case "metrics.json":
                #expect((try? JSONSerialization.jsonObject(with: new)) != nil, "\(context): metrics.json is not complete JSON")
            case "curves.svg":
                #expect(String(decoding: new, as: UTF8.self).hasSuffix("</svg>\n"), "\(context): curves.svg is cut off")
            case _ where name.hasSuffix(".safetensors"):
                let oldKeys = try SafeTensors.decode(old, file: name).tensors.map { "\($0.key) \($0.tensor.shape)" }
                let newKeys = (try? SafeTensors.decode(new, file: name).tensors.map { "\($0.key) \($0.tensor.shape)" }) ?? []
                #expect(same || newKeys == oldKeys, "\(context): \(name) is not a complete checkpoint (\(new.count) bytes)")
            default:
                #expect(same, "\(context): \(name) changed (\(old.count) -> \(new.count) bytes)")
            }
            if name == "config.json" {
                #expect((try? RunConfig.load(dir.appendingPathComponent(name))) != nil, "\(context): config.json does not load")
            }
        }
    }

    /// The temporaries of interrupted writes in `dir` (``AtomicWrite/marker`` in the name).
    static func leftovers(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(AtomicWrite.marker) }.sorted()
    }

    /// Runs `arguments` to completion once, then `kills` more times killed after a random delay
    /// in the first run's duration, checking the folder after each kill (`check`, default
    /// ``expectIntact(_:before:_:)``), then once more to completion: that run removes every
    /// temporary the kills left in `folder` and in `parent` (default: none checked).
    ///
    /// A kill lands before the temporaries exist more often than not, so before that last run a
    /// temporary of each of `written` (targets the command writes) is planted as a killed
    /// process leaves it (a file, or a folder for a folder target, under the id of a process
    /// that has ended): the last run must remove those too.
    static func killRepeatedly(_ arguments: [String], folder: URL, parent: URL? = nil, written: [URL], scratch: URL, kills: Int,
                               check: ((_ before: [String: Data], _ context: String) throws -> Void)? = nil) throws {
        let started = Date()
        let first = try BrevitasBinary.run(arguments, scratch: scratch)
        try #require(first.status == 0, "\(arguments.joined(separator: " ")) failed: \(first.stderr)")
        let duration = Date().timeIntervalSince(started)
        let before = try snapshot(folder)
        var g = SystemRandomNumberGenerator()
        for k in 0..<kills {
            let delay = Double.random(in: 0.02...max(0.05, duration), using: &g)
            let (p, out, err) = try BrevitasBinary.start(arguments, scratch: scratch)
            usleep(useconds_t(delay * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
            let context = "\(arguments[0]) killed after \(String(format: "%.3f", delay)) s (kill \(k + 1))"
            if let check { try check(before, context) } else { try expectIntact(folder, before: before, context) }
        }
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        for target in written {
            let planted = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent)\(AtomicWrite.marker)\(ended.processIdentifier)-planted")
            try FileManager.default.createDirectory(at: planted.appendingPathComponent("half"), withIntermediateDirectories: true)
        }
        let last = try BrevitasBinary.run(arguments, scratch: scratch)
        try #require(last.status == 0, "\(arguments.joined(separator: " ")) failed after the kills: \(last.stderr)")
        for dir in [folder] + (parent.map { [$0] } ?? []) {
            let left = try leftovers(dir)
            #expect(left.isEmpty, "\(arguments[0]): temporaries left in \(dir.path) after a complete run: \(left)")
        }
    }

    @Test func killedTrainingAndExportKeepThePreviousOutputs() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let run = scratch.appendingPathComponent("run")
        try Self.killRepeatedly(Self.train + ["--out", run.path], folder: run,
                                written: ["model.safetensors", "config.json", "metrics.json", "curves.svg"].map(run.appendingPathComponent),
                                scratch: scratch, kills: 4)
        #expect(try Set(Self.snapshot(run).keys).isSuperset(of: ["model.safetensors", "config.json", "metrics.json", "curves.svg"]))
        try Self.killRepeatedly(["export", run.path, "--format", "qonnx"], folder: run, written: [run.appendingPathComponent("model.qonnx.onnx")],
                                scratch: scratch, kills: 3)
        #expect(try Self.snapshot(run).keys.contains("model.qonnx.onnx"))
    }

    /// `brevitas quantize` killed at random points, over and over, onto the same `--out`: the
    /// run folder there is at every instant the previous one, whole (the same files, the
    /// deterministic ones byte-identical, the report complete) and readable (``GraphRun/load(_:)``
    /// rebuilds its model); no file or folder of the killed run appears under a visible name, and
    /// only the killed processes' own temporaries are left beside it, until the next complete run.
    @Test func killedQuantizeKeepsThePreviousRunFolder() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let model = scratch.appendingPathComponent("float.onnx"), calib = scratch.appendingPathComponent("calib.npy")
        try FloatONNX.digitsCNN(FloatONNX.initialWeights()).write(to: model)
        try NumPy.write(Digits.load(.train).batch(at: Array(0..<128)).inputs, to: calib)
        let runs = scratch.appendingPathComponent("runs"), out = runs.appendingPathComponent("q")
        let arguments = ["quantize", model.path, "--calib", calib.path, "--out", out.path, "--threads", "1"]
        try Self.killRepeatedly(arguments, folder: out, parent: runs, written: [out], scratch: scratch, kills: 20) { before, context in
            let after = try Self.snapshot(out)
            #expect(after.keys.sorted() == before.keys.sorted(), "\(context): the files are \(after.keys.sorted()), were \(before.keys.sorted())")
            for (name, old) in before {
                guard let new = after[name] else { continue }
                switch name {
                case "report.json": #expect((try? JSONSerialization.jsonObject(with: new)) != nil, "\(context): report.json is not complete JSON")
                case "report.txt": #expect(!new.isEmpty && new.last == 0x0A, "\(context): report.txt is cut off")
                default: #expect(new == old, "\(context): \(name) changed (\(old.count) -> \(new.count) bytes)")
                }
            }
            #expect((try? GraphRun.load(out)) != nil, "\(context): the run folder does not load")
            let visible = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { !$0.hasPrefix(".") }
            #expect(visible == ["q"], "\(context): \(runs.path) holds \(visible)")
            for name in try Self.leftovers(runs) {
                #expect(name.hasPrefix(".q\(AtomicWrite.marker)"), "\(context): \(name) beside the run folder")
            }
        }
        #expect(try Set(Self.snapshot(out).keys).isSuperset(of: ["model.safetensors", "config.json", "float.onnx", "report.json", "model.qcdq.onnx"]))
    }
}
