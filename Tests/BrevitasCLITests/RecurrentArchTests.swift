import Foundation
import NN
import TensorEngine
import Testing
import TestSupport

@testable import BrevitasCLI
import Models

/// `brevitas train --arch lstm`: the bundled digits read row by row (8 steps of 8 pixels) by a
/// QuantLSTM, end to end in a debug build.
@Suite(.serialized) struct RecurrentArchTests {
    @Test func lstmLearnsTheDigitsReadRowByRow() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        let run = try CapturedRun(["--arch", "lstm", "--epochs", "5", "--lr", "0.01", "--limit", "400", "--batch-size", "32", "--collect-stats-steps", "5",
                                   "--out", out.path])
        guard case .completed(let summary) = try run.start() else { Issue.record("not completed: \(run.output)"); return }
        #expect(summary.quantAccuracy > 0.5, "chance is 0.1: \(run.output)")
        #expect(summary.quantSizeBytes * 5 < summary.floatSizeBytes, "the LSTM's gate weights count at 4 bits")
        let config = try RunConfig.load(out.appendingPathComponent("config.json"))
        #expect(config.model.arch == .lstm)
        let (model, kind) = try Checkpoint.loadModel(out.appendingPathComponent("model.safetensors"), spec: config.model)
        #expect(kind == .quantized)
        let keys = Set(model.namedParameters().map(\.name))
        #expect(keys.contains("0.lstm.layers.0.0.input_gate_params.input_weight.weight") && keys.contains("1.weight"), "\(keys.sorted())")
        // The QONNX export is written (QuantLSTMCell); QCDQ has no form for a quantized LSTM cell.
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.qonnx.onnx").path), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.qcdq.onnx").path))
        let test = try DataSplits(.digits, directory: nil, limit: 400).test
        #expect(try Trainer.evaluate(model, test).accuracy == summary.quantAccuracy, "the checkpoint reloads to the same accuracy")
    }
}
