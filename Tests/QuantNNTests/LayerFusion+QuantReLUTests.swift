import NN
import QuantCore
import Quantizers
import TensorEngine
import TestSupport
import Testing

@testable import QuantNN

/// BatchNorm + quantized ReLU in one op (`LayerFusion.batchNormQuantReLU`,
/// `Tensor.batchNormReLUFakeQuant`): the same output, input gradient, affine gradients and
/// running statistics as the two layers one by one, bit for bit; scale and zero-point gradients
/// to float rounding (the same sums in another order); no fusion where it would change
/// semantics; gradients against finite differences on a fine grid.
@Suite struct LayerFusionQuantReLUTests {
    /// A QuantReLU whose default scale (`Uint8ActPerTensorFloat`, percentile statistics) has
    /// finished collecting, so the learned scale is in use, as in a QAT run after 300 steps.
    static func collectedReLU(_ config: ActQuant = .uint8ActPerTensorFloat, returnQuantTensor: Bool = false) throws -> QuantReLU {
        let relu = try QuantReLU(actQuant: config, returnQuantTensor: returnQuantTensor)
        relu.train()
        let small = RandomGenerator(seed: 1).normal([1, 3, 4, 4])
        Autograd.noGrad { for _ in 0...config.collectStatsSteps { _ = relu(small) } }
        return relu
    }

    /// Two identical (BatchNorm, QuantReLU) pairs: one for the fused op, one for the layers.
    static func pairs(_ c: Int, training: Bool, returnQuantTensor: Bool = false) throws -> [(FloatLayer, QuantReLU)] {
        try (0..<2).map { _ in
            let bn = LayerFusionTests.batchNorm(c, seed: 21)
            bn.train(training)
            // γ three times larger: some outputs clip at the top of the quantizer's range.
            let gamma = (bn.layer as! BatchNorm).weight!
            gamma.assign(gamma * Tensor(3))
            let relu = try collectedReLU(returnQuantTensor: returnQuantTensor)
            relu.train(training)
            return (bn, relu)
        }
    }

    /// Runs `f` on a copy of `x`, back-propagates `g`; returns the output, the input gradient and
    /// the gradients of `params` (zeros where none arrived).
    static func run(_ f: (QuantValue) throws -> QuantValue, _ x: Tensor, _ g: Tensor, _ params: [Tensor]) throws -> (QuantValue, Tensor, [Tensor]) {
        let leaf = x.copy()
        leaf.requiresGrad = true
        for p in params { p.grad = nil }
        let y = try f(.float(leaf))
        y.value.backward(g)
        return (y, leaf.grad!, params.map { $0.grad ?? Tensor.zeros($0.shape) })
    }

    /// Shapes: a plane of 30 (three eight-lane groups and a tail of 6), and one of 1030 (a
    /// 1024-element flush of the scale sums, then a tail).
    @Test(arguments: [([3, 4, 6, 5], true), ([3, 4, 6, 5], false), ([2, 3, 10, 103], true)])
    func fusedAgreesWithTheLayersOneByOne(shape: [Int], training: Bool) throws {
        let p = try Self.pairs(shape[1], training: training, returnQuantTensor: true)
        let (fbn, frelu) = p[0], (ubn, urelu) = p[1]
        let gen = RandomGenerator(seed: 22)
        // Spread so that some values clip at the top (scale ≈ 0.5/255·… of the small input's range).
        let x = gen.normal(shape) * Tensor(3), g = gen.normal(shape)
        let fparams = fbn.parameters() + frelu.parameters(), uparams = ubn.parameters() + urelu.parameters()
        #expect(fparams.count == 3)  // γ, β and the learned scale
        let fused = try Self.run({ v in try #require(LayerFusion.batchNormQuantReLU(fbn, frelu, v)) }, x, g, fparams)
        let plain = try Self.run({ v in try urelu.forward(ubn.forward(v)) }, x, g, uparams)
        #expect(fused.0.value.scalars == plain.0.value.scalars)
        let fq = try #require(fused.0.quantTensor), uq = try #require(plain.0.quantTensor)
        #expect(fq.scale.scalars == uq.scale.scalars && fq.zeroPoint.scalars == uq.zeroPoint.scalars)
        #expect(fq.bitWidth.scalars == uq.bitWidth.scalars && fq.signed == uq.signed)
        // Some elements clip, some are cut by the ReLU, some pass: every case is exercised.
        let codes = fq.value.scalars.map { ($0 / fq.scale.item()).rounded() }
        #expect(codes.contains(255) && codes.contains(0) && codes.contains { $0 > 0 && $0 < 255 })
        #expect(fused.1.scalars == plain.1.scalars, "input gradient")
        #expect(fused.2[0].scalars == plain.2[0].scalars, "γ gradient")
        #expect(fused.2[1].scalars == plain.2[1].scalars, "β gradient")
        expectClose(fused.2[2], plain.2[2], rtol: 1e-5, atol: 1e-6, "scale gradient")
        #expect(plain.2[2].abs().item() > 0)
        let fb = try #require(fbn.layer as? BatchNorm), ub = try #require(ubn.layer as? BatchNorm)
        #expect(fb.runningMean!.scalars == ub.runningMean!.scalars && fb.runningVar!.scalars == ub.runningVar!.scalars)
        #expect(fb.numBatchesTracked!.scalars == ub.numBatchesTracked!.scalars)
        if training { #expect(fb.numBatchesTracked!.item() == 1) }
    }

    /// A zero point that requires a gradient (no QuantReLU preset has one) is checked on the op
    /// itself against BatchNorm then `FakeQuantize`: it gets `−s·Σ_clipped G`.
    @Test func zeroPointAndScaleGradientsMatchTheUnfusedKernel() throws {
        let gen = RandomGenerator(seed: 23)
        let x = gen.normal([2, 3, 5, 7]) * Tensor(2), g = gen.normal([2, 3, 5, 7])
        let w = gen.normal([3]), b = gen.normal([3])
        func grads(_ fused: Bool) -> [Tensor] {
            let leaf = x.copy(), s = Tensor(shape: [], [0.05]), z = Tensor(shape: [], [3])
            let ww = w.copy(), bb = b.copy()
            for t in [leaf, s, z, ww, bb] { t.requiresGrad = true }
            let y: Tensor
            if fused {
                y = Tensor.batchNormReLUFakeQuant(leaf, runningMean: nil, runningVar: nil, weight: ww, bias: bb, training: true,
                                                  quant: FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: 0, maxInt: 15))
            } else {
                let a = Tensor.batchNorm(leaf, runningMean: nil, runningVar: nil, weight: ww, bias: bb, training: true)
                y = FakeQuantize.apply(a, scale: s, zeroPoint: z, minInt: 0, maxInt: 15, fusedReLU: true)
            }
            y.backward(g)
            return [y, leaf.grad!, ww.grad!, bb.grad!, s.grad!, z.grad!]
        }
        let f = grads(true), u = grads(false)
        for k in 0..<4 { #expect(f[k].scalars == u[k].scalars, "output/gradient \(k)") }
        expectClose(f[4], u[4], rtol: 1e-5, atol: 1e-6, "scale gradient")
        expectClose(f[5], u[5], rtol: 1e-5, atol: 1e-6, "zero-point gradient")
        #expect(u[5].abs().item() > 0)
    }

    /// Edge cases through the fused op and the unfused one: NaN stays NaN, an all-negative
    /// channel is cut entirely, a zero-size batch gives empty results.
    @Test func edgeCasesAgreeWithTheUnfusedOps() throws {
        let x = Tensor(shape: [2, 2, 1, 3], [Float.nan, 1, -1, -2, -3, -4, 0.5, 2, 9, -1, -2, -0.5])
        let s = Tensor(shape: [], [0.1]), z = Tensor(shape: [], [0])
        let fused = Tensor.batchNormReLUFakeQuant(x, runningMean: Tensor([0, 1]), runningVar: Tensor([1, 2]), training: false,
                                                  quant: FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: 0, maxInt: 15))
        let a = Tensor.batchNorm(x, runningMean: Tensor([0, 1]), runningVar: Tensor([1, 2]), training: false)
        let plain = FakeQuantize.apply(a, scale: s, zeroPoint: z, minInt: 0, maxInt: 15, fusedReLU: true)
        #expect(fused.scalars[0].isNaN && plain.scalars[0].isNaN)
        #expect(Array(fused.scalars.dropFirst()) == Array(plain.scalars.dropFirst()))
        #expect(fused.scalars[3...5].allSatisfy { $0 == 0 })
        let empty = Tensor.batchNormReLUFakeQuant(Tensor.zeros([0, 2, 3, 3]), runningMean: Tensor([0, 1]), runningVar: Tensor([1, 2]),
                                                  training: false, quant: FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: 0, maxInt: 15))
        #expect(empty.shape == [0, 2, 3, 3])
    }

    /// Where fusing would change what the layers compute, the pair is not fused.
    @Test func fusesOnlyWhenTheQuantizerCanRunInTheEpilogue() throws {
        let x = RandomGenerator(seed: 24).normal([2, 4, 3, 3])
        let bn = LayerFusionTests.batchNorm(4, seed: 25)
        // During statistics collection the scale reads the input.
        let collecting = try QuantReLU()
        collecting.train()
        #expect(LayerFusion.batchNormQuantReLU(bn, collecting, .float(x)) == nil)
        // An observed quantizer, an input quantizer, a per-channel scale, a plain ReLU.
        let observed = try Self.collectedReLU()
        observed.actQuant.observer = { _ in }
        #expect(LayerFusion.batchNormQuantReLU(bn, observed, .float(x)) == nil)
        let withInput = try QuantReLU(inputQuant: .int8ActPerTensorFloat)
        #expect(LayerFusion.batchNormQuantReLU(bn, withInput, .float(x)) == nil)
        let perChannel = try QuantReLU(actQuant: ActQuant.uint8ActPerTensorFloatMaxInit(maxVal: 3)
            .with(\.scalingPerOutputChannel, true).with(\.perChannelBroadcastableShape, [1, 4, 1, 1]))
        #expect(LayerFusion.batchNormQuantReLU(bn, perChannel, .float(x)) == nil)
        #expect(LayerFusion.batchNormQuantReLU(bn, try QuantReLU(actQuant: nil), .float(x)) == nil)
        // Synchronised BatchNorm in training keeps its own path.
        let synced = LayerFusionTests.batchNorm(4, seed: 25)
        synced.train()
        (synced.layer as! BatchNorm).synchronizedNormalization = { x, _, _, _, _, _, _ in x }
        #expect(LayerFusion.batchNormQuantReLU(synced, try Self.collectedReLU(), .float(x)) == nil)
        // A learned scale from the start (no collection) fuses, also through a sequential.
        let learned = try QuantReLU(actQuant: .uint8ActPerTensorFloatMaxInit(maxVal: 3))
        learned.train()
        bn.train()
        #expect(LayerFusion.batchNormQuantReLU(bn, learned, .float(x)) != nil)
    }

    /// Finite differences through the fused op on a fine grid (scale 1e-6, codes up to 2^21:
    /// values above 2.1 clip), where the straight-through gradients are those of the smooth
    /// function: input, γ and β, in training (batch statistics) and in evaluation.
    @Test(arguments: [true, false])
    func gradientsMatchFiniteDifferences(training: Bool) throws {
        let bn = LayerFusionTests.batchNorm(2, seed: 26)
        let norm = bn.layer as! BatchNorm
        let x = RandomGenerator(seed: 27).normal([3, 2, 3, 3]), g = RandomGenerator(seed: 28).normal([3, 2, 3, 3])
        let s = Tensor(shape: [], [1e-6]), z = Tensor(shape: [], [0])
        let quant = FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: 0, maxInt: Float(1 << 21))
        try gradCheck([x, norm.weight!, norm.bias!], eps: 1e-3) { t in
            let y = Tensor.batchNormReLUFakeQuant(t[0], runningMean: norm.runningMean, runningVar: norm.runningVar,
                                                  weight: t[1], bias: t[2], training: training, momentum: 0, quant: quant)
            return (y * g).sum()
        }
    }
}
