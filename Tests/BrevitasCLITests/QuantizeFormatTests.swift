import Foundation
import Graph
import GraphQuant
import NN
import QuantNN
import TensorEngine
import Testing

@testable import BrevitasCLI

/// `brevitas quantize --format` on the digits CNN (conv, BatchNorm, ReLU, max pool, linear):
/// Brevitas's float maps (FP8 weights and activations, float biases), the MX formats with
/// `--layerwise`, the folders' exports, and the combinations refused before any work.
@Suite(.serialized)
struct QuantizeFormatTests {
    @Test func fp8QuantizesCalibratesAndExports() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, _) = try QuantizeCommandTests.quantize(dir, ["--format", "fp8e4m3", "--gptq"] + QuantizeCommandTests.withTest(dir))
        #expect(result.report.settings.summary.hasPrefix("fp8e4m3 per-tensor"), "\(result.report.settings.summary)")
        let points = Dictionary(uniqueKeysWithValues: result.report.quantPoints.map { ($0.key, $0) })
        // Minifloat weights and activations (8 bits), biases float (no "bias of" point).
        #expect(Set(points.keys) == ["output of fc", "output of input", "output of relu1", "weight of conv1", "weight of fc"], "\(points.keys.sorted())")
        #expect(points["weight of conv1"]?.bitWidth == 8 && points["weight of conv1"]?.scale?.count == 1)
        #expect(points["output of relu1"]?.signed == true)
        let quant = try #require(Self.layer(result.model, "conv1"))
        #expect(quant.weightQuant.config?.preset == "Fp8e4m3OCPWeightPerTensorFloat")
        #expect(quant.bias != nil && !quant.biasQuant.isQuantEnabled)
        // FP8 keeps the float model's predictions to within a few of 360.
        let accuracy = try #require(result.report.accuracy)
        #expect(abs(accuracy.floatCorrect - accuracy.quantizedCorrect) <= 6, "\(accuracy)")
        // Both exports: QCDQ with float8 and QONNX FloatQuant.
        #expect(result.exports.allSatisfy { $0.problem == nil }, "\(result.exports)")
        for file in ["model.qcdq.onnx", "model.qonnx.onnx"] {
            #expect(FileManager.default.fileExists(atPath: result.folder.appendingPathComponent(file).path), "missing \(file)")
        }
        // The folder rebuilds into the same model.
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        #expect(try GraphRun.load(result.folder).model.output(x).scalars == (try result.model.output(x)).scalars)
    }

    @Test func perChannelFp6AndOverrides() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, _) = try QuantizeCommandTests.quantize(dir, ["--format", "fp6", "--per-channel", "--override", "fc:per_channel=false"])
        let points = Dictionary(uniqueKeysWithValues: result.report.quantPoints.map { ($0.key, $0) })
        #expect(points["weight of conv1"]?.bitWidth == 6 && points["weight of conv1"]?.scale?.count == 8)
        #expect(points["weight of fc"]?.scale?.count == 1)
        #expect(points["output of relu1"]?.bitWidth == 6)
        // No float6 in ONNX: QCDQ is refused with the reason; QONNX's FloatQuant carries it.
        let qcdq = try #require(result.exports.first { $0.file == "model.qcdq.onnx" })
        #expect(qcdq.problem != nil)
    }

    @Test func mxNeedsLayerwiseAndDivisibleChannels() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        // conv1 has one input channel: it stays integer; fc's 128 features make four groups of 32.
        let (result, _) = try QuantizeCommandTests.quantize(dir, ["--format", "mxint8", "--layerwise",
                                                                  "--override", "conv1:weight_quant=Int8WeightPerTensorFloat",
                                                                  "--override", "conv1:input_quant=Int8ActPerTensorFloat"])
        let fc = try #require(Self.layer(result.model, "fc"))
        #expect(fc.weightQuant.config?.preset == "MXInt8Weight" && fc.weightQuant.config?.groupSize == 32)
        #expect(fc.inputQuant.config?.preset == "MXInt8Act" && fc.inputQuant.config?.groupDim == 1)
        let conv = try #require(Self.layer(result.model, "conv1"))
        #expect(conv.weightQuant.config?.preset == "Int8WeightPerTensorFloat")
        // MX has no ONNX form: each export says so, the run folder is written.
        #expect(result.exports.count == 2 && result.exports.allSatisfy { $0.problem != nil }, "\(result.exports)")
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        #expect(try GraphRun.load(result.folder).model.output(x).scalars == (try result.model.output(x)).scalars)

        // Without the overrides, conv1's single channel cannot be grouped: named before any work.
        let groups = Self.message(dir, ["--format", "mxint8", "--layerwise"])
        #expect(groups.contains("'conv1'") && groups.contains("conv1:weight_quant=Int8WeightPerTensorFloat"), "\(groups)")
    }

    @Test func badCombinationsAreRefusedUpFront() {
        func refused(_ args: [String]) -> String {
            parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o"] + args) ?? ""
        }
        #expect(refused(["--format", "fp8e4m3", "--weight-bits", "4"]).contains("--weight-bits applies to --format int"))
        #expect(refused(["--format", "fp4", "--bias-bits", "16"]).contains("--bias-bits applies to --format int"))
        #expect(refused(["--format", "mxint8"]).contains("needs --layerwise"))
        #expect(refused(["--format", "mxfp8", "--layerwise", "--per-channel"]).contains("one scale per group"))
        #expect(refused(["--format", "fp8e4m3", "--group-size", "16"]).contains("--group-size"))
        #expect(refused(["--format", "e9m2"]).contains("exponent_bit_width"))
        #expect(refused(["--format", "fp9"]).contains("unknown format 'fp9'"))
        #expect(refused(["--format", "fp8e4m3", "--override", "fc:bits=4"]).contains("bits sets an integer width"))
        #expect(refused(["--format", "fp6", "--override", "fc:weight_quant=Int8WeightPerTensorFloat"]).contains("sets its exponent and mantissa widths"))
        #expect(refused(["--format", "int", "--weight-bits", "4"]).isEmpty)
    }

    /// The quantized compute layer of float node `name`.
    static func layer(_ q: QuantGraphModule, _ name: String) -> QuantWeightBiasLayer? {
        q.namedModules().first { $0.name == name || $0.name.hasSuffix("." + name) }?.module as? QuantWeightBiasLayer
    }

    static func message(_ dir: URL, _ args: [String]) -> String {
        do {
            _ = try QuantizeCommandTests.quantize(dir, args, out: "refused")
            return ""
        } catch let e as CLIError {
            return e.message
        } catch {
            return "\(error)"
        }
    }
}
