import Foundation
import Graph
import GraphQuant
import NN
import ONNXImport
import QuantNN
import Quantizers
import TensorEngine
import Testing
import TestSupport

@testable import IntegerInference

/// The integer program of graph-quantized models (`GraphQuant.quantize`): residual adds on a
/// shared quantizer, concatenation, pools, ReLU as clamps; verified node by node and compiled as C.
@Suite(.serialized) struct GraphLoweringTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/zoo` beside the package root (or `../../shared/zoo` from a worktree).
    static var zoo: URL? {
        var folder = packageRoot
        for _ in 0..<2 {
            folder = folder.deletingLastPathComponent()
            let url = folder.appendingPathComponent("shared/zoo")
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("resnet.onnx").path) { return url }
        }
        return nil
    }

    /// A zoo model imported for `shape`, preprocessed, quantized with `maps`, calibrated on four random batches.
    static func zooModel(_ name: String, shape: [Int], maps: QuantizeMaps = .default) throws -> QuantGraphModule? {
        guard let zoo else {
            print("GraphLoweringTests: skipped \(name), ../shared/zoo is absent")
            return nil
        }
        let float = try ONNXImporter.load(zoo.appendingPathComponent("\(name).onnx"), inputShapes: ["input": shape]).graph
        let q = try quantize(try preprocessForQuantize(float), maps: maps)
        let g = RandomGenerator(seed: 11)
        try calibrate(q, batches: (0..<4).map { _ in g.normal(shape) })
        return q
    }

    /// conv branch with a ReLU and a 1x1 branch concatenated on one quantizer, a max pool, a
    /// residual add, a float ReLU left unquantized, an average pool, a flatten and a linear layer.
    static func branchyGraph(maps: QuantizeMaps = .default) throws -> QuantGraphModule {
        let g = GraphBuilder()
        let x = g.input("x")
        let a = g.call("relu_a", ReLU(), g.call("conv_a", Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1), x))
        let b = g.call("conv_b", Conv2d(inChannels: 2, outChannels: 3, kernelSize: 1), x)
        let cat = g.op(.concat(axis: 1), a, b, name: "cat")
        let pooled = g.call("pool", MaxPool2d(kernelSize: 2, stride: 2), cat)
        let c = g.call("conv_c", Conv2d(inChannels: 6, outChannels: 6, kernelSize: 1), pooled)
        let sum = g.op(.add, c, pooled, name: "add")
        let r = g.op(.relu, sum, name: "relu_f")
        let avg = g.call("avg", AvgPool2d(kernelSize: 2, stride: 2), r)
        let flat = g.op(.flatten(startDim: 1, endDim: -1), avg, name: "flat")
        let model = try g.build(outputs: [g.call("fc", Linear(6, 3), flat)])
        let q = try quantize(try preprocessForQuantize(model), maps: maps)
        let gen = RandomGenerator(seed: 5)
        try calibrate(q, batches: (0..<3).map { _ in gen.normal([8, 2, 4, 4]) })
        return q
    }

    @Test(arguments: IntegerExecutor.Arithmetic.allCases)
    func branchyGraphAgreesNodeByNode(arithmetic: IntegerExecutor.Arithmetic) throws {
        let q = try Self.branchyGraph()
        let program = try IntegerLowering.lower(q, inputShape: [2, 4, 4])
        let kinds = program.steps.map(\.op.kind)
        for k in ["conv2d", "concat", "maxpool2d", "add", "relu", "sumpool2d", "reshape", "linear"] {
            #expect(kinds.contains(k), "no \(k) in \(kinds)")
        }
        #expect(program.checkpoints.map(\.layer).contains("add"))
        let x = RandomGenerator(seed: 9).normal([100, 2, 4, 4])
        let v = try Verification.run(graph: q, program: program, inputs: x, arithmetic: arithmetic, batchSize: 32)
        #expect(v.passed, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 100)
        #expect(v.codesAgree + v.layers.map(\.ties).reduce(0, +) >= v.codes && v.codes > 0)
    }

    /// The zoo's ResNet (residual adds with a 1x1 strided shortcut, global average pool) lowers
    /// to a program whose predictions equal the graph's; its C compiles with the strictest flags
    /// and computes the executor's outputs bit for bit.
    @Test func zooResNetAgreesAndItsCIsBitExact() throws {
        guard let q = try Self.zooModel("resnet", shape: [2, 3, 16, 16]) else { return }
        let program = try IntegerLowering.lower(q, inputShape: [3, 16, 16])
        #expect(program.steps.filter { $0.op.kind == "add" }.count >= 2, "\(program.listing)")
        let x = RandomGenerator(seed: 21).normal([48, 3, 16, 16])
        let v = try Verification.run(graph: q, program: program, inputs: x, batchSize: 16)
        print("GraphLoweringTests: zoo resnet: \(v.summary); ties \(v.layers.map(\.ties).reduce(0, +)), non-ties \(v.layers.map(\.nonTies).reduce(0, +))")
        #expect(v.passed, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 48)

        try expectCMatchesExecutor(program, x, title: "zoo resnet")
    }

    /// A graph of 1-D convolutions (a strided, padded, grouped one and a pointwise one, with a
    /// residual add): each runs as a 2-D convolution of height 1; the program agrees with the
    /// graph and its C with the executor.
    @Test func conv1dGraphAgreesAndItsCIsBitExact() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let a = g.call("relu_a", ReLU(), g.call("conv_a", Conv1d(inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1, groups: 2), x))
        let b = g.call("conv_b", Conv1d(inChannels: 6, outChannels: 6, kernelSize: 1), a)
        let sum = g.op(.add, b, a, name: "add")
        let flat = g.op(.flatten(startDim: 1, endDim: -1), g.call("relu_b", ReLU(), sum), name: "flat")
        let model = try g.build(outputs: [g.call("fc", Linear(6 * 5, 4), flat)])
        let q = try quantize(try preprocessForQuantize(model))
        let gen = RandomGenerator(seed: 3)
        try calibrate(q, batches: (0..<3).map { _ in gen.normal([16, 4, 10]) })
        let program = try IntegerLowering.lower(q, inputShape: [4, 10])
        #expect(program.steps.filter { $0.op.kind == "conv2d" }.map(\.shape) == [[6, 1, 5], [6, 1, 5]])
        let inputs = RandomGenerator(seed: 4).normal([64, 4, 10])
        let v = try Verification.run(graph: q, program: program, inputs: inputs)
        #expect(v.passed, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 64)
        try expectCMatchesExecutor(program, inputs, title: "conv1d graph")
    }

    /// Transposed convolutions (strided, padded, output-padded, grouped, dilated; 1-D as 2-D of
    /// height 1) agree with the fake-quantized model and their C with the executor.
    @Test(arguments: [false, true])
    func transposedConvolutionsAgreeAndTheirCIsBitExact(oneDimensional: Bool) throws {
        let g = RandomGenerator(seed: 13)
        let layers: [QuantLayer]
        let shape: [Int]
        if oneDimensional {
            shape = [3, 5]
            layers = [try QuantIdentity(actQuant: TestModels.input, returnQuantTensor: true),
                      try QuantConvTranspose1d(3, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, biasQuant: .int32Bias, generator: g),
                      try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true),
                      QuantFlatten(), try QuantLinear(4 * 10, 5, biasQuant: .int32Bias, generator: g)]
        } else {
            shape = [2, 3, 3]
            layers = [try QuantIdentity(actQuant: TestModels.input, returnQuantTensor: true),
                      try QuantConvTranspose2d(2, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, groups: 2, biasQuant: .int32Bias, generator: g),
                      try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true),
                      try QuantConvTranspose2d(4, 3, kernelSize: 2, dilation: 2, biasQuant: .int32Bias, generator: g),
                      try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true),
                      QuantFlatten(), try QuantLinear(3 * 8 * 8, 5, biasQuant: .int32Bias, generator: g)]
        }
        let m = QuantSequential(layers)
        try TestModels.calibrate(m, TestModels.data([32] + shape, seed: 1))
        let program = try IntegerLowering.lower(m, inputShape: shape)
        #expect(program.steps.filter { $0.op.kind == "convtranspose2d" }.map(\.shape) == (oneDimensional ? [[4, 1, 10]] : [[4, 6, 6], [3, 8, 8]]))
        let x = TestModels.data([64] + shape, seed: 2)
        let v = try Verification.run(model: m, program: program, inputs: x)
        #expect(v.passed, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 64)
        try expectCMatchesExecutor(program, x, title: "transposed convolutions")
    }

    /// 3-D convolutions (strided, padded, dilated, grouped; per-channel weight scales) agree with
    /// the fake-quantized model and their C with the executor.
    @Test func conv3dAgreesAndItsCIsBitExact() throws {
        let g = RandomGenerator(seed: 17)
        let m = QuantSequential([
            try QuantIdentity(actQuant: TestModels.input, returnQuantTensor: true),
            try QuantConv3d(2, 4, kernelSize: [3, 3, 3], stride: [1, 2, 1], padding: [1, 1, 0], dilation: [1, 1, 2],
                            weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 5), biasQuant: .int32Bias, generator: g),
            try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true),
            try QuantConv3d(4, 4, kernelSize: [1, 3, 3], padding: [0, 1, 1], groups: 2, biasQuant: .int32Bias, generator: g),
            try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true),
            QuantFlatten(), try QuantLinear(4 * 4 * 3 * 2, 5, biasQuant: .int32Bias, generator: g),
        ])
        try TestModels.calibrate(m, TestModels.data([16, 2, 4, 6, 6], seed: 1))
        let program = try IntegerLowering.lower(m, inputShape: [2, 4, 6, 6])
        #expect(program.steps.filter { $0.op.kind == "conv3d" }.map(\.shape) == [[4, 4, 3, 2], [4, 4, 3, 2]])
        let x = TestModels.data([40, 2, 4, 6, 6], seed: 2)
        let v = try Verification.run(model: m, program: program, inputs: x)
        #expect(v.passed, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 40)
        try expectCMatchesExecutor(program, x, title: "conv3d")
    }

    /// Compiles the program's C with the strictest flags, runs it on the codes of `x` and expects
    /// the executor's outputs bit for bit.
    func expectCMatchesExecutor(_ program: IntegerProgram, _ x: Tensor, title: String) throws {
        guard StrictC.isAvailable else {
            print("GraphLoweringTests: skipped the C check of \(title), no /usr/bin/cc")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graph-deploy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, data) in try Deployment.files(program, title: title) { try data.write(to: dir.appendingPathComponent(name)) }
        let codes = program.inputCodes(x)
        try Deployment.inputFile(codes, grid: program.inputGrid).write(to: dir.appendingPathComponent("in.bin"))
        let build = try StrictC.build(["main.c", "model.c"], output: "model", in: dir)
        #expect(build.status == 0, "\(build.output)")
        guard build.status == 0 else { return }
        let outputs = try runProcess(dir.appendingPathComponent("model").path, ["-o", "in.bin"], in: dir)
        #expect(outputs.status == 0)
        let got = outputs.stdout.split(separator: "\n").flatMap { $0.split(separator: " ").map { Int64($0)! } }
        #expect(got == IntegerExecutor.run(program, input: codes).data)
    }

    // MARK: Bad input: errors name the node and the change

    func loweringError(_ q: QuantGraphModule, shape: [Int]) -> String? {
        do {
            _ = try IntegerLowering.lower(q, inputShape: shape)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The zoo's LeNet has a sigmoid between quantizers (a QuantSigmoid).
    @Test func aSigmoidBetweenQuantizersIsAnErrorNamingTheNode() throws {
        guard let q = try Self.zooModel("lenet", shape: [2, 1, 28, 28]) else { return }
        let sigmoid = try #require(q.moduleNodes.first { $0.module is QuantSigmoid }?.node.name)
        let message = try #require(loweringError(q, shape: [1, 28, 28]))
        #expect(message.contains("layer '\(sigmoid)'") && message.contains("Sigmoid is not linear") && message.contains("To fix"), "\(message)")
    }

    @Test func aFloatBiasIsAnErrorNamingTheNode() throws {
        var maps = QuantizeMaps.default
        for k in ["torch.nn.Conv2d", "torch.nn.Linear"] {
            maps.computeLayerMap[k] = LayerRecipe(k == "torch.nn.Linear" ? "QuantLinear" : "QuantConv2d",
                                                  ["weight_quant": .quantizer("Int8WeightPerTensorFloat"), "return_quant_tensor": .bool(true)])
        }
        let message = try #require(loweringError(try Self.branchyGraph(maps: maps), shape: [2, 4, 4]))
        #expect(message.contains("layer 'conv_a'") && message.contains("bias is a float") && message.contains("int32Bias"), "\(message)")
    }

    @Test func aNonZeroInputZeroPointIsAnErrorNamingTheNode() throws {
        var maps = QuantizeMaps.default
        maps.signedIdentity = LayerRecipe("QuantIdentity", ["act_quant": .quantizer("ShiftedUint8ActPerTensorFloat"), "return_quant_tensor": .bool(true)])
        let message = try #require(loweringError(try Self.branchyGraph(maps: maps), shape: [2, 4, 4]))
        #expect(message.contains("layer 'conv_") && message.contains("zero point"), "\(message)")
    }
}
