import Foundation
import Testing
import NN
import TensorEngine
import QuantCore
@testable import QuantNN

@Suite struct QuantStateDictTests {
    @Test func keysFollowBrevitas() throws {
        let relu = try QuantReLU()
        let keys = Set(relu.stateDict().keys)
        #expect(keys == [
            "input_quant._zero_hw_sentinel.value",
            "act_quant._zero_hw_sentinel.value",
            "act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value",
            "act_quant.fused_activation_quant_proxy.tensor_quant.zero_point_impl.zero_point.value",
            "act_quant.fused_activation_quant_proxy.tensor_quant.msb_clamp_bit_width_impl.bit_width.value",
        ])
        let conv = try QuantConv2d(2, 3, kernelSize: 3, biasQuant: .int32Bias, inputQuant: .int8ActPerTensorFloat)
        let convKeys = Set(conv.stateDict().keys)
        #expect(convKeys.contains("weight_quant.tensor_quant.msb_clamp_bit_width_impl.bit_width.value"))
        #expect(convKeys.contains("bias_quant.tensor_quant.zero_point.value"))
        #expect(convKeys.contains("input_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"))
    }

    /// Mid-collection, `value` carries the collected statistic; loading it ends collection, so
    /// the reloaded layer quantizes in eval mode exactly as the original does.
    @Test func checkpointMidCollectionRoundTrips() throws {
        let relu = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.collectStatsSteps, 10), returnQuantTensor: true)
        let g = RandomGenerator(seed: 9)
        for _ in 0..<3 { _ = try relu.forward(.float(g.normal([4, 8]))) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("relu-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try relu.saveSafeTensors(to: url)
        let fresh = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.collectStatsSteps, 10), returnQuantTensor: true)
        try fresh.loadSafeTensors(from: url)
        relu.eval()
        fresh.eval()
        let x = g.normal([4, 8])
        let a = try relu.quant(x), b = try fresh.quant(x)
        #expect(a.scale.isEqual(to: b.scale))
        #expect(a.value.isEqual(to: b.value))
        let scaling = fresh.actQuant.tensorQuant!.modules().compactMap { $0 as? StatsCollecting }.first!
        #expect(scaling.counter == 11)
    }
}
