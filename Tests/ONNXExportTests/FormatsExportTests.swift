import Foundation
import ONNXProto
import QuantCore
import Testing
import TensorEngine
import Quantizers
import QuantNN
@testable import ONNXExport

/// Minifloat export: FP8 (OCP, FNUZ) in QCDQ with ONNX's float8 types and in QONNX as
/// `FloatQuant`; FP6/FP4 in QONNX only; group-wise (MX) quantizers are clear errors; A2Q/A2Q+ weights export.
@Suite struct FormatsExportTests {
    func reason(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let ONNXExportError.notExpressible(_, _, reason) {
            return reason
        } catch {
            return "unexpected \(error)"
        }
    }

    func decode(_ data: Data) throws -> Onnx_ModelProto { try Onnx_ModelProto(serializedBytes: data) }

    func attribute(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }

    @Test(arguments: [ONNXFormat.qcdq, .qonnx])
    func groupwiseIsNotExpressible(format: ONNXFormat) throws {
        let mx = try QuantLinear(64, 4, weightQuant: .mxInt8Weight)
        mx.eval()
        let r = reason { _ = try exportONNX(mx, example: Tensor.zeros([1, 64]), format: format) }
        #expect(r?.contains("group-wise") == true, "\(r ?? "no error")")
        let mxfp = try QuantLinear(64, 4, weightQuant: .mxFloat8e4m3Weight)
        mxfp.eval()
        let r2 = reason { _ = try exportONNX(mxfp, example: Tensor.zeros([1, 64]), format: format) }
        #expect(r2?.contains("group-wise minifloat") == true, "\(r2 ?? "no error")")
    }

    /// FP4 has no ONNX element type: QCDQ refuses it by name, QONNX's FloatQuant holds it.
    @Test func fp4IsQONNXOnly() throws {
        let fp4 = try QuantIdentity(actQuant: ActQuant.minifloatAct("FpOCPActPerTensorFloat")!
            .with(\.bitWidth, 4).with(\.exponentBitWidth, 2).with(\.mantissaBitWidth, 1))
        fp4.eval()
        let r = reason { _ = try exportONNX(fp4, example: Tensor.ones([1, 4]), format: .qcdq) }
        #expect(r?.contains("e2m1") == true && r?.contains("no ONNX element type") == true, "\(r ?? "no error")")
        let m = try decode(exportONNX(fp4, example: Tensor.ones([1, 4]), format: .qonnx))
        #expect(m.graph.node.map(\.opType) == ["FloatQuant"])
    }

    /// QCDQ FP8: opset 19, IR 9, `QuantizeLinear -> DequantizeLinear` whose zero point has the
    /// format's float8 type; `saturate=0` only for a non-saturating format.
    @Test(arguments: [
        ("Fp8e4m3OCPActPerTensorFloat", true, Onnx_TensorProto.DataType.float8E4M3Fn),
        ("Fp8e5m2OCPActPerTensorFloat", true, .float8E5M2),
        ("Fp8e5m2OCPActPerTensorFloat", false, .float8E5M2),
        ("Fp8e4m3FNUZActPerTensorFloat", true, .float8E4M3Fnuz),
        ("Fp8e5m2FNUZActPerTensorFloat", true, .float8E5M2Fnuz),
    ])
    func qcdqFP8ActivationLayout(preset: String, saturating: Bool, type: Onnx_TensorProto.DataType) throws {
        let l = try QuantIdentity(actQuant: ActQuant.minifloatAct(preset)!.with(\.saturating, saturating))
        let m = try decode(exportONNX(l, example: Tensor.ones([1, 4]), format: .qcdq))
        #expect(m.irVersion == 9)
        #expect(m.opsetImport.map(\.version) == [19])
        #expect(m.graph.node.map(\.opType) == ["QuantizeLinear", "DequantizeLinear"])
        let q = m.graph.node[0]
        let zp = m.graph.initializer.first { $0.name == q.input[2] }
        #expect(zp?.dataType == Int32(type.rawValue))
        #expect(zp?.rawData == Data([0]))
        #expect(attribute(q, "saturate")?.i == (saturating ? nil : 0))
    }

    /// QONNX FP8: Brevitas's `FloatQuant(x, scale, e, m, bias, max)` with has_inf / has_nan from
    /// the reserved codes, has_subnormal 1 and the saturation flag.
    @Test func qonnxFP8IsFloatQuant() throws {
        let l = try QuantIdentity(actQuant: .fp8e5m2OCPActPerTensorFloat.with(\.saturating, false))
        let m = try decode(exportONNX(l, example: Tensor.ones([1, 4]), format: .qonnx))
        #expect(m.graph.node.map(\.opType) == ["FloatQuant"])
        let n = m.graph.node[0]
        #expect(n.domain == "qonnx.custom_op.general")
        #expect(attribute(n, "has_inf")?.i == 1 && attribute(n, "has_nan")?.i == 1)
        #expect(attribute(n, "has_subnormal")?.i == 1 && attribute(n, "saturation")?.i == 0)
        func scalar(_ name: String) -> Float? {
            guard let t = m.graph.initializer.first(where: { $0.name == name }), t.rawData.count == 4 else { return nil }
            return Float(bitPattern: t.rawData.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        }
        #expect(n.input.dropFirst(2).map(scalar) == [5, 2, 15, 57344])
    }

    /// Every byte of each float8 type decodes (by the OCP / FNUZ definitions, written out here)
    /// to a value that `encode` maps back to the same byte; NaN and inf to the types' codes.
    @Test(arguments: [(Float8Type.e4m3fn, 4, 3, 7), (.e5m2, 5, 2, 15), (.e4m3fnuz, 4, 3, 8), (.e5m2fnuz, 5, 2, 16)])
    func float8CodesRoundTrip(type: Float8Type, e: Int, m: Int, bias: Int) {
        var finite = 0
        for byte in 0..<256 {
            let sign: Float = byte & 0x80 != 0 ? -1 : 1
            let ex = (byte >> m) & ((1 << e) - 1), f = byte & ((1 << m) - 1)
            let isNaN: Bool, isInf: Bool
            switch type {
            case .e4m3fn: isNaN = byte & 0x7F == 0x7F; isInf = false
            case .e5m2: isNaN = ex == 31 && f != 0; isInf = ex == 31 && f == 0
            case .e4m3fnuz, .e5m2fnuz: isNaN = byte == 0x80; isInf = false
            }
            let v: Float = isNaN ? .nan : isInf ? sign * .infinity
                : ex == 0 ? sign * Float(f) * Float(sign: .plus, exponent: 1 - bias - m, significand: 1)
                : sign * (1 + Float(f) / Float(1 << m)) * Float(sign: .plus, exponent: ex - bias, significand: 1)
            if !isNaN && !isInf { finite += 1 }
            let expected = isNaN ? (type == .e4m3fnuz || type == .e5m2fnuz ? 0x80 : 0x7F) : byte
            #expect(type.encode(v) == UInt8(expected), "byte \(byte) = \(v)")
        }
        #expect(finite == (type == .e4m3fn ? 254 : type == .e5m2 ? 248 : 255))
        #expect(type.encode(0.3) == nil)  // off the grid
    }

    /// A2Q / A2Q+ weights export as narrow 8-bit integers on the post-clipping scale: QCDQ stores
    /// the integer weights (whose per-channel l1 norm respects the accumulator bound), QONNX a
    /// `Quant` node fed the already quantized weight, so that both graphs replay the layer (the
    /// exporter's replay check) and ONNX Runtime / qonnx runs are checked in
    /// ConformanceExportTests against Brevitas's files.
    @Test(arguments: [ONNXFormat.qcdq, .qonnx], [false, true])
    func accumulatorAwareWeightsExport(format: ONNXFormat, zeroCenter: Bool) throws {
        let preset: WeightQuant = zeroCenter ? .int8AccumulatorAwareZeroCenterWeightQuant : .int8AccumulatorAwareWeightQuant
        let a2q = try QuantLinear(16, 3, bias: false, weightQuant: preset.with(\.accumulatorBitWidth, 12),
                                  inputQuant: .int8ActPerTensorFloat, generator: RandomGenerator(seed: 3))
        a2q.eval()
        let x = RandomGenerator(seed: 4).uniform([2, 16], low: -1, high: 1)
        let data = try exportONNX(a2q, example: x, format: format)
        let m = try decode(data)
        let inits = Dictionary(m.graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let qi = try a2q.inputQuant(.float(x))
        let qw = try a2q.weightQuant(a2q.weight, input: qi, layer: "QuantLinear").quantTensor!
        let codes = (qw.value / qw.scale).rounded()
        switch format {
        case .qcdq:
            // int8 codes -> Clip(-127, 127) -> DequantizeLinear(axis 0)
            let deq = try #require(m.graph.node.first { $0.opType == "DequantizeLinear" && $0.name.contains("weight_quant") })
            let clip = try #require(m.graph.node.first { $0.output.first == deq.input[0] })
            #expect(clip.opType == "Clip")
            let stored = try #require(inits[clip.input[0]])
            #expect(stored.dataType == 3)  // int8
            #expect(stored.rawData.map { Float(Int8(bitPattern: $0)) } == codes.scalars)
            let lo = try #require(inits[clip.input[1]]), hi = try #require(inits[clip.input[2]])
            #expect(Int8(bitPattern: lo.rawData[0]) == -127 && Int8(bitPattern: hi.rawData[0]) == 127)
        case .qonnx:
            let quant = try #require(m.graph.node.first { $0.opType == "Quant" && $0.name.contains("weight_quant") })
            #expect(attribute(quant, "narrow")?.i == 1 && attribute(quant, "signed")?.i == 1)
            let w = try #require(inits[quant.input[0]])
            let stored = w.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(stored == qw.value.scalars)
        }
        // The l1 bound the integer weights keep: sum |q_c| <= T = (2^(P-1) - 1) * 2^(1 - 8)
        // for A2Q with a signed 8-bit input, (2^P - 2) / (2^8 - 1) for A2Q+.
        let t: Float = zeroCenter ? Float((1 << 12) - 2) / 255 : Float((1 << 11) - 1) / 128
        for c in 0..<3 { #expect(codes.narrow(dim: 0, start: c, length: 1).abs().sum().item() <= t) }
    }

    /// Without a quantized input an A2Q layer has no weight: the export fails naming the layer.
    @Test func accumulatorAwareWeightsNeedAQuantizedInput() throws {
        let a2q = try QuantLinear(4, 2, bias: false, weightQuant: .int8AccumulatorAwareWeightQuant.with(\.accumulatorBitWidth, 16))
        a2q.eval()
        do {
            _ = try exportONNX(a2q, example: Tensor.ones([1, 4]), format: .qcdq)
            Issue.record("exported an A2Q layer without an input quantizer")
        } catch let ONNXExportError.forwardFailed(layer, message) {
            #expect(layer.contains("QuantLinear"))
            #expect(message.contains("input_quant"), "\(message)")
        }
    }
}
