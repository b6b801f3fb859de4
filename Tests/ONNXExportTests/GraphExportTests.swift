import Foundation
import Graph
import GraphQuant
import NN
@testable import ONNXExport
import ONNXImport
import ONNXProto
import QuantNN
import TensorEngine
import Testing

/// `../shared/<sub>` beside the package root (or `../../shared` from a worktree), `nil` when absent.
func sharedFolder(_ sub: String) -> URL? {
    var folder = PythonEnv.packageRoot
    for _ in 0..<2 {
        folder = folder.deletingLastPathComponent()
        let url = folder.appendingPathComponent("shared/\(sub)")
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue { return url }
    }
    return nil
}

/// Graph-quantized models (`QuantGraphModule`) export to QCDQ and QONNX node by node; ONNX
/// Runtime (QCDQ) and the QONNX executor reproduce our eval output and every quantizer's codes.
@Suite struct GraphExportTests {
    /// A zoo model imported for `shape`, preprocessed, quantized with Brevitas's default maps and
    /// calibrated on four random batches.
    static func quantizedZooModel(_ name: String, shape: [Int]) throws -> QuantGraphModule? {
        guard let zoo = sharedFolder("zoo") else { return nil }
        let float = try ONNXImporter.load(zoo.appendingPathComponent("\(name).onnx"), inputShapes: ["input": shape]).graph
        let q = try quantize(try preprocessForQuantize(float))
        let g = RandomGenerator(seed: 11)
        try calibrate(q, batches: (0..<4).map { _ in g.normal(shape) })
        return q
    }

    /// Two conv branches concatenated on one shared quantizer, a max pool, a residual add, a
    /// reshape and a mean: the node kinds the zoo's CNNs do not all have.
    static func branchyGraph() throws -> QuantGraphModule {
        let g = Graph.GraphBuilder()
        let x = g.input("x")
        let a = g.call("relu_a", ReLU(), g.call("conv_a", Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1), x))
        let b = g.call("conv_b", Conv2d(inChannels: 2, outChannels: 3, kernelSize: 1), x)
        let cat = g.op(.concat(axis: 1), a, b, name: "cat")
        let pooled = g.call("pool", MaxPool2d(kernelSize: 2, stride: 2), cat)
        let c = g.call("conv_c", Conv2d(inChannels: 6, outChannels: 6, kernelSize: 1), pooled)
        let sum = g.op(.add, c, pooled, name: "add")
        let r = g.call("relu_c", ReLU(), sum)
        let flat = g.op(.reshape([-1, 6, 4]), r, name: "reshape")
        let m = g.op(.mean(axes: [2], keepDims: false), flat, name: "mean")
        let model = try g.build(outputs: [g.call("fc", Linear(6, 3), m)])
        let q = try quantize(try preprocessForQuantize(model))
        let gen = RandomGenerator(seed: 5)
        try calibrate(q, batches: (0..<3).map { _ in gen.normal([4, 2, 4, 4]) })
        return q
    }

    @Test func nodesBecomeTheirONNXOps() throws {
        let q = try Self.branchyGraph()
        let x = RandomGenerator(seed: 6).normal([2, 2, 4, 4])
        let r = try exportONNX(q, examples: [x], format: .qcdq)
        let model = try Onnx_ModelProto(serializedBytes: r.data)
        let ops = model.graph.node.map(\.opType)
        for op in ["Conv", "Concat", "MaxPool", "Add", "Reshape", "ReduceMean", "Gemm", "QuantizeLinear", "DequantizeLinear"] {
            #expect(ops.contains(op), "no \(op) in \(ops)")
        }
        #expect(r.inputNames == ["x"])
        #expect(r.output.scalars == (try q.output(x)).scalars)
        // QONNX (opset 20): ReduceMean takes its axes as an input.
        let qonnx = try Onnx_ModelProto(serializedBytes: try exportONNX(q, example: x, format: .qonnx))
        let mean = try #require(qonnx.graph.node.first { $0.opType == "ReduceMean" })
        #expect(mean.input.count == 2 && qonnx.graph.node.contains { $0.opType == "Quant" })
    }

    /// A reshape that folds the batch into another dimension cannot take a dynamic batch: the
    /// error names the node.
    @Test func aReshapeMixingTheBatchIsRefusedUnderADynamicBatch() throws {
        let g = Graph.GraphBuilder()
        let x = g.input("x")
        let y = g.op(.reshape([8]), g.call("relu", ReLU(), x), name: "fold")
        let q = try quantize(try preprocessForQuantize(try g.build(outputs: [y])))
        try calibrate(q, batches: [RandomGenerator(seed: 1).normal([2, 4])])
        let ex = RandomGenerator(seed: 2).normal([2, 4])
        #expect(throws: ONNXExportError.self) { try exportONNX(q, examples: [ex], format: .qcdq, dynamicBatch: true) }
        do {
            _ = try exportONNX(q, examples: [ex], format: .qcdq, dynamicBatch: true)
        } catch {
            #expect("\(error)".contains("node 'fold'"), "\(error)")
        }
        _ = try exportONNX(q, examples: [ex], format: .qcdq)
    }

    @Test func wrongNumberOfExamplesIsAnError() throws {
        let q = try Self.branchyGraph()
        let x = RandomGenerator(seed: 6).normal([2, 2, 4, 4])
        #expect(throws: ONNXExportError.badExample(reason: "the graph takes 1 inputs ([\"x\"]), 2 examples given")) {
            try exportONNX(q, examples: [x, x], format: .qcdq)
        }
    }

    /// Every model of the zoo, graph-quantized with Brevitas's defaults, runs in ONNX Runtime
    /// (QCDQ) and the QONNX executor with our eval output and codes: ResNet (residual adds on a
    /// shared quantizer, 1x1 strided shortcut, global average pool), LeNet (max and average
    /// pools, a sigmoid), MobileNet (depthwise, HardSwish, mean), Inception (concat of three
    /// branches, ConvTranspose, Resize, LeakyReLU/ELU, ReduceMax, LogSoftmax), the transformer
    /// (LayerNorm, MatMul, Softmax, GELU by Erf, shape ops), the dynamo ResNet and the MLP.
    /// Dynamic-batch QCDQ exports traced on 2 examples run on 5 (the models whose import keeps
    /// the batch free: the importer folds it into the transformer's and the dynamo ResNet's
    /// reshapes and Inception's resize sizes, so our graph of those takes batches of 2 only).
    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func zooModelsRunInONNXRuntime() throws {
        guard let zoo = sharedFolder("zoo") else {
            print("GraphExportTests: skipped, ../shared/zoo is absent")
            return
        }
        let batch = try CheckBatch()
        var keys: [String] = []
        for name in ["resnet", "lenet", "mobilenet", "inception", "transformer", "resnet_dynamo", "mlp"] {
            let shape = try NumPy.readTensor(zoo.appendingPathComponent("\(name).input.npy")).shape
            let q = try #require(try Self.quantizedZooModel(name, shape: shape))
            let x = RandomGenerator(seed: 3).normal(shape)
            for format in ONNXFormat.allCases {
                try batch.add("graph_\(name)", q, [x], format)
                keys.append("graph_\(name).\(format.rawValue)")
            }
            guard ["resnet", "lenet", "mobilenet"].contains(name) else { continue }
            var big = shape
            big[0] = 5
            try batch.addDynamicBatch("graph_\(name)_dynamic", q, example: x, inputs: RandomGenerator(seed: 4).normal(big), .qcdq,
                                      output: { try q.output($0) })
            keys.append("graph_\(name)_dynamic.qcdq")
        }
        let q = try Self.branchyGraph()
        for format in ONNXFormat.allCases {
            try batch.add("graph_branchy", q, [RandomGenerator(seed: 8).normal([2, 2, 4, 4])], format)
            keys.append("graph_branchy.\(format.rawValue)")
        }
        let (results, stderr) = try batch.check(python: PythonEnv.found!.python)
        for key in keys {
            let r = try #require(results[key], "no result for \(key): \(stderr)")
            #expect(r.ok, "\(key): \(r.problems)")
            print("GraphExportTests: \(key) ok=\(r.ok) max|diff| \(r.maxAbsDiff) of max|ref| \(r.maxAbsRef), \(r.codes) codes, \(r.flips) tie flips, \(r.executor)")
        }
    }
}
