import Foundation
import NN
import TensorEngine
import Testing
import TestSupport

@testable import BrevitasCLI

/// Every subcommand that reads a file, given that file empty, truncated, random or of the wrong
/// kind, run as the built `brevitas` binary: it exits with a non-zero status (not a signal, not a
/// hang) and prints exactly one line, `Error: ...`, that names the file; no stack trace.
@Suite(.serialized, .enabled(if: BrevitasBinary.url != nil, "skipped: the brevitas executable is not built"))
struct BadFileTests {
    /// A subcommand reading one file: its arguments given the file's path, the folder the file
    /// must be in, its name there, valid bytes of its kind (the truncated case keeps half of
    /// them) and valid bytes of another kind.
    struct Slot {
        var name: String
        var fileName: String
        var arguments: (_ file: String, _ scratch: URL) -> [String]
        var valid: Data
        var wrongKind: Data
    }

    /// Valid files of each kind, written with the library's own writers, and a graph run folder
    /// (`brevitas quantize` of a small digits CNN) whose files are copied next to each bad file.
    final class Files {
        let npy: Data, safetensors: Data, onnx: Data, config: Data, idx: Data, cifar: Data
        /// The digits CNN (`[N, 1, 8, 8]` inputs), 32 digits for it, their labels, a conformance case.
        let digitsONNX: Data, calib: Data, labels: Data, conformanceCase: Data
        /// A folder holding the graph run `grun` (model, calibration and test data beside it).
        let home: URL

        init() throws {
            npy = NumPy.encode(NumPyArray(shape: [1, 2, 4, 4], values: .float32((0..<32).map { Float($0) / 32 })))
            safetensors = SafeTensors.encode(["features.0.weight": Tensor(shape: [2, 2], [1, 2, 3, 4]), "classifier.bias": Tensor(shape: [2], [0, 1])])
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            onnx = try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzONNXImport/corpus/conv-relu.onnx"))
            config = try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzRunConfig/corpus/lenet-digits.json"))
            conformanceCase = try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzConformanceCase/corpus/cat_default.json"))
            idx = Data(idxHeader(type: 0x08, shape: [2, 28, 28]) + [UInt8](repeating: 7, count: 2 * 28 * 28))
            cifar = Data([3] + [UInt8](repeating: 100, count: 3072))
            digitsONNX = FloatONNX.digitsCNN(FloatONNX.initialWeights())
            let digits = try Digits.load(.test).batch(at: Array(0..<32))
            calib = NumPy.encode(NumPyArray(shape: digits.inputs.shape, values: .float32(digits.inputs.scalars)))
            labels = NumPy.encode(NumPyArray(shape: [32], values: .int64(digits.labels.map(Int64.init))))
            home = try temporaryDirectory()
            try Self.writeData(self, to: home)
            let run = QuantizeRun(model: home.appendingPathComponent("digits.onnx").path, calib: home.appendingPathComponent("calib.npy").path,
                                  test: home.appendingPathComponent("calib.npy").path, labels: home.appendingPathComponent("labels.npy").path,
                                  settings: QuantizeSettings(), out: home.appendingPathComponent("grun").path,
                                  progress: Progress(live: false, write: { _ in }), print: { _ in })
            try run.execute()
        }

        deinit { try? FileManager.default.removeItem(at: home) }

        /// The digits model and data under `dir`: `digits.onnx`, `calib.npy`, `labels.npy`.
        static func writeData(_ f: Files, to dir: URL) throws {
            try f.digitsONNX.write(to: dir.appendingPathComponent("digits.onnx"))
            try f.calib.write(to: dir.appendingPathComponent("calib.npy"))
            try f.labels.write(to: dir.appendingPathComponent("labels.npy"))
        }

        /// The bytes of a file of the graph run.
        func graphRun(_ name: String) throws -> Data { try Data(contentsOf: home.appendingPathComponent("grun/\(name)")) }
    }

    static func slots(_ f: Files) throws -> [Slot] {
        func quantize(_ model: String, _ rest: [String], _ s: URL) -> [String] {
            ["quantize", model] + rest + ["--out", s.appendingPathComponent("q").path]
        }
        func path(_ s: URL, _ name: String) -> String { s.appendingPathComponent(name).path }
        return [
            Slot(name: "eval CHECKPOINT", fileName: "model.safetensors", arguments: { f, _ in ["eval", f] }, valid: f.safetensors, wrongKind: f.npy),
            Slot(name: "inspect CHECKPOINT", fileName: "model.safetensors", arguments: { f, _ in ["inspect", f] }, valid: f.safetensors, wrongKind: f.onnx),
            Slot(name: "inspect MODEL.onnx", fileName: "m.onnx", arguments: { f, _ in ["inspect", f] }, valid: f.onnx, wrongKind: f.safetensors),
            Slot(name: "export CHECKPOINT", fileName: "model.safetensors",
                 arguments: { ["export", $0, "-o", $1.appendingPathComponent("out.onnx").path] }, valid: f.safetensors, wrongKind: f.config),
            Slot(name: "verify CHECKPOINT", fileName: "model.safetensors", arguments: { f, _ in ["verify", f] }, valid: f.safetensors, wrongKind: f.idx),
            Slot(name: "deploy CHECKPOINT", fileName: "model.safetensors",
                 arguments: { ["deploy", $0, "--out", $1.appendingPathComponent("c").path] }, valid: f.safetensors, wrongKind: f.npy),
            Slot(name: "eval RUN (config.json)", fileName: "run/config.json",
                 arguments: { f, _ in ["eval", URL(fileURLWithPath: f).deletingLastPathComponent().path] }, valid: f.config, wrongKind: f.safetensors),
            Slot(name: "run MODEL.onnx", fileName: "m.onnx",
                 arguments: { ["run", $0, "--input", $1.appendingPathComponent("good.npy").path, "--out", $1.appendingPathComponent("y.npy").path] },
                 valid: f.onnx, wrongKind: f.npy),
            Slot(name: "run --input X.npy", fileName: "x.npy",
                 arguments: { ["run", $1.appendingPathComponent("good.onnx").path, "--input", $0, "--out", $1.appendingPathComponent("y.npy").path] },
                 valid: f.npy, wrongKind: f.onnx),
            Slot(name: "train --from-float", fileName: "float.safetensors",
                 arguments: { ["train", "--from-float", $0, "--epochs", "1", "--limit", "20", "--out", $1.appendingPathComponent("r").path] },
                 valid: f.safetensors, wrongKind: f.config),
            Slot(name: "train --dataset mnist", fileName: "mnist/train-images-idx3-ubyte",
                 arguments: { _, s in ["train", "--dataset", "mnist", "--data-dir", s.appendingPathComponent("mnist").path, "--epochs", "1",
                                       "--out", s.appendingPathComponent("r").path] },
                 valid: f.idx, wrongKind: f.npy),
            Slot(name: "train --dataset cifar10", fileName: "cifar/data_batch_1.bin",
                 arguments: { _, s in ["train", "--dataset", "cifar10", "--data-dir", s.appendingPathComponent("cifar").path, "--epochs", "1",
                                       "--out", s.appendingPathComponent("r").path] },
                 valid: f.cifar, wrongKind: f.idx),
            Slot(name: "bench --compare", fileName: "ref.json",
                 arguments: { f, _ in ["bench", "--quick", "--only", "relu", "--compare", f] }, valid: Data(#"{"rows": [], "threads": 1}"#.utf8), wrongKind: f.npy),
            Slot(name: "run --expect Y.npy", fileName: "y.npy",
                 arguments: { ["run", path($1, "good.onnx"), "--input", path($1, "good.npy"), "--out", path($1, "out.npy"), "--expect", $0] }, valid: f.npy, wrongKind: f.onnx),
            // brevitas quantize: the model and each data file.
            Slot(name: "quantize MODEL.onnx", fileName: "m.onnx",
                 arguments: { quantize($0, ["--calib", path($1, "calib.npy")], $1) }, valid: f.digitsONNX, wrongKind: f.npy),
            Slot(name: "quantize --calib X.npy", fileName: "c.npy",
                 arguments: { quantize(path($1, "digits.onnx"), ["--calib", $0], $1) }, valid: f.calib, wrongKind: f.onnx),
            Slot(name: "quantize --test X.npy", fileName: "t.npy",
                 arguments: { quantize(path($1, "digits.onnx"), ["--calib", path($1, "calib.npy"), "--test", $0], $1) }, valid: f.calib, wrongKind: f.safetensors),
            Slot(name: "quantize --labels Y.npy", fileName: "l.npy",
                 arguments: { quantize(path($1, "digits.onnx"), ["--calib", path($1, "calib.npy"), "--test", path($1, "calib.npy"), "--labels", $0], $1) },
                 valid: f.labels, wrongKind: f.config),
            // A run folder of brevitas quantize, read by eval (and every command that loads it: GraphRun.load).
            Slot(name: "eval QUANTIZE-RUN (config.json)", fileName: "grun/config.json",
                 arguments: { _, s in ["eval", path(s, "grun")] }, valid: try f.graphRun("config.json"), wrongKind: f.safetensors),
            Slot(name: "eval QUANTIZE-RUN (model.safetensors)", fileName: "grun/model.safetensors",
                 arguments: { _, s in ["eval", path(s, "grun")] }, valid: try f.graphRun("model.safetensors"), wrongKind: f.npy),
            Slot(name: "export QUANTIZE-RUN (float.onnx)", fileName: "grun/float.onnx",
                 arguments: { _, s in ["export", path(s, "grun"), "-o", path(s, "out.onnx")] }, valid: try f.graphRun("float.onnx"), wrongKind: f.config),
            Slot(name: "eval QUANTIZE-RUN --test X.npy", fileName: "t.npy",
                 arguments: { ["eval", path($1, "grun"), "--test", $0, "--labels", path($1, "labels.npy")] }, valid: f.calib, wrongKind: f.onnx),
            Slot(name: "eval QUANTIZE-RUN --labels Y.npy", fileName: "l.npy",
                 arguments: { ["eval", path($1, "grun"), "--test", path($1, "calib.npy"), "--labels", $0] }, valid: f.labels, wrongKind: f.npy),
            Slot(name: "train --from QUANTIZE-RUN (model.safetensors)", fileName: "grun/model.safetensors",
                 arguments: { _, s in ["train", "--from", path(s, "grun"), "--train-x", path(s, "calib.npy"), "--train-y", path(s, "labels.npy"),
                                       "--epochs", "1", "--out", path(s, "r")] },
                 valid: try f.graphRun("model.safetensors"), wrongKind: f.onnx),
            Slot(name: "train --train-x X.npy", fileName: "t.npy",
                 arguments: { ["train", "--from", path($1, "grun"), "--train-x", $0, "--train-y", path($1, "labels.npy"), "--epochs", "1", "--out", path($1, "r")] },
                 valid: f.calib, wrongKind: f.safetensors),
            Slot(name: "train --train-y Y.npy", fileName: "l.npy",
                 arguments: { ["train", "--from", path($1, "grun"), "--train-x", path($1, "calib.npy"), "--train-y", $0, "--epochs", "1", "--out", path($1, "r")] },
                 valid: f.labels, wrongKind: f.config),
            Slot(name: "train --test-x X.npy", fileName: "t.npy",
                 arguments: { ["train", "--from", path($1, "grun"), "--train-x", path($1, "calib.npy"), "--train-y", path($1, "labels.npy"),
                               "--test-x", $0, "--test-y", path($1, "labels.npy"), "--epochs", "1", "--out", path($1, "r")] },
                 valid: f.calib, wrongKind: f.idx),
            Slot(name: "train --test-y Y.npy", fileName: "l.npy",
                 arguments: { ["train", "--from", path($1, "grun"), "--train-x", path($1, "calib.npy"), "--train-y", path($1, "labels.npy"),
                               "--test-x", path($1, "calib.npy"), "--test-y", $0, "--epochs", "1", "--out", path($1, "r")] },
                 valid: f.labels, wrongKind: f.cifar),
        ]
    }

    enum Kind: String, CaseIterable { case empty, truncated, random, wrongKind = "wrong kind" }

    static func bytes(_ kind: Kind, _ slot: Slot) -> Data {
        switch kind {
        case .empty: return Data()
        case .truncated: return slot.valid.prefix(slot.valid.count / 2)
        case .random:
            let g = RandomGenerator(seed: UInt64(slot.name.utf8.count))
            return Data((0..<1024).map { _ in UInt8(g.nextInt(256)) })
        case .wrongKind: return slot.wrongKind
        }
    }

    /// The folder a slot runs in: valid neighbours (the other data files, a model and an input
    /// for `run`, a checkpoint beside `run/config.json`, the digits model and data, a graph run
    /// folder `grun`), then the bad file.
    static func prepare(_ slot: Slot, _ kind: Kind, _ f: Files) throws -> (scratch: URL, file: URL) {
        let scratch = try temporaryDirectory()
        let fm = FileManager.default
        try f.npy.write(to: scratch.appendingPathComponent("good.npy"))
        try f.onnx.write(to: scratch.appendingPathComponent("good.onnx"))
        for dir in ["run", "mnist", "cifar"] { try fm.createDirectory(at: scratch.appendingPathComponent(dir), withIntermediateDirectories: true) }
        try f.safetensors.write(to: scratch.appendingPathComponent("run/model.safetensors"))
        for name in ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"] { try f.idx.write(to: scratch.appendingPathComponent("mnist/\(name)")) }
        for name in ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"] {
            try Data(idxHeader(type: 0x08, shape: [2]) + [1, 2]).write(to: scratch.appendingPathComponent("mnist/\(name)"))
        }
        for name in CIFAR10.fileNames(.train) + CIFAR10.fileNames(.test) { try f.cifar.write(to: scratch.appendingPathComponent("cifar/\(name)")) }
        try Files.writeData(f, to: scratch)
        try fm.copyItem(at: f.home.appendingPathComponent("grun"), to: scratch.appendingPathComponent("grun"))
        let file = scratch.appendingPathComponent(slot.fileName)
        try bytes(kind, slot).write(to: file)
        return (scratch, file)
    }

    @Test func everySubcommandRejectsEveryBadFileInOneLine() throws {
        let f = try Files()
        var checked = 0
        let slots = try Self.slots(f)
        for slot in slots {
            for kind in Kind.allCases {
                let (scratch, file) = try Self.prepare(slot, kind, f)
                defer { try? FileManager.default.removeItem(at: scratch) }
                let r = try BrevitasBinary.run(slot.arguments(file.path, scratch), scratch: scratch, timeout: 120)
                let what = "\(slot.name), \(kind.rawValue) file"
                #expect(!r.timedOut, "\(what): hung")
                #expect(!r.signaled && r.status != 0, "\(what): status \(r.status), signal \(r.signaled)")
                #expect(r.errorLines.count == 1, "\(what): standard error is not one line:\n\(r.stderr)")
                let line = r.errorLines.first ?? ""
                #expect(line.hasPrefix("Error: "), "\(what): \(line)")
                #expect(line.contains(file.path), "\(what): the error does not name \(file.path): \(line)")
                for trace in ["Fatal error", "Stack dump", "Backtracing", "Current stack trace", "Thread 0 crashed"] {
                    #expect(!r.stdout.contains(trace) && !r.stderr.contains(trace), "\(what): \(trace) in the output:\n\(r.stderr)")
                }
                checked += 1
            }
        }
        #expect(slots.count == 28 && checked == slots.count * 4)
    }
}

/// `brevitas conformance DIR` with a case file that is empty, truncated, random or of the wrong
/// kind: that case fails with one line naming the file and what is wrong, the other cases still
/// run, the run exits with status 1; no crash, no stack trace. A DIR that is a file or missing is
/// one `Error:` line naming it.
@Suite(.serialized, .enabled(if: BrevitasBinary.url != nil, "skipped: the brevitas executable is not built"))
struct BadCaseFileTests {
    static let traces = ["Fatal error", "Stack dump", "Backtracing", "Current stack trace", "Thread 0 crashed", "crashed"]

    @Test func conformanceNamesEveryBadCaseFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let good = try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzConformanceCase/corpus/cat_default.json"))
        let g = RandomGenerator(seed: 18)
        let bad: [(String, Data, String)] = [
            ("empty", Data(), "is not a JSON case file: JSON parse error at byte 0"),
            ("truncated", good.prefix(good.count / 2), "is not a JSON case file: JSON parse error"),
            ("random", Data((0..<1024).map { _ in UInt8(g.nextInt(256)) }), "is not a JSON case file: JSON parse error"),
            ("wrong kind (a .npy)", NumPy.encode(NumPyArray(shape: [2], values: .float32([1, 2]))), "is not a JSON case file: JSON parse error"),
            ("wrong kind (a run config)", try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzRunConfig/corpus/lenet-digits.json")),
             "is not a conformance case: not supported yet: spec_version null (this runner reads 1 and 2)"),
            ("wrong kind (a JSON list)", Data("[1, 2]".utf8), "is not a conformance case (a JSON object)"),
        ]
        for (kind, bytes, message) in bad {
            let scratch = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let dir = scratch.appendingPathComponent("cases")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try good.write(to: dir.appendingPathComponent("a_good.json"))
            let file = dir.appendingPathComponent("b_bad.json")
            try bytes.write(to: file)
            let r = try BrevitasBinary.run(["conformance", dir.path], scratch: scratch, timeout: 120)
            #expect(!r.timedOut && !r.signaled && r.status == 1, "\(kind): status \(r.status), signal \(r.signaled)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            let fails = lines.filter { $0.hasPrefix("FAIL ") }
            #expect(fails.count == 1 && fails[0].hasPrefix("FAIL b_bad: 1 mismatch; first: \(file.path) \(message)"), "\(kind): \(r.stdout)")
            #expect(lines.last == "0 passed, 1 failed, 1 not comparable", "\(kind): \(r.stdout)")
            #expect(r.stderr.isEmpty, "\(kind): \(r.stderr)")
            for trace in Self.traces { #expect(!r.stdout.contains(trace), "\(kind): \(trace) in the output:\n\(r.stdout)") }
        }
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let file = scratch.appendingPathComponent("case.json")
        try good.write(to: file)
        for (path, what) in [(file.path, "is a file, not a directory"), (scratch.appendingPathComponent("none").path, "does not exist")] {
            let r = try BrevitasBinary.run(["conformance", path], scratch: scratch, timeout: 60)
            #expect(!r.signaled && r.status != 0 && r.errorLines.count == 1, "\(path): \(r.stderr)")
            #expect(r.errorLines.first?.hasPrefix("Error: '\(path)' \(what)") == true, "\(r.stderr)")
        }
    }
}
