import Models
import NN
import QuantNN
import Quantizers
import TensorEngine

/// Group (vi) of `bench_brevitas.py`: one SGD step (forward, cross-entropy, zero grad, backward,
/// SGD with lr 0.01) of ResNet-8 on a batch of 32 3x32x32 images, in float and with the script's
/// `resnet8(4)` quantizers after statistics collection.
extension BenchWorkloads {
    mutating func resnet8() throws {
        let g = RandomGenerator(seed: 0)
        let x = g.normal([32, 3, 32, 32])
        let y = (0..<32).map { _ in g.nextInt(10) }
        let shape = "32x3x32x32"
        let spec = ModelSpec(arch: .resnet8, inputShape: [3, 32, 32], classes: 10, weightBits: 4, actBits: 4, inputBits: 8,
                             collectStatsSteps: Self.defaultCollectSteps)
        let floatModel = try QuantResNet8.make(spec, ModelSpec.Quantizers(input: nil, act: nil, weight: nil), generator: g)
        floatModel.train()
        let tFloat = try add("vi", "ResNet-8 float: SGD step", shape, Self.sgdStep(floatModel, x, y))
        let quant = try QuantResNet8.make(spec, Self.resnetQuantizers(), generator: g)
        quant.train()
        let small = g.normal([2, 3, 32, 32])
        try Self.finishCollection { _ = try quant(small) }
        let tQuant = try add("vi", "ResNet-8 Brevitas w4a4: SGD step after collection", shape, note: "learned activation scales",
                             Self.sgdStep(quant, x, y))
        setRatio(rows.count - 1, tQuant / tFloat)
    }

    /// The script's `resnet8(4)`: an 8-bit signed input quantizer, 4-bit weights (per tensor),
    /// 4-bit unsigned activations, 4-bit signed residual additions (`Int8ActPerTensorFloat` at 4
    /// bits), float biases.
    static func resnetQuantizers() -> ModelSpec.Quantizers {
        ModelSpec.Quantizers(
            input: ActQuant.int8ActPerTensorFloat,
            act: ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4),
            weight: WeightQuant.int8WeightPerTensorFloat.with(\.bitWidth, 4))
    }
}
