import Foundation
import Testing
import TestSupport
import NN
import TensorEngine
import QuantCore
@testable import QuantNN

@Suite struct QuantStateDictTests {
    @Test func keysFollowBrevitas() throws {
        let relu = try QuantReLU()
        let keys = Set(relu.stateDict().keys)
        // Constant buffers (bit widths, zero points, sentinels) are listed as buffers but, as in
        // Brevitas, are not persistent; the statistics buffer is not saved either.
        #expect(keys == ["act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"])
        let buffers = Set(relu.namedBuffers().map(\.name))
        #expect(buffers.contains("act_quant.fused_activation_quant_proxy.tensor_quant.msb_clamp_bit_width_impl.bit_width.value"))
        #expect(buffers.contains("act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.buffer"))
        let conv = try QuantConv2d(2, 3, kernelSize: 3, biasQuant: .int32Bias, inputQuant: .int8ActPerTensorFloat)
        #expect(Set(conv.stateDict().keys) == ["weight", "bias", "input_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"])
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

    /// A checkpoint written by Brevitas 0.13.4 itself (`Tests/Fixtures/quant/make_brevitas_checkpoint.py`)
    /// loads strictly into the same model built in Swift and gives Brevitas's eval output.
    @Test func brevitasCheckpointLoadsAndReproducesItsOutput() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/quant")
        let model = try QuantSequential(
            QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.collectStatsSteps, 3), returnQuantTensor: true),
            QuantConv2d(1, 4, kernelSize: 3, padding: 1, weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 4),
                        biasQuant: .int32Bias, returnQuantTensor: true),
            QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.collectStatsSteps, 3), returnQuantTensor: true),
            QuantFlatten(),
            QuantLinear(4 * 6 * 6, 3, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 4)))
        try model.loadSafeTensors(from: dir.appendingPathComponent("brevitas_checkpoint.safetensors"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("brevitas_checkpoint.json"))) as! [String: Any]
        func tensor(_ key: String) -> Tensor {
            let d = json[key] as! [String: Any]
            return Tensor(shape: d["shape"] as! [Int], (d["data"] as! [Double]).map { Float($0) })
        }
        model.eval()
        let out = try model(tensor("input"))
        let ref = tensor("output")
        #expect(out.shape == ref.shape)
        let maxRef = ref.scalars.map { abs($0) }.max()!
        let worst = zip(out.scalars, ref.scalars).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5 * maxRef, "max |ours - Brevitas| = \(worst)")
    }
}
