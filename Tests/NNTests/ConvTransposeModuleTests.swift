import NN
import TensorEngine
import Testing

@Suite struct ConvTransposeModuleTests {
    @Test func moduleWrapsTheEngineOpWithTorchShapesAndKeys() {
        RandomGenerator.manualSeed(5)
        let up = ConvTranspose2d(4, 6, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, groups: 2)
        #expect(up.weight.shape == [4, 3, 3, 3] && up.bias!.shape == [6])
        #expect(up.stateDict().keys == ["weight", "bias"])
        let x = RandomGenerator(seed: 1).normal([2, 4, 5, 5])
        let y = up(x)
        #expect(y.shape == [2, 6, 10, 10])   // (5 - 1)·2 - 2 + 2 + 1 + 1
        #expect(y.isEqual(to: Tensor.convTranspose2d(x, weight: up.weight, bias: up.bias, stride: (2, 2), padding: (1, 1),
                                                     outputPadding: (1, 1), groups: 2)))
        #expect(up.description == "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), groups=2)")
        // PyTorch's bound: 1/sqrt(fan_in), fan_in = (outChannels / groups)·kH·kW = 27.
        #expect(up.weight.abs().max().item() <= 1 / Float(27).squareRoot())
    }
}
