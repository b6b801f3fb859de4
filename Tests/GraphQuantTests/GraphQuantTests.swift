import Foundation
import Graph
import GraphQuant
import NN
import Quantizers
import TensorEngine
import Testing

/// Hand-checked behaviour of the graph passes and their errors.
@Suite struct GraphQuantTests {
    /// x -> fc1 -> relu -> fc2, built in Swift.
    func mlp() throws -> GraphModule {
        let g = GraphBuilder()
        let x = g.input("x")
        let h = g.call("relu", ReLU(), g.call("fc1", Linear(3, 4), x))
        return try g.build(outputs: [g.call("fc2", Linear(4, 2), h)])
    }

    /// Calibration takes the true running mean of max|x| over the batches: the input
    /// quantizer's scale is mean(max|x_k|) / 128.
    @Test func calibrationIsARunningMean() throws {
        let q = try quantize(try preprocessForQuantize(try mlp()))
        let batches = [Tensor(shape: [2, 3], [1, -2, 0.5, 0, 0, 0.25]), Tensor(shape: [2, 3], [0.5, 0, 0, 4, 0, 0]),
                       Tensor(shape: [2, 3], [0, 3, 0, 0, 0, 0])]
        try calibrate(q, batches: batches)
        let points = try q.quantizationPoints(on: batches[0])
        let input = try #require(points.first { $0.key == "output of x" })
        #expect(input.appliedTo == ["x"] && input.calls == 1 && input.signed == true)
        #expect(abs(try #require(input.scale).item() - (2 + 4 + 3) / 3 / 128) < 1e-7)
        #expect(points.map(\.key) == ["bias of fc1", "bias of fc2", "output of fc2", "output of relu", "output of x", "weight of fc1", "weight of fc2"])
    }

    /// A residual add: the ReLU branch borrows the add quantizer's scaling module (own sign),
    /// the other branch is requantized by it.
    @Test func residualAddSharesTheScale() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let r = g.call("relu0", ReLU(), g.call("conv0", Conv2d(inChannels: 1, outChannels: 2, kernelSize: 1), x))
        let s = g.op(.add, g.call("conv1", Conv2d(inChannels: 2, outChannels: 2, kernelSize: 1), r), r, name: "add1")
        let model = try g.build(outputs: [g.call("relu1", ReLU(), s)])
        let q = try quantize(try preprocessForQuantize(model))
        try calibrate(q, batches: [RandomGenerator(seed: 1).uniform([2, 1, 3, 3], low: -1, high: 1)])
        let points = try q.quantizationPoints(on: RandomGenerator(seed: 2).uniform([2, 1, 3, 3], low: -1, high: 1))
        let add = try #require(points.first { $0.key == "inputs of add1" })
        let relu = try #require(points.first { $0.key == "output of relu0" })
        #expect(add.appliedTo == ["conv1"] && add.scaleSharedWith == ["output of relu0"] && add.signed == true)
        #expect(relu.signed == false && relu.bitWidth == 8 && relu.scale?.item() == add.scale?.item())
    }

    /// The inherited tensor entry points run the quantized layers: `forward(_:)`, the call and
    /// `output(_:)` give the same values, which differ from the float graph's.
    @Test func tensorForwardRunsTheQuantizedGraph() throws {
        let float = try mlp()
        let x = Tensor(shape: [2, 3], [1, -2, 0.5, 0.3, 0.7, -0.25])
        let reference = float(x).scalars
        let q = try quantize(try preprocessForQuantize(float))
        try calibrate(q, batches: [x])
        let viaOutput = try q.output(x).scalars
        let asGraph: GraphModule = q
        #expect(asGraph.forward([x])[0].scalars == viaOutput)
        #expect(asGraph(x).scalars == viaOutput)
        #expect(viaOutput != reference)
    }

    @Test func badMapEntryNamesTheNode() throws {
        var maps = QuantizeMaps.default
        maps.computeLayerMap["torch.nn.Linear"] = LayerRecipe("QuantLinear", ["weight_bit_widht": .number(4)])
        #expect {
            _ = try quantize(try mlp(), maps: maps)
        } throws: { error in
            guard case GraphQuantError.layerConfig(let node, let message) = error else { return false }
            return node == "fc1" && message.contains("bit_widht")
        }
    }

    @Test func unknownSkippedLayerIsAnError() throws {
        #expect(throws: GraphQuantError.unknownLayer("fc9", known: ["fc1", "relu", "fc2"])) {
            _ = try layerwiseQuantize(try mlp(), skip: ["fc9"])
        }
    }

    @Test func identityMapNeedsBothSigns() throws {
        let json: [String: Any] = ["quant_identity_map": ["signed": ["class": "QuantIdentity", "kwargs": [:] as [String: Any]]]]
        #expect(throws: GraphQuantError.self) { _ = try QuantizeMaps(json: json) }
    }
}
