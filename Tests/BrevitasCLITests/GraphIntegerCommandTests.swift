import Foundation
import NN
import ONNXProto
import TensorEngine
import Testing
import TestSupport

@testable import BrevitasCLI

/// `verify`, `deploy`, `eval --integer` and `run --integer` on run folders of `brevitas quantize`:
/// the digits CNN of `QuantizeCommandTests` and a residual CNN.
@Suite(.serialized) struct GraphIntegerCommandTests {
    /// Writes the deployment of `run`, compiles it with the strictest flags and expects the
    /// classes it prints to be the executor's (`expected.txt`).
    func expectDeploymentRuns(_ run: URL, in dir: URL, examples: Int) throws {
        let out = dir.appendingPathComponent("deploy")
        let summary = try DeployCommand.parse([run.path, "--out", out.path, "--examples", "\(examples)"]).deploy()
        #expect(summary.contains("test_inputs.bin (\(examples) examples)"), "\(summary)")
        let build = try StrictC.build(["main.c", "model.c"], output: "model", in: out)
        #expect(build.status == 0, "\(build.output)")
        guard build.status == 0 else { return }
        let classes = try runProcess(out.appendingPathComponent("model").path, ["test_inputs.bin"], in: out)
        #expect(classes.status == 0)
        let expected = try String(contentsOf: out.appendingPathComponent("expected.txt"), encoding: .utf8)
        #expect(classes.stdout == expected && expected.split(separator: "\n").count == examples)
    }

    @Test(.enabled(if: StrictC.isAvailable))
    func digitsRunVerifiesDeploysAndEvaluatesAsIntegers() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try QuantizeCommandTests.quantize(dir, QuantizeCommandTests.withTest(dir))
        let run = dir.appendingPathComponent("run")

        let (report, passed) = try VerifyCommand.parse([run.path]).report()
        #expect(passed, "\(report)")
        let last = try #require(report.split(separator: "\n").last.map(String.init))
        let counts = last.split(separator: " ").compactMap { Int($0) }
        #expect(last.hasSuffix("integer codes agree") && counts.count == 4 && counts[0] == counts[1] && counts[1] > 0, "\(last)")
        #expect(report.contains("graph-quantized") && report.contains("relu1") && report.contains("fc_output_quant"), "\(report)")

        let line = try EvalCommand.parse([run.path, "--integer"]).evaluate()
        #expect(line.contains("integer program of the graph-quantized") && line.contains("accuracy"), "\(line)")
        let float = try EvalCommand.parse([run.path]).evaluate()
        func accuracy(_ s: String) -> Double? {
            s.range(of: "accuracy ").flatMap { r in Double(s[r.upperBound...].prefix { $0 != "%" }) }
        }
        // Every prediction agrees (verify above), so the integer accuracy is the quantized graph's.
        #expect(accuracy(line) != nil && accuracy(line) == accuracy(float), "\(line) | \(float)")

        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy")).narrow(dim: 0, start: 0, length: 5).contiguous()
        let input = dir.appendingPathComponent("x5.npy")
        try NumPy.write(x, to: input)
        let fake = dir.appendingPathComponent("y.npy").path
        #expect(try RunCommand.parse([run.path, "--input", input.path, "--out", fake]).execute() == ["wrote \(fake): float32 [5, 10]"])
        // The integer program's output (codes times scale) is the fake-quantized output.
        let lines = try RunCommand.parse([run.path, "--input", input.path, "--out", dir.appendingPathComponent("yi.npy").path, "--integer",
                                          "--expect", fake]).execute()
        #expect(lines.count == 2 && lines[1].contains("matches"), "\(lines)")

        try expectDeploymentRuns(run, in: dir, examples: 40)
    }

    /// A residual float CNN as PyTorch's TorchScript exporter writes it (opset 13, symbolic
    /// batch): `c1 = Relu(Conv(1->4, 3x3)); Relu(Conv(4->4, 3x3)(c1) + c1) -> GlobalAveragePool ->
    /// Flatten -> Gemm(4->10)`.
    static func residualCNN() -> Data {
        let g = RandomGenerator(seed: 5)
        func uniform(_ n: Int, _ bound: Float) -> [Float] { (0..<n).map { _ in (g.nextUniform() * 2 - 1) * bound } }
        let initializers: [Onnx_TensorProto] = [.floats("c1.weight", [4, 1, 3, 3], uniform(36, 0.33)), .floats("c1.bias", [4], uniform(4, 0.33)),
                                                .floats("c2.weight", [4, 4, 3, 3], uniform(144, 0.17)), .floats("c2.bias", [4], uniform(4, 0.17)),
                                                .floats("fc.weight", [10, 4], uniform(40, 0.5)), .floats("fc.bias", [10], uniform(10, 0.5))]
        let conv = [Onnx_AttributeProto.ints("pads", [1, 1, 1, 1]), .ints("kernel_shape", [3, 3]), .ints("strides", [1, 1])]
        return FloatONNX.torchScriptDigitsModel(initializers: initializers, nodes: [
            Onnx_NodeProto("Conv", ["input", "c1.weight", "c1.bias"], ["/c1/Conv_output_0"], name: "/c1/Conv", attributes: conv),
            Onnx_NodeProto("Relu", ["/c1/Conv_output_0"], ["/r1/Relu_output_0"], name: "/r1/Relu"),
            Onnx_NodeProto("Conv", ["/r1/Relu_output_0", "c2.weight", "c2.bias"], ["/c2/Conv_output_0"], name: "/c2/Conv", attributes: conv),
            Onnx_NodeProto("Add", ["/c2/Conv_output_0", "/r1/Relu_output_0"], ["/Add_output_0"], name: "/Add"),
            Onnx_NodeProto("Relu", ["/Add_output_0"], ["/r2/Relu_output_0"], name: "/r2/Relu"),
            Onnx_NodeProto("GlobalAveragePool", ["/r2/Relu_output_0"], ["/pool/GlobalAveragePool_output_0"], name: "/pool/GlobalAveragePool"),
            Onnx_NodeProto("Flatten", ["/pool/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name: "/Flatten", attributes: [.int("axis", 1)]),
            Onnx_NodeProto("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name: "/fc/Gemm",
                           attributes: [.float("alpha", 1), .float("beta", 1), .int("transB", 1)]),
        ])
    }

    /// A residual CNN (an add on a shared quantizer, a global average pool) quantized by
    /// `brevitas quantize` on the digits: verify agrees on every prediction, with ties at most,
    /// its program has the add, and its C runs.
    @Test(.enabled(if: StrictC.isAvailable))
    func residualRunVerifiesAndDeploys() throws {
        let dir = try QuantizeCommandTests.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.residualCNN().write(to: dir.appendingPathComponent("float.onnx"))
        _ = try QuantizeCommandTests.quantize(dir, QuantizeCommandTests.withTest(dir))
        let run = dir.appendingPathComponent("run")
        let (report, passed) = try VerifyCommand.parse([run.path, "--program"]).report()
        #expect(passed, "\(report)")
        let last = try #require(report.split(separator: "\n").last.map(String.init))
        #expect(last.hasPrefix("360 of 360 predictions agree"), "\(last)")
        #expect(report.contains(".add ("), "\(report)")
        print("GraphIntegerCommandTests: residual CNN: \(last)")
        try expectDeploymentRuns(run, in: dir, examples: 50)

        // --onnx: the graph's QCDQ export in ONNX Runtime, with and without its QDQ fusion (100 of
        // 100 here; one prediction of slack because fused integer kernels round differently on other CPUs).
        guard (try? ONNXRuntimeCheck.python()) != nil else {
            print("GraphIntegerCommandTests: skipped verify --onnx, no Python with onnxruntime")
            return
        }
        let (withONNX, ok) = try VerifyCommand.parse([run.path, "--onnx", "--limit", "100"]).report()
        #expect(ok, "\(withONNX)")
        let runtime = withONNX.split(separator: "\n").filter { $0.contains("ONNX Runtime, ") }
        #expect(runtime.count == 2, "\(withONNX)")
        for line in runtime {
            print("GraphIntegerCommandTests: \(line.trimmingCharacters(in: .whitespaces))")
            #expect(line.contains(": 100 of 100 predictions agree") || line.contains(": 99 of 100 predictions agree"), "\(line)")
        }
    }
}
