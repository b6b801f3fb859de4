import Foundation
import Graph
import GraphQuant
import NN
import PTQ
import TensorEngine
import Testing

@testable import BrevitasCLI

/// `--equalize`, `--act-equalization`, `--act-equalization-scope` of `brevitas quantize`, and
/// `brevitas bench --only ptq` on the same digits folder (conv, BatchNorm, ReLU, max pool,
/// flatten, linear: no foldable pair, since the flatten turns the conv's channels into features).
@Suite(.serialized)
struct EqualizationFlagsTests {
    @Test func stagesTakeBrevitasOrder() {
        var s = QuantizeSettings()
        (s.equalize, s.actEqualization, s.gptq, s.biasCorrection) = (20, 0.5, true, true)
        #expect(QuantizePipeline.stages(s).map(\.name) == ["preprocess", "equalize", "act equalization", "quantize", "calibrate", "gptq", "bias correction"])
        #expect(s.effectiveActEqualizationScope == .graph && !s.weightsStayFloat)
        s.layerwise = true
        #expect(s.effectiveActEqualizationScope == .layerwise)
    }

    @Test func optionsThatDoNotCombineAreErrors() {
        func error(_ extra: [String]) -> String? { parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o"] + extra) }
        #expect(error(["--act-equalization", "1.5"])?.contains("alpha in [0, 1]") == true)
        #expect(error(["--equalize=-1"])?.contains("--equalize must be >= 0") == true)
        #expect(error(["--act-equalization-scope", "graph"])?.contains("needs --act-equalization") == true)
        let float = error(["--act-equalization", "0.5", "--act-equalization-scope", "layerwise", "--gptq"])
        #expect(float?.contains("no quantized weights") == true, "\(float ?? "")")
        #expect(error(["--act-equalization-scope", "sideways"]) != nil)
    }

    /// No foldable pair: `--equalize` (and graph-scope activation equalization) stop before any
    /// stage runs and write nothing.
    @Test func equalizationWithoutAPairIsAnError() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        for args in [["--equalize", "5"], ["--act-equalization", "0.5"]] {
            do {
                _ = try QuantizeCommandTests.quantize(dir, args)
                Issue.record("\(args) ran")
            } catch let e as CLIError {
                #expect(e.message.contains("no foldable pair"), "\(e.message)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run").path))
    }

    /// Layerwise activation equalization before graph quantization: Brevitas's quirk (the
    /// wrapped layers stay float), a progress line with the stage's time, and a run folder that
    /// loads back to the same model.
    @Test func layerwiseActivationEqualizationRunsAndReloads() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, printed) = try QuantizeCommandTests.quantize(dir, ["--act-equalization", "0.5", "--act-equalization-scope", "layerwise"])
        #expect(result.report.stages.map(\.name) == ["preprocess", "act equalization", "quantize", "calibrate"])
        #expect(printed.contains("act equalization") && printed.contains("stay float"), "\(printed)")
        #expect(!result.report.quantPoints.contains { $0.key.hasPrefix("weight of") })
        #expect(result.model.module(at: "fc") is EqualizedModule)
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        #expect(try GraphRun.load(dir.appendingPathComponent("run")).model.output(x).scalars == (try result.model.output(x)).scalars)
    }

    /// The bench rows on the digits folder: the same accuracy as `brevitas quantize` with the
    /// row's options, and the act-eq row with float weights.
    @Test func ptqBenchRows() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = try PTQBench.run(dir: dir.path, only: ["w4a8", "w4a8+act_eq"]) { _ in }
        #expect(report.rows.map(\.name) == ["w4a8", "w4a8+act_eq"])
        #expect(report.rows.map(\.quant_layers) == [2, 0])
        #expect(report.rows[1].warning != nil && report.rows[0].warning == nil)
        for r in report.rows { #expect(r.ms["total"]! > 0 && r.accuracy > 0.5, "\(r)") }
        let (q, _) = try QuantizeCommandTests.quantize(dir, ["--weight-bits", "4", "--per-channel"] + QuantizeCommandTests.withTest(dir))
        #expect(q.report.accuracy?.quantizedCorrect == report.rows[0].correct)
    }
}
