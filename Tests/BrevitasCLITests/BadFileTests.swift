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

    /// Valid files of each kind, written with the library's own writers.
    struct Files {
        let npy: Data, safetensors: Data, onnx: Data, config: Data, idx: Data, cifar: Data

        init() throws {
            npy = NumPy.encode(NumPyArray(shape: [1, 2, 4, 4], values: .float32((0..<32).map { Float($0) / 32 })))
            safetensors = SafeTensors.encode(["features.0.weight": Tensor(shape: [2, 2], [1, 2, 3, 4]), "classifier.bias": Tensor(shape: [2], [0, 1])])
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            onnx = try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzONNXImport/corpus/conv-relu.onnx"))
            config = try Data(contentsOf: root.appendingPathComponent("Fuzz/FuzzRunConfig/corpus/lenet-digits.json"))
            idx = Data(idxHeader(type: 0x08, shape: [2, 28, 28]) + [UInt8](repeating: 7, count: 2 * 28 * 28))
            cifar = Data([3] + [UInt8](repeating: 100, count: 3072))
        }
    }

    static func slots(_ f: Files) -> [Slot] {
        [
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
    /// for `run`, a checkpoint beside `run/config.json`), then the bad file.
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
        let file = scratch.appendingPathComponent(slot.fileName)
        try bytes(kind, slot).write(to: file)
        return (scratch, file)
    }

    @Test func everySubcommandRejectsEveryBadFileInOneLine() throws {
        let f = try Files()
        var checked = 0
        for slot in Self.slots(f) {
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
        #expect(checked == 13 * 4)
    }
}
