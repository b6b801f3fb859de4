import Brevitas
import Testing

/// `import Brevitas` alone reaches every public library: the engine, layers, quantizers,
/// quantized layers, the example models and the ONNX exporter.
@Suite struct UmbrellaTests {
    @Test func oneImportBuildsQuantizesAndExports() throws {
        let x = RandomGenerator(seed: 3).normal([2, 1, 8, 8])
        let relu = try QuantReLU(actQuant: ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4), returnQuantTensor: true)
        let q = try relu.quant(x)
        #expect(q.isValid && q.bitWidth.item() == 4 && !q.signed)
        #expect(IntRange(bitWidth: 4, signed: false, narrowRange: false).maxInt == 15)

        let spec = ModelSpec(arch: .lenet, inputShape: [1, 8, 8], classes: 10, weightBits: 4, actBits: 4, inputBits: 8,
                             collectStatsSteps: 1)
        let model = try spec.makeModel(generator: RandomGenerator(seed: 1))
        model.train(false)
        let logits = try model(x)
        #expect(logits.shape == [2, 10])
        let onnx = try exportONNX(model, example: x, format: .qcdq)
        #expect(onnx.count > 1000)
    }
}
