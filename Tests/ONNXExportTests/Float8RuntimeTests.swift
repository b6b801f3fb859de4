import Foundation
import NN
import ONNXExport
import QuantNN
import Quantizers
import Testing
import TensorEngine

/// FP8 exports run in ONNX Runtime (QCDQ: float8 QuantizeLinear/DequantizeLinear, opset 19) and
/// qonnx (QONNX: FloatQuant): the output matches the Swift eval output and every quantized
/// activation holds the same minifloat values (one grid step only at an exact mantissa tie).
@Suite struct Float8RuntimeTests {
    /// Activations: calibrated scales, inputs with values past the format's maximum (clamped, or
    /// inf/NaN when not saturating), tiny values (subnormals) and zeros.
    static func cases() throws -> [ZooCase] {
        var out: [ZooCase] = []
        let g = RandomGenerator(seed: 11)
        func act(_ name: String, _ q: ActQuant, formats: [ONNXFormat] = [.qcdq, .qonnx]) throws {
            let l = try QuantIdentity(actQuant: q)
            try calibrate(l, { _ = try l.forward(.float($0)) }, shape: [2, 3, 5, 5])
            var x = g.normal([2, 3, 5, 5]).scalars
            // Past the calibrated range, tiny (subnormal after scaling), signed zeros.
            x[0] = 40; x[1] = -55; x[2] = 1e-6; x[3] = -3e-7; x[4] = 0; x[5] = -0.0
            out.append(ZooCase(name: name, model: l, examples: [Tensor(shape: [2, 3, 5, 5], x)], formats: formats))
        }
        try act("fp8_e4m3_ocp", .fp8e4m3OCPActPerTensorFloat)
        try act("fp8_e5m2_ocp", .fp8e5m2OCPActPerTensorFloat)
        try act("fp8_e4m3_fnuz", .fp8e4m3FNUZActPerTensorFloat)
        try act("fp8_e5m2_fnuz", .fp8e5m2FNUZActPerTensorFloat)
        try act("fp8_e4m3_ocp_nonsaturating", .fp8e4m3OCPActPerTensorFloat.with(\.saturating, false))
        try act("fp8_e5m2_ocp_nonsaturating", .fp8e5m2OCPActPerTensorFloat.with(\.saturating, false))
        try act("fp8_e4m3_ocp_per_channel", ActQuant.minifloatAct("Fp8e4m3OCPActPerChannelFloat2d")!
            .with(\.perChannelBroadcastableShape, [1, 3, 1, 1]))
        try act("fp6_e3m2_ocp", ActQuant.minifloatAct("FpOCPActPerTensorFloat")!
            .with(\.bitWidth, 6).with(\.exponentBitWidth, 3).with(\.mantissaBitWidth, 2), formats: [.qonnx])
        try act("fp4_e2m1_ocp", ActQuant.minifloatAct("FpOCPActPerTensorFloat")!
            .with(\.bitWidth, 4).with(\.exponentBitWidth, 2).with(\.mantissaBitWidth, 1), formats: [.qonnx])
        // Unscaled: the raw e4m3 grid, with exact ties between neighbours.
        let raw = try QuantIdentity(actQuant: .fp8e4m3OCPAct)
        raw.eval()
        let ties: [Float] = [1.0625, 1.1875, 17, 19, 0.0029296875, 460, 464, 500, -1e-9, 300, -2.8125, 0.5]
        out.append(ZooCase(name: "fp8_e4m3_ocp_unscaled_ties", model: raw, examples: [Tensor(shape: [1, 12], ties)]))

        // Weight layers.
        func layer(_ name: String, _ l: QuantLayer, shape: [Int], formats: [ONNXFormat] = [.qcdq, .qonnx]) throws {
            try calibrate(l, { _ = try l.forward(.float($0)) }, shape: shape)
            out.append(ZooCase(name: name, model: l, examples: [g.normal(shape) * 1.2], formats: formats))
        }
        try layer("linear_fp8_e4m3_per_channel", QuantLinear(16, 6, weightQuant: .fp8e4m3OCPWeightPerChannelFloat,
                                                             inputQuant: .fp8e4m3OCPActPerTensorFloat, generator: g), shape: [5, 16])
        try layer("linear_fp8_e5m2_per_tensor_int32_bias",
                  QuantLinear(16, 6, weightQuant: .fp8e5m2OCPWeightPerTensorFloat, biasQuant: .int32Bias,
                              inputQuant: .fp8e5m2OCPActPerTensorFloat, outputQuant: .fp8e4m3OCPActPerTensorFloat, generator: g),
                  shape: [5, 16])
        try layer("conv_fp8_e4m3_fnuz", QuantConv2d(3, 4, kernelSize: 3, padding: 1, weightQuant: .fp8e4m3FNUZWeightPerTensorFloat,
                                                    inputQuant: .fp8e4m3FNUZActPerTensorFloat, generator: g), shape: [2, 3, 6, 6])
        try layer("conv_fp8_e4m3_fnuz_per_channel",
                  QuantConv2d(3, 4, kernelSize: 3, weightQuant: .fp8e4m3FNUZWeightPerChannelFloat,
                              inputQuant: .fp8e4m3FNUZActPerTensorFloat, generator: g), shape: [2, 3, 6, 6])
        return out
    }

    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func float8ExportsRunInRuntimes() throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        for c in try Self.cases() {
            for f in c.formats { try batch.add(c.name, c.model, c.examples, f) }
        }
        let (results, stderr) = try batch.check(python: env.python)
        print("ONNXExportTests: FP8 exports, checker \(env.summary)")
        for key in batch.caseKeys {
            guard let r = results[key] else {
                Issue.record("\(key): no result from check_onnx.py; stderr:\n\(stderr.suffix(3000))")
                continue
            }
            print(String(format: "  %-44@ %@ max|diff| %-9.3g max|out| %-7.3g values %-6d flips %d  [%@]",
                         key as NSString, r.ok ? "ok  " : "FAIL", r.maxAbsDiff, r.maxAbsRef, r.codes, r.flips, r.executor as NSString))
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
            #expect(r.codes > 0, "\(key): no quantized values compared")
            if key.contains("nonsaturating") {
                #expect((r.json["nonfinite_outputs"] as? Int ?? 0) > 0, "\(key): the overflow must give inf/NaN in both")
            }
        }
    }
}
