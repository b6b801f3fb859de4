import Foundation
import NN
import QuantCore
import TensorEngine
import Testing
import TestSupport

#if canImport(FoundationXML)
    import FoundationXML
#endif

@testable import BrevitasCLI
import Models

/// `brevitas train` end to end on a slice of the bundled digits (small enough for debug builds).
@Suite(.serialized) struct TrainTests {
    static let quick = ["--limit", "128", "--batch-size", "32"]

    @Test func oneEpochWritesEveryOutput() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        let run = try CapturedRun(["--epochs", "1", "--out", out.path] + Self.quick)
        guard case .completed(let summary) = try run.start() else { Issue.record("not completed"); return }
        #expect(try files(in: out) == ["config.json", "curves.svg", "metrics.json", "model.qcdq.onnx", "model.qonnx.onnx",
                                       "model.safetensors"])
        #expect(summary.exports.allSatisfy { $0.problem == nil })

        let metrics = try readMetrics(out)
        #expect(metrics.completed && metrics.epochs.count == 1 && metrics.epochs[0].phase == "qat")
        #expect(metrics.quantTestAccuracy == summary.quantAccuracy)
        #expect(metrics.quantSizeBytes * 5 < metrics.floatSizeBytes)
        let config = try RunConfig.load(out.appendingPathComponent("config.json"))
        #expect(config.model == ModelSpec(arch: .lenet, inputShape: [1, 8, 8], classes: 10, weightBits: 4, actBits: 4, inputBits: 8,
                                          collectStatsSteps: 30))
        #expect(config.training?.limit == 128)

        let (model, kind) = try Checkpoint.loadModel(out.appendingPathComponent("model.safetensors"), spec: config.model)
        #expect(kind == .quantized)
        let test = try DataSplits(.digits, directory: nil, limit: 128).test
        #expect(try Trainer.evaluate(model, test).accuracy == metrics.quantTestAccuracy)

        let svg = try String(contentsOf: out.appendingPathComponent("curves.svg"), encoding: .utf8)
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "curves.svg is not well-formed XML: \(String(describing: parser.parserError))")
        // One epoch: one point per curve (a dot each, no line to draw).
        #expect(!svg.contains("<polyline") && svg.contains("<circle"), "one epoch draws dots, not lines")
        #expect(run.output.contains("qat   epoch 1/1") && run.output.contains("quantized (w4 a4 in8)"))

        // Brevitas's keys: no constant buffers (bit widths, zero-point constants, sentinels).
        let keys = try SafeTensors.read(out.appendingPathComponent("model.safetensors")).tensors.keys
        #expect(keys.contains("1.weight") && keys.contains("0.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"))
        #expect(!keys.contains { $0.contains("_zero_hw_sentinel") || $0.contains("bit_width") })
    }

    @Test func resnet8WritesBothONNXExports() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        let run = try CapturedRun(["--arch", "resnet8", "--epochs", "1", "--limit", "64", "--collect-stats-steps", "1",
                                   "--out", out.path] + Self.quick.suffix(2))
        guard case .completed(let summary) = try run.start() else { Issue.record("not completed"); return }
        #expect(summary.exports.map(\.file) == ["model.qcdq.onnx", "model.qonnx.onnx"])
        #expect(summary.exports.allSatisfy { $0.problem == nil }, "\(summary.exports)")
        #expect(run.output.contains("model.qcdq.onnx, model.qonnx.onnx") && !run.output.contains("not exported"), "\(run.output)")
        // `brevitas export` rebuilds the model from the checkpoint: the same graph, byte for byte
        // (the example's values do not enter the graph, only its shape).
        for format in ["qcdq", "qonnx"] {
            let written = try Data(contentsOf: out.appendingPathComponent("model.\(format).onnx"))
            let again = dir.appendingPathComponent("again.\(format).onnx")
            _ = try ExportCommand.parse([out.path, "--format", format, "-o", again.path]).export()
            let exported = try Data(contentsOf: again)
            #expect(written.count > 10_000 && exported == written, "\(format)")
        }
    }

    @Test func floatPretrainingCalibrationAndFromFloat() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = dir.appendingPathComponent("first")
        let run = try CapturedRun(["--float-epochs", "1", "--epochs", "1", "--calibrate-steps", "2", "--out", first.path] + Self.quick)
        guard case .completed(let summary) = try run.start() else { Issue.record("not completed"); return }
        #expect(summary.floatAccuracy != nil)
        #expect(try files(in: first).contains("float.safetensors"))
        #expect(try readMetrics(first).epochs.map(\.phase) == ["float", "qat"])
        #expect(run.output.contains("calibrated the activation quantizers on 2 batches"))

        let second = dir.appendingPathComponent("second")
        let floatFile = first.appendingPathComponent("float.safetensors").path
        let resumed = try CapturedRun(["--from-float", floatFile, "--epochs", "1", "--out", second.path] + Self.quick)
        guard case .completed(let s2) = try resumed.start() else { Issue.record("not completed"); return }
        #expect(s2.floatAccuracy == summary.floatAccuracy)

        // A quantized checkpoint is not a float one.
        let wrong = try CapturedRun(["--from-float", first.appendingPathComponent("model.safetensors").path,
                                     "--out", dir.appendingPathComponent("third").path] + Self.quick)
        let error = try #require(throws: CLIError.self) { try wrong.start() }
        #expect(error.message.contains("is it a quantized checkpoint?"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("third").path))
    }

    @Test func anInterruptKeepsTheLastCompleteCheckpoint() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 4 batches per epoch: the flag rises during the second epoch.
        let out = dir.appendingPathComponent("interrupted")
        let run = try CapturedRun(["--epochs", "3", "--out", out.path] + Self.quick, stopAfterBatches: 6)
        #expect(try run.start() == .interrupted(epochs: 1))
        #expect(run.output.contains("holds epoch 1"), "\(run.output)")
        #expect(!(try files(in: out)).contains { $0.hasPrefix(".") }, "temporary files left")
        let metrics = try readMetrics(out)
        #expect(!metrics.completed && metrics.epochs.count == 1)

        // The checkpoint is exactly epoch 1: the same bytes as a run of one epoch.
        let one = dir.appendingPathComponent("one")
        _ = try CapturedRun(["--epochs", "1", "--out", one.path] + Self.quick).start()
        let a = try Data(contentsOf: out.appendingPathComponent("model.safetensors"))
        let b = try Data(contentsOf: one.appendingPathComponent("model.safetensors"))
        #expect(a == b)
        let spec = try RunConfig.load(out.appendingPathComponent("config.json")).model
        let model = try Checkpoint.loadModel(out.appendingPathComponent("model.safetensors"), spec: spec).model
        #expect(try Trainer.evaluate(model, DataSplits(.digits, directory: nil, limit: 128).test).accuracy == metrics.epochs[0].testAccuracy)

        // Interrupted inside the first epoch: no checkpoint at all, rather than a partial one.
        let early = dir.appendingPathComponent("early")
        #expect(try CapturedRun(["--epochs", "2", "--out", early.path] + Self.quick, stopAfterBatches: 2).start() == .interrupted(epochs: 0))
        #expect(!FileManager.default.fileExists(atPath: early.appendingPathComponent("model.safetensors").path))
    }

    @Test func theSameSeedGivesTheSameRunOnOneOrTwoThreads() throws {
        let dir = try temporaryDirectory()
        let saved = Parallel.threadCount
        defer {
            Threads.apply(saved)
            try? FileManager.default.removeItem(at: dir)
        }
        var checkpoints: [Data] = []
        var epochs: [[EpochResult]] = []
        for threads in [1, 2] {
            let out = dir.appendingPathComponent("t\(threads)")
            Threads.apply(threads)
            _ = try CapturedRun(["--epochs", "2", "--seed", "7", "--limit", "256", "--out", out.path]).start()
            checkpoints.append(try Data(contentsOf: out.appendingPathComponent("model.safetensors")))
            epochs.append(try readMetrics(out).epochs)
        }
        #expect(checkpoints[0] == checkpoints[1])
        func numbers(_ e: [EpochResult]) -> [Double] { e.flatMap { [$0.loss, $0.trainAccuracy, $0.testAccuracy, $0.testLoss] } }
        #expect(numbers(epochs[0]) == numbers(epochs[1]))
    }

    @Test func anUnwritableOutputFolderFailsBeforeTraining() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        for out in [file.appendingPathComponent("run").path, file.path] {
            let error = try #require(throws: CLIError.self) { try CapturedRun(["--out", out] + Self.quick).start() }
            #expect(error.message.contains("output folder") && error.message.contains("not a folder"), "\(error)")
        }
        #expect(try files(in: dir) == ["a-file"])
    }
}
