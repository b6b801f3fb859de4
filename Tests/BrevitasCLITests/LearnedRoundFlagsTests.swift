import Foundation
import GraphQuant
import NN
import PTQ
import QuantNN
import TensorEngine
import Testing

@testable import BrevitasCLI

/// `--learned-round ITERS` and its options: Brevitas's stage order, option errors before any
/// work, and run folders (graph and layerwise quantization) whose rounded weights reload, pass
/// `verify` (the integer program agrees) and record the stage in the report.
@Suite(.serialized)
struct LearnedRoundFlagsTests {
    @Test func stageSitsBetweenGPTQAndBiasCorrection() {
        var s = QuantizeSettings()
        (s.gpfq, s.gptq, s.biasCorrection) = (true, true, true)
        s.learnedRound = LearnedRoundSettings(iterations: 10)
        #expect(QuantizePipeline.stages(s).map(\.name) == ["preprocess", "quantize", "calibrate", "gpfq", "gptq", "learned round", "bias correction"])
        #expect(s.summary.hasSuffix("+ gpfq + gptq + learned round 10 + bias correction"), "\(s.summary)")
    }

    @Test func optionsThatDoNotCombineAreErrors() throws {
        func error(_ extra: [String]) -> String? { parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o"] + extra) }
        #expect(error(["--learned-round", "0"])?.contains("number of iterations per layer, >= 1") == true)
        #expect(error(["--learned-round", "10", "--learned-round-lr", "0"])?.contains("--learned-round-lr must be a positive number") == true)
        #expect(error(["--learned-round", "10", "--learned-round-batch-size", "0"])?.contains("--learned-round-batch-size must be >= 1") == true)
        #expect(error(["--learned-round-lr", "0.01"])?.contains("--learned-round-lr needs --learned-round ITERS") == true)
        #expect(error(["--learned-round-lr-scheduler", "linear", "--learned-round-loss", "mse"])?.contains("--learned-round-loss needs --learned-round") == true)
        #expect(error(["--learned-round", "10", "--learned-round-loss", "l1"]) != nil)
        let float = error(["--learned-round", "10", "--act-equalization", "0.5", "--act-equalization-scope", "layerwise"])
        #expect(float?.contains("no quantized weights to round") == true, "\(float ?? "")")
        let s = try QuantizeCommand.parse(["m.onnx", "--calib", "c.npy", "--out", "o", "--learned-round", "50", "--learned-round-lr", "0.01",
                                           "--learned-round-batch-size", "4", "--learned-round-loss", "mse", "--learned-round-lr-scheduler", "linear"]).settings()
        #expect(s.learnedRound == LearnedRoundSettings(iterations: 50, learningRate: 0.01, batchSize: 4, loss: .mse, linearSchedule: true))
    }

    /// 4-bit weights and activations with learned rounding, in graph and layerwise
    /// quantization: every weight on its grid, the stage in the report and on the progress
    /// line, the run folder reloads to the same outputs, `config.json` keeps the options, and
    /// the integer program of the graph-quantized folder agrees with the fake-quantized model.
    @Test(arguments: [false, true])
    func runFolderWithLearnedRounding(layerwise: Bool) throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = ["--weight-bits", "4", "--act-bits", "4", "--per-channel", "--learned-round", "150", "--learned-round-lr", "0.01"]
            + (layerwise ? ["--layerwise"] : []) + QuantizeCommandTests.withTest(dir)
        let (result, printed) = try QuantizeCommandTests.quantize(dir, args)
        let stage = try #require(result.report.stages.first { $0.name == "learned round" })
        #expect(stage.milliseconds > 0 && stage.detail.contains("150 iterations per layer") && stage.detail.contains("rounded away from nearest"), "\(stage.detail)")
        #expect(printed.contains("learned round") && printed.contains("rounded away from nearest"), "\(printed)")
        var layers = 0
        for case let l as QuantWeightBiasLayer in result.model.modules() {
            #expect(l.quantWeight().value.scalars == l.weight.scalars, "\(l.typeName): weight off its grid")
            layers += 1
        }
        #expect(layers == 2)
        let run = dir.appendingPathComponent("run")
        let loaded = try GraphRun.load(run)
        #expect(loaded.config.quantize.learnedRound == LearnedRoundSettings(iterations: 150, learningRate: 0.01))
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        #expect(try loaded.model.output(x).scalars == (try result.model.output(x)).scalars)
        if !layerwise {   // layerwise_quantize leaves activations float: no integer program
            let (report, passed) = try VerifyCommand.parse([run.path]).report()
            #expect(passed, "\(report)")
        }
        for file in ["model.qcdq.onnx", "model.qonnx.onnx"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "missing \(file)")
        }
    }
}
