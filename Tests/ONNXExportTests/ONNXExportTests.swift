import Foundation
import NN
@testable import ONNXExport
import ONNXProto
import QuantCore
import QuantNN
import Quantizers
import Testing
import TestSupport
import TensorEngine

// MARK: - Runtime verification (Python: onnx.checker, ONNX Runtime, qonnx)

@Suite struct RuntimeVerificationTests {
    /// Every model of the zoo, in both formats: onnx.checker passes, ONNX Runtime (QCDQ) and
    /// qonnx's executor (QONNX) reproduce the Swift eval output within 1e-5 · max|out|, and the
    /// integer codes of every quantized activation are identical (one-step flips only at
    /// rounding ties, see check_onnx.py).
    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func exportedModelsReproduceSwiftInRuntimes() throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        for c in try ExportZoo.cases() {
            for f in c.formats { try batch.add(c.name, c.model, c.examples, f) }
        }
        let (results, stderr) = try batch.check(python: env.python)
        print("ONNXExportTests: checker \(env.summary)")
        var codes = 0, flips = 0
        for key in batch.caseKeys {
            guard let r = results[key] else {
                Issue.record("\(key): no result from check_onnx.py; stderr:\n\(stderr.suffix(3000))")
                continue
            }
            codes += r.codes
            flips += r.flips
            print(String(format: "  %-36@ %@ max|diff| %-9.3g max|out| %-7.3g codes %-6d flips %d  [%@; ORT fused s8s8 %@, default %@]",
                         key as NSString, r.ok ? "ok  " : "FAIL", r.maxAbsDiff, r.maxAbsRef, r.codes, r.flips,
                         r.executor as NSString, r.fused("ort_all_s8s8") as NSString, r.fused("ort_default") as NSString))
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
        }
        print("ONNXExportTests: \(batch.caseKeys.count) exports, \(codes) integer codes compared, \(flips) justified tie flips")
    }

    /// Brevitas's own shipped exports of the conformance conv/linear/QAT cases, run on the
    /// recorded `export_input`, give the recorded `export_output` (checks the checker's runtime
    /// setup against the reference, and documents the reference graphs' behaviour).
    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.available, "needs Python with onnx + onnxruntime and ../shared/conformance/cases"))
    func brevitasShippedExportsRunInRuntimes() throws {
        let env = PythonEnv.found!
        let r = try PythonEnv.run(env.python, [PythonEnv.checker.path, "--brevitas", ConformanceFiles.dir.path] + ConformanceFiles.exportCases)
        print(r.stdout)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr.suffix(2000))")
    }
}

enum ConformanceFiles {
    /// `shared/conformance/cases` beside the package, or beside a folder above it (a git worktree).
    static let dir: URL = {
        var d = PythonEnv.packageRoot
        for _ in 0..<3 {
            d = d.deletingLastPathComponent()
            let candidate = d.appendingPathComponent("shared/conformance/cases")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return PythonEnv.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/conformance/cases")
    }()
    static var exportCases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { $0.hasSuffix(".qcdq.onnx") }.map { String($0.dropLast(".qcdq.onnx".count)) }.sorted()
    }
    static var available: Bool { !exportCases.isEmpty }
    static let formatsDir = dir.deletingLastPathComponent().appendingPathComponent("formats")
    static let layersDir = dir.deletingLastPathComponent().appendingPathComponent("layers")
    static var formatsAvailable: Bool { FileManager.default.fileExists(atPath: formatsDir.appendingPathComponent("linear_fp8_e4m3_ocp_per_tensor.json").path) }
    static var layersAvailable: Bool { FileManager.default.fileExists(atPath: layersDir.appendingPathComponent("conv3d_bias_int32.json").path) }
}

// MARK: - Graph structure (decoded in Swift)

@Suite struct GraphStructureTests {
    func decode(_ data: Data) throws -> Onnx_ModelProto { try Onnx_ModelProto(serializedBytes: data) }

    func ops(_ m: Onnx_ModelProto) -> [String] { m.graph.node.map(\.opType) }

    func initializer(_ m: Onnx_ModelProto, _ name: String) -> Onnx_TensorProto? { m.graph.initializer.first { $0.name == name } }

    func attribute(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }

    @Test func qcdqFourBitActivationIsQuantizeClipDequantize() throws {
        let l = try QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.bitWidth, 4))
        let m = try decode(exportONNX(l, example: Tensor.ones([1, 4]), format: .qcdq))
        #expect(m.irVersion == 7)
        #expect(m.opsetImport.map(\.version) == [13])
        #expect(ops(m) == ["QuantizeLinear", "Clip", "DequantizeLinear"])
        let clip = m.graph.node[1]
        let lo = initializer(m, clip.input[1])!, hi = initializer(m, clip.input[2])!
        #expect(lo.dataType == Int32(Onnx_TensorProto.DataType.int8.rawValue))
        #expect(lo.rawData == Data([UInt8(bitPattern: -8)]) && hi.rawData == Data([7]))
        #expect(m.graph.output.map(\.name) == ["output"] && m.graph.input.map(\.name) == ["input"])
    }

    @Test func qcdqEightBitActivationHasNoClip() throws {
        let m = try decode(exportONNX(try QuantReLU(), example: Tensor.ones([1, 4]), format: .qcdq))
        #expect(ops(m) == ["Relu", "QuantizeLinear", "DequantizeLinear"])
        let zp = initializer(m, m.graph.node[1].input[2])!
        #expect(zp.dataType == Int32(Onnx_TensorProto.DataType.uint8.rawValue))
    }

    @Test func qcdqWeightsAreStoredIntegersWithBiasAsInt32() throws {
        let l = try QuantConv2d(2, 3, kernelSize: 3, weightQuant: .int8WeightPerChannelFloat, biasQuant: .int32Bias,
                                inputQuant: .int8ActPerTensorFloat, generator: RandomGenerator(seed: 1))
        let m = try decode(exportONNX(l, example: RandomGenerator(seed: 2).normal([1, 2, 5, 5]), format: .qcdq))
        #expect(ops(m) == ["QuantizeLinear", "DequantizeLinear", "Clip", "DequantizeLinear", "DequantizeLinear", "Conv"])
        // Narrow-range weights: int8 codes -> Clip(-127, 127) -> DequantizeLinear(axis 0, 1-D scale).
        let wClip = m.graph.node[2], wdq = m.graph.node[3]
        let codes = initializer(m, wClip.input[0])!
        #expect(codes.dataType == Int32(Onnx_TensorProto.DataType.int8.rawValue) && codes.dims == [3, 2, 3, 3])
        #expect(attribute(wdq, "axis")?.i == 0)
        #expect(initializer(m, wdq.input[1])!.dims == [3])
        let bdq = m.graph.node[4]
        #expect(initializer(m, bdq.input[0])!.dataType == Int32(Onnx_TensorProto.DataType.int32.rawValue))
        #expect(attribute(bdq, "axis")?.i == 0)
        let conv = m.graph.node[5]
        #expect(conv.input == [m.graph.node[1].output[0], wdq.output[0], bdq.output[0]])
        #expect(attribute(conv, "kernel_shape")?.ints == [3, 3] && attribute(conv, "pads")?.ints == [0, 0, 0, 0])
    }

    @Test func qonnxUsesQuantOpsWithBrevitasAttributes() throws {
        let l = try QuantLinear(4, 3, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 3), biasQuant: .int32Bias,
                                inputQuant: .shiftedUint8ActPerTensorFloat.with(\.bitWidth, 5), generator: RandomGenerator(seed: 1))
        try calibrate(l, { _ = try l($0) }, shape: [8, 4])
        let m = try decode(exportONNX(l, example: RandomGenerator(seed: 2).normal([2, 4]), format: .qonnx))
        #expect(m.irVersion == 9)
        #expect(m.opsetImport.map(\.domain) == ["", "qonnx.custom_op.general"])
        #expect(ops(m) == ["Quant", "Quant", "Quant", "Gemm"])
        for n in m.graph.node.prefix(3) {
            #expect(n.domain == "qonnx.custom_op.general")
            #expect(attribute(n, "rounding_mode")?.s == Data("ROUND".utf8))
        }
        let (inp, w, b) = (m.graph.node[0], m.graph.node[1], m.graph.node[2])
        #expect(attribute(inp, "signed")?.i == 0 && attribute(inp, "narrow")?.i == 0)
        #expect(attribute(w, "signed")?.i == 1 && attribute(w, "narrow")?.i == 1)
        #expect(attribute(b, "signed")?.i == 1 && attribute(b, "narrow")?.i == 0)
        // Weights and bias stay float initializers named by their state-dict keys.
        #expect(w.input[0] == "weight" && b.input[0] == "bias")
        func scalar(_ name: String) -> Float {
            initializer(m, name)!.rawData.withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
        }
        #expect(scalar(inp.input[3]) == 5 && scalar(w.input[3]) == 3 && scalar(b.input[3]) == 32)
        #expect(scalar(inp.input[2]) != 0, "shifted quantizer: nonzero zero point")
        #expect(attribute(m.graph.node[3], "transB")?.i == 1)
    }

    @Test func qonnxBinaryIsBipolarQuantAndTruncIsTrunc() throws {
        let bin = try QuantIdentity(actQuant: .signedBinaryActPerTensorConst)
        let m = try decode(exportONNX(bin, example: Tensor.ones([1, 4]), format: .qonnx))
        #expect(ops(m) == ["BipolarQuant"])
        let pool = QuantSequential(try QuantReLU(returnQuantTensor: true), TruncAvgPool2d(kernelSize: 2, truncQuant: .truncTo8bit))
        let t = try decode(exportONNX(pool, example: RandomGenerator(seed: 1).normal([1, 2, 4, 4]), format: .qonnx))
        #expect(ops(t) == ["Relu", "Quant", "AveragePool", "Trunc"])
        #expect(attribute(t.graph.node[3], "rounding_mode")?.s == Data("FLOOR".utf8))
        let q = try decode(exportONNX(pool, example: RandomGenerator(seed: 1).normal([1, 2, 4, 4]), format: .qcdq))
        #expect(ops(q) == ["Relu", "QuantizeLinear", "DequantizeLinear", "AveragePool", "Div", "Round", "Div", "Floor", "Clip",
                           "Cast", "DequantizeLinear"])
    }

    @Test func everyIntermediateTensorHasAShape() throws {
        let model = QuantSequential(try QuantIdentity(returnQuantTensor: true), try QuantConv2d(1, 2, kernelSize: 3, returnQuantTensor: false),
                                    QuantFlatten())
        for f in ONNXFormat.allCases {
            let m = try decode(exportONNX(model, example: Tensor.ones([2, 1, 5, 5]), format: f))
            let known = Set(m.graph.valueInfo.map(\.name) + m.graph.output.map(\.name))
            for n in m.graph.node { for o in n.output { #expect(known.contains(o), "\(f): \(o) has no value_info") } }
            #expect(m.graph.output[0].type.tensorType.shape.dim.map(\.dimValue) == [2, 18])
        }
    }
}

// MARK: - Refusals, modes, files

@Suite struct ExportErrorTests {
    func expectError(_ model: Module, _ example: Tensor, _ format: ONNXFormat, contains fragments: [String]) {
        do {
            _ = try exportONNX(model, example: example, format: format)
            Issue.record("expected an export error containing \(fragments)")
        } catch let e as ONNXExportError {
            for f in fragments { #expect(e.description.contains(f), "\(e.description) should mention \(f)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func qcdqRefusesWideActivations() throws {
        let model = QuantSequential(named: ["features": QuantSequential(try QuantIdentity(returnQuantTensor: true),
                                                                       try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 10)))])
        expectError(model, Tensor.ones([1, 3]), .qcdq, contains: ["'features.1' (QuantReLU) act_quant", "10-bit activations", "QONNX"])
        // QONNX keeps the bit width.
        #expect(throws: Never.self) { try exportONNX(model, example: Tensor.ones([1, 3]), format: .qonnx) }
    }

    @Test func qcdqRefusesWideWeights() throws {
        let l = try QuantLinear(3, 2, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 9))
        expectError(l, Tensor.ones([1, 3]), .qcdq, contains: ["model (QuantLinear) weight_quant", "9-bit weights"])
    }

    @Test func qcdqRefusesBinaryAndTernaryActivations() throws {
        expectError(try QuantIdentity(actQuant: .signedBinaryActPerTensorConst), Tensor.ones([1, 3]), .qcdq,
                    contains: ["QuantIdentity", "binary"])
        expectError(try QuantIdentity(actQuant: .signedTernaryActPerTensorConst), Tensor.ones([1, 3]), .qcdq,
                    contains: ["QuantIdentity", "ternary"])
    }

    @Test func ternaryNeedsThresholdOneHalf() throws {
        let l = try QuantIdentity(actQuant: .signedTernaryActPerTensorConst.with(\.threshold, 0.7))
        expectError(l, Tensor.ones([1, 3]), .qonnx, contains: ["threshold 0.7"])
    }

    @Test func unknownModulesAreNamed() throws {
        final class Custom: Module, QuantLayer {
            func forward(_ input: QuantValue) throws -> QuantValue { input }
        }
        let model = QuantSequential(named: ["q": try QuantIdentity(returnQuantTensor: true), "mystery": Custom()])
        expectError(model, Tensor.ones([1, 3]), .qcdq, contains: ["'mystery' (Custom)"])
        final class MyReLU: ReLU { override func callAsFunction(_ x: Tensor) -> Tensor { x } }
        expectError(QuantSequential(FloatLayer(MyReLU())), Tensor.ones([1, 3]), .qonnx, contains: ["'0' (MyReLU)", "subclasses"])
    }

    @Test func unevenAdaptivePoolingIsRefused() throws {
        let model = QuantSequential(try QuantReLU(returnQuantTensor: true), TruncAdaptiveAvgPool2d(outputSize: 2))
        expectError(model, Tensor.ones([1, 1, 5, 5]), .qonnx, contains: ["'1' (TruncAdaptiveAvgPool2d)", "windows of different sizes"])
    }

    @Test func multiInputLayersNeedOneExamplePerInput() throws {
        #expect(throws: ONNXExportError.self) { try exportONNX(try QuantEltwiseAdd(), example: Tensor.ones([1, 3]), format: .qcdq) }
    }

    @Test func forwardFailuresNameTheLayer() throws {
        // An Int32 bias needs a quantized input; none here.
        let l = try QuantLinear(3, 2, biasQuant: .int32Bias)
        expectError(l, Tensor.ones([1, 3]), .qcdq, contains: ["model (QuantLinear)", "quantized input"])
    }

    @Test func exportRunsInEvalModeAndRestoresModes() throws {
        let relu = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.collectStatsSteps, 3))
        let model = QuantSequential(try QuantIdentity(returnQuantTensor: true), relu)
        model.train()
        relu.actQuant.train(false)  // a mixed state must come back as it was
        let snapshot = { model.stateDict().entries.map { ($0.key, $0.tensor.scalars) } }
        let before = snapshot()
        _ = try exportONNX(model, example: RandomGenerator(seed: 1).normal([2, 3]), format: .qonnx)
        #expect(model.training && model.layers[0].training && !relu.actQuant.training)
        let after = snapshot()
        #expect(before.map(\.0) == after.map(\.0))
        for (b, a) in zip(before, after) { #expect(b.1 == a.1, "\(b.0) changed during export") }
    }

    @Test func fileIsWrittenAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.onnx")
        try Data("old".utf8).write(to: url)
        let l = try QuantIdentity()
        try exportONNX(l, example: Tensor.ones([1, 3]), format: .qcdq, to: url)
        let data = try Data(contentsOf: url)
        #expect(data == (try exportONNX(l, example: Tensor.ones([1, 3]), format: .qcdq)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.onnx"])
        // A failing export leaves the old file alone; a missing directory is a typed error.
        #expect(throws: ONNXExportError.self) {
            try exportONNX(try QuantIdentity(actQuant: .signedBinaryActPerTensorConst), example: Tensor.ones([1, 3]), format: .qcdq, to: url)
        }
        #expect(try Data(contentsOf: url) == data)
        #expect(throws: ONNXExportError.self) {
            try exportONNX(l, example: Tensor.ones([1, 3]), format: .qcdq, to: dir.appendingPathComponent("missing/m.onnx"))
        }
    }
}
