import Models
import Foundation
import NN
@testable import ONNXExport
import ONNXProto
import QuantNN
import Testing
import TensorEngine

/// `dynamicBatch`: the graph's batch dimension is the symbolic `batch`, nothing in the graph
/// fixes it (no intermediate shapes, a Reshape copies the batch with 0).
@Suite struct DynamicBatchTests {
    func decode(_ data: Data) throws -> Onnx_ModelProto { try Onnx_ModelProto(serializedBytes: data) }

    func dims(_ v: Onnx_ValueInfoProto) -> [String] {
        v.type.tensorType.shape.dim.map { $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam }
    }

    @Test(arguments: ONNXFormat.allCases)
    func inputsAndOutputsHaveASymbolicBatch(format: ONNXFormat) throws {
        let spec = ModelSpec(arch: .resnet8, inputShape: [3, 8, 8], classes: 4, weightBits: 4, actBits: 4, inputBits: 8, collectStatsSteps: 2)
        let model = try spec.makeModel(generator: RandomGenerator(seed: 1))
        try calibrate(model, { _ = try model($0) }, shape: [2, 3, 8, 8], steps: 3)
        let example = RandomGenerator(seed: 4).normal([2, 3, 8, 8])
        let dynamic = try decode(try exportONNX(model, example: example, format: format, dynamicBatch: true))
        #expect(dynamic.graph.input.map(dims) == [["batch", "3", "8", "8"]])
        #expect(dynamic.graph.output.map(dims) == [["batch", "4"]])
        #expect(dynamic.graph.valueInfo.isEmpty)
        let fixed = try decode(try exportONNX(model, example: example, format: format))
        #expect(fixed.graph.input.map(dims) == [["2", "3", "8", "8"]])
        #expect(!fixed.graph.valueInfo.isEmpty)
        #expect(fixed.graph.node.map(\.opType) == dynamic.graph.node.map(\.opType))
    }

    @Test func aReshapeCopiesTheBatch() throws {
        let model = QuantSequential([try QuantIdentity(returnQuantTensor: true), QuantFlatten(startDim: 2)])
        try calibrate(model, { _ = try model($0) }, shape: [2, 3, 4, 5], steps: 2)
        let x = RandomGenerator(seed: 2).normal([2, 3, 4, 5])
        for (dynamic, first) in [(true, Int64(0)), (false, Int64(2))] {
            let m = try decode(try exportONNX(model, example: x, format: .qcdq, dynamicBatch: dynamic))
            let reshape = try #require(m.graph.node.first { $0.opType == "Reshape" })
            let target = try #require(m.graph.initializer.first { $0.name == reshape.input[1] })
            let values = target.rawData.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
            #expect(values == [first, 3, 20])
        }
    }

    /// ONNX Runtime runs a QCDQ export traced on one example on a batch of five.
    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func onnxRuntimeRunsAnotherBatchSize() throws {
        let batch = try CheckBatch()
        for arch in [Architecture.lenet, .resnet8] {
            let spec = ModelSpec(arch: arch, inputShape: [1, 8, 8], classes: 10, weightBits: 4, actBits: 4, inputBits: 8, collectStatsSteps: 2)
            let model = try spec.makeModel(generator: RandomGenerator(seed: 1))
            try calibrate(model, { _ = try model($0) }, shape: [4, 1, 8, 8], steps: 3)
            try batch.addDynamicBatch("dynamic_\(arch.rawValue)", model, example: RandomGenerator(seed: 2).uniform([1, 1, 8, 8]),
                                      inputs: RandomGenerator(seed: 3).uniform([5, 1, 8, 8]), .qcdq)
        }
        let (results, stderr) = try batch.check(python: PythonEnv.found!.python)
        #expect(results.count == 2, "\(stderr)")
        for (key, r) in results { #expect(r.ok, "\(key): \(r.problems)") }
    }
}
