import Foundation
import GraphQuant
import NN
import TensorEngine
import Testing

@testable import BrevitasCLI

/// `--act-param-method stats|mse` and `--act-quant-percentile Q` (ptq_common's `act_param_method`
/// and `act_quant_percentile`): option errors, the maps they select, and a run folder that
/// records them and reloads to the same model.
@Suite(.serialized)
struct ActivationScaleFlagsTests {
    @Test func optionsThatDoNotCombineAreErrors() throws {
        func error(_ extra: [String]) -> String? { parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o"] + extra) }
        #expect(error(["--act-quant-percentile", "0"])?.contains("must be in (0, 100]") == true)
        #expect(error(["--act-quant-percentile", "100.5"])?.contains("must be in (0, 100]") == true)
        #expect(error(["--act-param-method", "mse", "--act-quant-percentile", "99"])?.contains("applies to --act-param-method stats") == true)
        #expect(error(["--act-param-method", "minmax"]) != nil)
        let s = try QuantizeCommand.parse(["m.onnx", "--calib", "c.npy", "--out", "o", "--act-param-method", "mse"]).settings()
        #expect(s.actParamMethod == .mse && s.summary.contains("act-mse"))
    }

    /// MSE activations (and a 99.9 percentile) through the whole command: every activation
    /// quantizer of the run is the one asked for, and the folder reloads to the same outputs.
    @Test(arguments: [["--act-param-method", "mse"], ["--act-quant-percentile", "99.9"]])
    func runFolderRecordsTheMethod(_ flags: [String]) throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, _) = try QuantizeCommandTests.quantize(dir, ["--act-bits", "4"] + flags)
        let run = dir.appendingPathComponent("run")
        let loaded = try GraphRun.load(run)
        if flags[0] == "--act-param-method" {
            #expect(loaded.config.quantize.actParamMethod == .mse)
        } else {
            #expect(loaded.config.quantize.actQuantPercentile == 99.9)
        }
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        #expect(try loaded.model.output(x).scalars == (try result.model.output(x)).scalars)
        let maps = try loaded.config.quantize.maps(for: try GraphRun.importFloat(run.appendingPathComponent("float.onnx"), input: loaded.config.input,
                                                                                  exampleShape: loaded.config.inputShape, batch: 1))
        if flags[0] == "--act-param-method" {
            #expect(maps.quantActMap["torch.nn.ReLU"]??.kwargs["act_quant"] == .quantizer("Int8ActPerTensorFloatMSE"))
        } else {
            #expect(maps.signedIdentity.kwargs["high_percentile_q"] == .number(99.9))
        }
    }
}
