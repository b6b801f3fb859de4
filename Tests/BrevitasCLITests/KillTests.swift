import Foundation
import NN
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

@testable import BrevitasCLI

/// Interrupted work loses nothing: a `brevitas train` or `brevitas export` killed with SIGKILL
/// at random moments (the built binary, as a child process) leaves every file of the previous
/// run intact and readable. Every output is written to a temporary file and renamed over the
/// old one, so each file is always either the old version or a complete new one. The re-runs
/// use the previous run's arguments, and training is deterministic, so a complete new version
/// of a file written once per run is byte-identical to the old one.
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

    /// Runs `arguments` to completion once, then `kills` more times killed after a random delay
    /// in the first run's duration, checking the folder after each kill.
    static func killRepeatedly(_ arguments: [String], folder: URL, scratch: URL, kills: Int) throws {
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
            try expectIntact(folder, before: before, "\(arguments[0]) killed after \(String(format: "%.3f", delay)) s (kill \(k + 1))")
        }
    }

    @Test func killedTrainingAndExportKeepThePreviousOutputs() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let run = scratch.appendingPathComponent("run")
        try Self.killRepeatedly(Self.train + ["--out", run.path], folder: run, scratch: scratch, kills: 4)
        #expect(try Set(Self.snapshot(run).keys).isSuperset(of: ["model.safetensors", "config.json", "metrics.json", "curves.svg"]))
        try Self.killRepeatedly(["export", run.path, "--format", "qonnx"], folder: run, scratch: scratch, kills: 3)
        #expect(try Self.snapshot(run).keys.contains("model.qonnx.onnx"))
    }
}
