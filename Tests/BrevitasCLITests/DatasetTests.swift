import Foundation
import NN
import Testing
import TestSupport

@testable import BrevitasCLI
import Models

/// The MNIST, Fashion-MNIST and CIFAR-10 paths end to end, on tiny files in those formats.
@Suite(.serialized) struct DatasetTests {
    @Test(arguments: [("mnist", "lenet"), ("fashion-mnist", "mlp")])
    func idxDataTrainsEvaluatesAndInspects(_ dataset: String, _ arch: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try writeMNIST(to: data, train: 40, test: 20)
        let out = dir.appendingPathComponent("run")
        let run = try CapturedRun(["--dataset", dataset, "--data-dir", data.path, "--arch", arch, "--epochs", "1",
                                   "--batch-size", "20", "--out", out.path])
        guard case .completed = try run.start() else { Issue.record("not completed"); return }
        let config = try RunConfig.load(out.appendingPathComponent("config.json"))
        #expect(config.model.inputShape == [1, 28, 28] && config.dataset.rawValue == dataset)
        #expect(run.output.contains("(40 train / 20 test)"))

        let line = try EvalCommand.parse([out.path]).evaluate()
        #expect(line.contains("\(arch) w4 a4 in8 on \(dataset) test: accuracy"), "\(line)")
        let report = try InspectCommand.parse([out.path, "--batch", "8"]).report()
        #expect(report.contains("Quantization error on 8 test examples") && report.contains("weight_quant"))
    }

    @Test func cifar10TrainsAResNet() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeCIFAR10(to: dir, perBatch: 4)
        let out = dir.appendingPathComponent("run")
        let run = try CapturedRun(["--dataset", "cifar10", "--data-dir", dir.path, "--arch", "resnet8", "--epochs", "1",
                                   "--batch-size", "10", "--out", out.path])
        guard case .completed = try run.start() else { Issue.record("not completed"); return }
        #expect(run.output.contains("(20 train / 4 test)"))
        let config = try RunConfig.load(out.appendingPathComponent("config.json"))
        #expect(config.model.inputShape == [3, 32, 32])
        let report = try InspectCommand.parse([out.path, "--batch", "4"]).report()
        #expect(report.contains("QuantBasicBlock") && report.contains("add.input_quant"), "\(report)")
        // The residual blocks export in both formats.
        let written = try files(in: out)
        #expect(written.contains("model.qcdq.onnx") && written.contains("model.qonnx.onnx"), "\(written)")
        #expect(!run.output.contains("not exported"), "\(run.output)")
    }

    @Test func exportWritesEitherFormatAndRefusesWhatQCDQCannotHold() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        _ = try CapturedRun(["--epochs", "1", "--limit", "64", "--weight-bits", "12", "--out", out.path]).start()
        #expect(!(try files(in: out)).contains("model.qcdq.onnx"))
        #expect(try files(in: out).contains("model.qonnx.onnx"))
        let target = dir.appendingPathComponent("exported/lenet.onnx")
        let line = try ExportCommand.parse([out.path, "--format", "qonnx", "-o", target.path]).export()
        #expect(line.contains("QONNX") && FileManager.default.fileExists(atPath: target.path))
        let error = try #require(throws: CLIError.self) { try ExportCommand.parse([out.path, "--format", "qcdq"]).export() }
        #expect(error.message.contains("QCDQ") && !error.message.contains("\n"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.qcdq.onnx").path))
    }

    @Test func missingAndMalformedDataAreOneLineErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        func error(_ args: [String]) throws -> String {
            try #require(throws: CLIError.self) { try CapturedRun(args + ["--out", out]).start() }.message
        }
        #expect(try error(["--dataset", "mnist", "--data-dir", dir.appendingPathComponent("nowhere").path])
            .contains("does not exist or is not a directory"))
        #expect(try error(["--dataset", "cifar10", "--data-dir", dir.path]).contains("missing cifar10 file"))
        try writeMNIST(to: dir, train: 10, test: 10)
        try Data([0x12, 0x34, 0x56, 0x78]).write(to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let malformed = try error(["--dataset", "mnist", "--data-dir", dir.path])
        #expect(malformed.contains("malformed mnist data") && malformed.contains("t10k-labels-idx1-ubyte"), "\(malformed)")
        #expect(!malformed.contains("\n"))
        #expect(!FileManager.default.fileExists(atPath: out), "an output folder was made for a run that could not start")
    }

    @Test func aCheckpointOfAnotherArchitectureIsRejected() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        _ = try CapturedRun(["--epochs", "1", "--limit", "64", "--out", out.path]).start()
        let e1 = try #require(throws: CLIError.self) { try EvalCommand.parse([out.path, "--arch", "mlp"]).evaluate() }
        #expect(e1.message.contains("does not fit the mlp model") && e1.message.contains("missing key"), "\(e1)")
        // Bit widths come from config.json (or the flags), not the file: the same weights at 8 bits.
        #expect(try EvalCommand.parse([out.path, "--weight-bits", "8"]).evaluate().contains("lenet w8 a4 in8"))
        let e3 = try #require(throws: CLIError.self) { try EvalCommand.parse([dir.path]).evaluate() }
        #expect(e3.message.contains("has no model.safetensors"), "\(e3)")
        try Data("not a checkpoint".utf8).write(to: dir.appendingPathComponent("bad.safetensors"))
        let e4 = try #require(throws: CLIError.self) {
            try EvalCommand.parse([dir.appendingPathComponent("bad.safetensors").path, "--arch", "lenet"]).evaluate()
        }
        #expect(e4.message.contains("cannot read checkpoint"), "\(e4)")
        let e5 = try #require(throws: CLIError.self) { try EvalCommand.parse([out.appendingPathComponent("model.safetensors").path + "x"]).evaluate() }
        #expect(e5.message.contains("does not exist"))
    }
}
