import Foundation
import Graph
import GraphQuant
import NN
import QuantNN
import Quantizers
import TensorEngine
import Testing

/// Per-layer overrides, the state-dict keys of a borrowed scale, and bias correction of a layer
/// without a bias.
@Suite struct GraphQuantOptionsTests {
    /// x -> fc1 (no bias) -> relu -> fc2.
    func mlp(fc1Bias: Bool = true) throws -> GraphModule {
        let g = GraphBuilder()
        let x = g.input("x")
        let fc1 = Linear(inFeatures: 3, outFeatures: 4, bias: fc1Bias, generator: RandomGenerator(seed: 3))
        let h = g.call("relu", ReLU(), g.call("fc1", fc1, x))
        return try g.build(outputs: [g.call("fc2", Linear(inFeatures: 4, outFeatures: 2, generator: RandomGenerator(seed: 4)), h)])
    }

    @Test func layerOverridesChangeOneLayer() throws {
        var maps = QuantizeMaps.default
        maps.layerOverrides = ["fc2": ["weight_bit_width": .number(4)], "relu": ["bit_width": .number(6)]]
        let q = try quantize(try preprocessForQuantize(try mlp()), maps: maps)
        let x = RandomGenerator(seed: 1).uniform([4, 3], low: -1, high: 1)
        try calibrate(q, batches: [x])
        let bits = Dictionary(uniqueKeysWithValues: try q.quantizationPoints(on: x).map { ($0.key, $0.bitWidth) })
        #expect(bits["weight of fc1"] == 8 && bits["weight of fc2"] == 4)
        #expect(bits["output of relu"] == 6 && bits["output of x"] == 8)
    }

    @Test func overrideOfAnUnknownLayerListsTheKnownOnes() throws {
        var maps = QuantizeMaps.default
        maps.layerOverrides = ["fc3": ["weight_bit_width": .number(4)]]
        #expect(throws: GraphQuantError.unknownLayer("fc3", known: ["fc1", "relu", "fc2"])) {
            _ = try quantize(try mlp(), maps: maps)
        }
        #expect(throws: GraphQuantError.unknownLayer("relu", known: ["fc1", "fc2"])) {
            _ = try layerwiseQuantize(try mlp(), overrides: ["relu": ["weight_bit_width": .number(4)]])
        }
        let lw = try layerwiseQuantize(try mlp(), overrides: ["fc2": ["weight_bit_width": .number(3)]])
        #expect((lw.module(at: "fc2") as? QuantLinear)?.weightQuant.config?.bitWidth == 3)
    }

    /// Brevitas's borrower holds the source's scaling module itself, so its keys are
    /// `...tensor_quant.scaling_impl.value`, the same tensor as the add quantizer's.
    @Test func aBorrowedScaleHasBrevitasKeys() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let r = g.call("relu0", ReLU(), g.call("conv0", Conv2d(inChannels: 1, outChannels: 2, kernelSize: 1), x))
        let s = g.op(.add, g.call("conv1", Conv2d(inChannels: 2, outChannels: 2, kernelSize: 1), r), r, name: "add1")
        let q = try quantize(try preprocessForQuantize(try g.build(outputs: [g.call("relu1", ReLU(), s)])))
        try calibrate(q, batches: [RandomGenerator(seed: 1).uniform([2, 1, 3, 3], low: -1, high: 1)])
        let state = q.stateDict()
        let borrowed = "relu0.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"
        let source = "add1_quant.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"
        #expect(state[borrowed] != nil && state[source] != nil, "\(state.keys.filter { $0.contains("scaling_impl.value") })")
        #expect(state.keys.allSatisfy { !$0.contains("shared_scaling_impl") })
        #expect(state[borrowed]?.scalars == state[source]?.scalars)
        // A reload through either key restores the scale (collection stays ended).
        let probe = RandomGenerator(seed: 2).uniform([2, 1, 3, 3], low: -1, high: 1)
        let before = try q.output(probe).scalars
        try q.loadStateDict(state)
        #expect(try q.output(probe).scalars == before)
    }

    /// Bias correction gives a layer without a bias one: the mean over batches of the per-channel
    /// mean of (float output − quantized output), computed here independently.
    @Test func biasCorrectionAddsAMissingBias() throws {
        let q = try quantize(try preprocessForQuantize(try mlp(fc1Bias: false)))
        let g = RandomGenerator(seed: 5)
        let batches = [g.uniform([6, 3], low: -1, high: 1), g.uniform([6, 3], low: -1, high: 1)]
        try calibrate(q, batches: batches)
        let fc1 = try #require(q.module(at: "fc1") as? QuantLinear)
        #expect(fc1.bias == nil)
        var expected = [Double](repeating: 0, count: 4)
        for b in batches {
            let xq = try #require(q.module(at: "x_quant") as? QuantIdentity)
            let input = try xq.forward(.float(b))
            let quantOut = try fc1.forward(input).value
            let floatOut = Tensor.linear(input.value, weight: fc1.weight, bias: nil)
            for c in 0..<4 {
                var d = 0.0
                for n in 0..<6 { d += Double(floatOut.scalars[n * 4 + c] - quantOut.scalars[n * 4 + c]) }
                expected[c] += d / 6 / Double(batches.count)
            }
        }
        try correctBias(q, batches: batches)
        let bias = try #require(fc1.bias)
        for c in 0..<4 { #expect(abs(Double(bias.scalars[c]) - expected[c]) < 1e-6, "channel \(c): \(bias.scalars[c]) vs \(expected[c])") }
        #expect(expected.contains { abs($0) > 1e-5 })
        #expect(q.stateDict()["fc1.bias"] != nil)
        // From now on the bias is quantized with Int32Bias and named as a quantization point's tensor.
        #expect(try fc1.forward(try (q.module(at: "x_quant") as! QuantIdentity).forward(.float(batches[0]))).quantTensor != nil)
    }
}
