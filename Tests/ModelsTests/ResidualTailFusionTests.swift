import NN
import QuantNN
import TensorEngine
import TestSupport
import Testing

@testable import Models

/// The fused residual tail (`LayerFusion.residualTail`) in the w4a4 ResNet-8 against the layers
/// one by one (`LayerFusion.$isEnabled` off): after statistics collection, one training step
/// gives bit for bit the same loss, the same gradient of every parameter (the learned scales of
/// quantizers fused into a BatchNorm epilogue included: ResNet-8's planes, 1024, 256 and 64
/// elements, allow `FakeQuantize`'s summation order) and the same BatchNorm running statistics.
@Suite(.serialized) struct ResidualTailFusionTests {
    static func model() throws -> QuantSequential {
        let spec = ModelSpec(arch: .resnet8, inputShape: [3, 32, 32], classes: 10, weightBits: 4, actBits: 4, inputBits: 8,
                             collectStatsSteps: 2)
        let model = try spec.makeModel(quantized: true, generator: RandomGenerator(seed: 3))
        model.train()
        return model
    }

    /// Collects statistics (three forward passes), then one forward and backward with fusion on
    /// or off: the loss, every parameter's gradient by name, every buffer by name.
    static func step(fused: Bool) throws -> (loss: Float, grads: [String: [Float]], buffers: [String: [Float]]) {
        let model = try model()
        let g = RandomGenerator(seed: 4)
        let x = g.normal([4, 3, 32, 32])
        let y = (0..<4).map { _ in g.nextInt(10) }
        try Autograd.noGrad { for _ in 0..<3 { _ = try model(x) } }
        let loss = try LayerFusion.$isEnabled.withValue(fused) { Tensor.crossEntropy(try model(x), targets: y) }

        loss.backward()
        let grads = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor.grad?.scalars ?? []) })
        let buffers = Dictionary(uniqueKeysWithValues: model.namedBuffers().map { ($0.name, $0.tensor.scalars) })
        // Each block's output comes from the fused tail (or from relu2's quantizer unfused).
        for (k, channels) in [(4, 16), (5, 16), (6, 32)] {
            let block = try #require(model.layers[k] as? QuantBasicBlock)
            let out = try LayerFusion.$isEnabled.withValue(fused) { try block.forward(.float(g.normal([1, channels, 8, 8]))) }
            #expect(out.value.gradFn?.name == (fused ? "quant_add_relu_int_quant" : "int_quant"))
            // Stride-2 blocks: the shortcut's BatchNorm quantizes in its epilogue too.
            if fused, k > 4 { #expect(out.value.gradFn?.inputs[1].gradFn?.name == "batch_norm_int_quant") }
        }
        return (loss.item(), grads, buffers)
    }

    @Test func trainingStepMatchesTheLayersOneByOne() throws {
        let fused = try Self.step(fused: true), plain = try Self.step(fused: false)
        #expect(fused.loss == plain.loss && fused.loss.isFinite)
        #expect(Set(fused.grads.keys) == Set(plain.grads.keys))
        let addScales = plain.grads.keys.filter { $0.contains(".add.") }
        #expect(addScales.count == 3, "\(addScales)")
        for (name, g) in plain.grads {
            let f = try #require(fused.grads[name])
            #expect(!g.isEmpty && g.contains { $0 != 0 }, "\(name): no gradient")
            #expect(f == g, "\(name) gradient")
        }
        #expect(fused.buffers == plain.buffers)
    }

    /// The fused step gives the same bits on one and on two threads.
    @Test func fusedStepIsIdenticalOnOneAndTwoThreads() throws {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = try Self.step(fused: true)
        Parallel.threadCount = 2
        let two = try Self.step(fused: true)
        #expect(one.loss == two.loss && one.grads == two.grads && one.buffers == two.buffers)
    }

    /// Evaluation: the BatchNorm is folded into the convolution (as before the tail fusion), the
    /// add and ReLU run fused; logits agree with the unfused model to the fold's rounding.
    @Test func evaluationMatchesTheLayersOneByOne() throws {
        let model = try Self.model()
        let x = RandomGenerator(seed: 5).normal([2, 3, 32, 32])
        try Autograd.noGrad { for _ in 0..<3 { _ = try model(x) } }
        model.eval()
        let fused = try Autograd.noGrad { try model(x) }
        let plain = try LayerFusion.$isEnabled.withValue(false) { try Autograd.noGrad { try model(x) } }
        #expect(fused.shape == plain.shape)
        expectClose(fused, plain, rtol: 1e-2, atol: 0.05, "logits")
    }
}
