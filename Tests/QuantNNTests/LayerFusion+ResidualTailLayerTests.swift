import NN
import QuantCore
import Quantizers
import TensorEngine
import TestSupport
import Testing

@testable import QuantNN

/// `LayerFusion.residualTail` (conv → BN → the add's input quantizer, the shortcut through the
/// same quantizer, the add and a quantized ReLU) against the layers one by one
/// (`LayerFusion.$isEnabled` off), with learned scales after statistics collection; and the
/// guards that keep the layer-by-layer path.
@Suite struct LayerFusionResidualTailLayerTests {
    /// The bench's residual quantizers: a signed 4-bit add input, an unsigned 4-bit ReLU.
    static let addConfig = ActQuant.int8ActPerTensorFloat.with(\.bitWidth, 4).with(\.collectStatsSteps, 2)
    static let reluConfig = ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.collectStatsSteps, 2)

    struct Tail {
        let conv: QuantConv2d, bn: FloatLayer, add: QuantEltwiseAdd, relu: QuantReLU

        /// The weight, γ, β, the add's and the ReLU's learned scales, by name.
        var parameters: [(name: String, tensor: Tensor)] {
            [("conv", conv), ("bn", bn), ("add", add), ("relu", relu)].flatMap { prefix, m in
                m.namedParameters().map { ("\(prefix).\($0.name)", $0.tensor) }
            }
        }
    }

    /// A tail whose quantizers finished collecting (`collected`) or are still collecting.
    static func tail(collected: Bool = true) throws -> Tail {
        let conv = try QuantConv2d(3, 4, kernelSize: 3, padding: 1, bias: false, weightQuant: .int8WeightPerTensorFloat,
                                   generator: RandomGenerator(seed: 51))
        let bn = LayerFusionTests.batchNorm(4, seed: 52)
        (bn.layer as! BatchNorm).weight!.assign(Tensor(shape: [4], [2, -1.5, 3, 0.5]))
        let add = try QuantEltwiseAdd(inputQuant: addConfig, outputQuant: nil, returnQuantTensor: true)
        let relu = try QuantReLU(actQuant: reluConfig, returnQuantTensor: true)
        for m in [conv, bn, add, relu] as [Module] { m.train() }
        if collected {
            let small = RandomGenerator(seed: 53).normal([1, 4, 4, 4]) * Tensor(2)
            Autograd.noGrad { for _ in 0...2 { _ = add.inputQuant(.float(small)); _ = relu(small) } }
        }
        return Tail(conv: conv, bn: bn, add: add, relu: relu)
    }

    /// Runs the tail on copies of `y` and `s`, back-propagates `g`: output, gradients of `y`,
    /// `s` and every parameter, BatchNorm running statistics.
    static func run(_ t: Tail, _ y: Tensor, _ s: Tensor, _ g: Tensor, fused: Bool) throws -> (QuantValue, [Tensor?], [Tensor]) {
        let ly = y.copy(), ls = s.copy()
        ly.requiresGrad = true
        ls.requiresGrad = true
        for p in t.parameters { p.tensor.grad = nil }
        let out = try LayerFusion.$isEnabled.withValue(fused) {
            try LayerFusion.residualTail(conv: t.conv, bn: t.bn, add: t.add, relu: t.relu, .float(ly), shortcut: nil, input: .float(ls))
        }
        // The ops that ran: the fused tail and, in training, BatchNorm + quantizer as its first input.
        if fused, t.bn.training, LayerFusion.canFuseAddReLU(t.add, t.relu) {
            #expect(out.value.gradFn?.name == "quant_add_relu_int_quant")
            #expect(out.value.gradFn?.inputs.first?.gradFn?.name == "batch_norm_int_quant")
        }
        out.value.backward(g)
        let norm = t.bn.layer as! BatchNorm
        return (out, [ly.grad, ls.grad] + t.parameters.map(\.tensor.grad), [norm.runningMean!, norm.runningVar!])
    }

    @Test(arguments: [true, false])
    func fusedTailAgreesWithTheLayersOneByOne(training: Bool) throws {
        let f = try Self.tail(), u = try Self.tail()
        for m in [f.conv, f.bn, f.add, f.relu, u.conv, u.bn, u.add, u.relu] as [Module] { m.train(training) }
        let gen = RandomGenerator(seed: 54)
        let y = gen.normal([2, 3, 8, 8]), s = gen.normal([2, 4, 8, 8]) * Tensor(2), g = gen.normal([2, 4, 8, 8])
        let fused = try Self.run(f, y, s, g, fused: true), plain = try Self.run(u, y, s, g, fused: false)
        let fq = try #require(fused.0.quantTensor), uq = try #require(plain.0.quantTensor)
        if training {
            #expect(fq.value.scalars == uq.value.scalars)
        } else {
            // Evaluation folds the BatchNorm into the convolution (one more rounding of the weight).
            expectClose(fq.value, uq.value, rtol: 0, atol: 0.5 * uq.scale.item() + 1e-6, "output")
        }
        #expect(fq.scale.scalars == uq.scale.scalars && fq.zeroPoint.scalars == uq.zeroPoint.scalars)
        #expect(fq.bitWidth.scalars == uq.bitWidth.scalars && fq.signed == uq.signed && fq.training == uq.training)
        let names = ["y", "s"] + u.parameters.map(\.name)
        // The weight, γ, β and one learned scale each for the add and the ReLU.
        #expect(names.count == 7 && names.filter { $0.hasPrefix("add.") }.count == 1 && names.filter { $0.hasPrefix("relu.") }.count == 1)
        #expect(plain.1.allSatisfy { $0 != nil })
        guard training else { return }
        for k in plain.1.indices {
            // 8x8 planes: the BatchNorm operand's share of the add scale's gradient is summed in
            // FakeQuantize's order, so it too is bit for bit.
            #expect(fused.1[k]!.scalars == plain.1[k]!.scalars, "\(names[k]) gradient")
            #expect(plain.1[k]!.abs().sum().item() > 0, "\(names[k]) gradient is zero")
        }
        for k in 0..<2 { #expect(fused.2[k].scalars == plain.2[k].scalars, "running statistic \(k)") }
    }

    /// The add + ReLU fusion alone, in training and evaluation: everything bit for bit, the add
    /// scale's gradient included (both operands' shares: `a`'s through the unfused quantizer).
    @Test(arguments: [true, false])
    func quantAddReLUAgreesWithTheLayersOneByOne(training: Bool) throws {
        let gen = RandomGenerator(seed: 55)
        let y = gen.normal([2, 4, 5, 7]) * Tensor(2), s = gen.normal([2, 4, 5, 7]) * Tensor(2), g = gen.normal([2, 4, 5, 7])
        func run(_ fused: Bool) throws -> (QuantValue, [Tensor?]) {
            let t = try Self.tail()
            t.add.train(training)
            t.relu.train(training)
            let ly = y.copy(), ls = s.copy()
            ly.requiresGrad = true
            ls.requiresGrad = true
            let a = t.add.inputQuant(.float(ly))
            let out = fused ? try #require(LayerFusion.quantAddReLU(t.add, t.relu, a, .float(ls)))
                : try t.relu.forward(t.add.sum(quantized: a, t.add.inputQuant(.float(ls))))
            out.value.backward(g)
            return (out, [ly.grad, ls.grad] + (t.add.parameters() + t.relu.parameters()).map(\.grad))
        }
        let f = try run(true), u = try run(false)
        let fq = try #require(f.0.quantTensor), uq = try #require(u.0.quantTensor)
        #expect(fq.value.scalars == uq.value.scalars && fq.scale.scalars == uq.scale.scalars)
        #expect(fq.zeroPoint.scalars == uq.zeroPoint.scalars && fq.bitWidth.scalars == uq.bitWidth.scalars && fq.signed == uq.signed)
        #expect(u.1.count == 4)
        for k in u.1.indices { #expect(f.1[k]?.scalars == u.1[k]?.scalars, "gradient \(k)") }
        if training { #expect(u.1[2]!.abs().item() > 0 && u.1[3]!.abs().item() > 0) }
    }

    /// Where a quantizer still collects statistics, is observed, or the add or ReLU has an extra
    /// quantizer, nothing fuses: the tail runs the layers one by one, the observer sees both operands.
    @Test func fusesOnlyWhenTheQuantizersCanRunInTheEpilogue() throws {
        let x = RandomGenerator(seed: 56).normal([2, 4, 3, 3])
        let collecting = try Self.tail(collected: false)
        #expect(LayerFusion.batchNormQuant(collecting.bn, collecting.add.inputQuant, .float(x)) == nil)
        #expect(!LayerFusion.canFuseAddReLU(collecting.add, collecting.relu))
        let ready = try Self.tail()
        #expect(LayerFusion.batchNormQuant(ready.bn, ready.add.inputQuant, .float(x)) != nil)
        #expect(LayerFusion.canFuseAddReLU(ready.add, ready.relu))
        #expect(LayerFusion.quantAddReLU(ready.add, ready.relu, ready.add.inputQuant(.float(x)), .float(x)) != nil)
        // A float operand (no input quantizer applied) or a shape mismatch does not fuse.
        #expect(LayerFusion.quantAddReLU(ready.add, ready.relu, .float(x), .float(x)) == nil)
        let other = ready.add.inputQuant(.float(RandomGenerator(seed: 57).normal([1, 4, 3, 3])))
        #expect(LayerFusion.quantAddReLU(ready.add, ready.relu, other, .float(x)) == nil)
        // Both operands quantized: `addReLU`; a float operand does not fuse there either.
        let qx = ready.add.inputQuant(.float(x))
        #expect(LayerFusion.addReLU(ready.add, ready.relu, qx, ready.add.inputQuant(.float(x * Tensor(2)))) != nil)
        #expect(LayerFusion.addReLU(ready.add, ready.relu, qx, .float(x)) == nil)
        #expect(LayerFusion.addReLU(collecting.add, collecting.relu, qx, qx) == nil)
        // Observers.
        let observed = try Self.tail()
        var seen = 0
        observed.add.inputQuant.observer = { _ in seen += 1 }
        #expect(LayerFusion.batchNormQuant(observed.bn, observed.add.inputQuant, .float(x)) == nil)
        #expect(!LayerFusion.canFuseAddReLU(observed.add, observed.relu))
        let y = RandomGenerator(seed: 58).normal([2, 3, 4, 4]), s = RandomGenerator(seed: 59).normal([2, 4, 4, 4])
        let g = RandomGenerator(seed: 60).normal([2, 4, 4, 4])
        let viaTail = try Self.run(observed, y, s, g, fused: true)
        #expect(seen == 2)
        let reference = try Self.tail()
        let plain = try Self.run(reference, y, s, g, fused: false)
        #expect(viaTail.0.value.scalars == plain.0.value.scalars)
        for k in plain.1.indices { #expect(viaTail.1[k]?.scalars == plain.1[k]?.scalars, "gradient \(k)") }
        let reluObserved = try Self.tail()
        reluObserved.relu.actQuant.observer = { _ in }
        #expect(!LayerFusion.canFuseAddReLU(reluObserved.add, reluObserved.relu))
        // An add with an output quantizer, a ReLU with an input quantizer.
        let withOutput = try QuantEltwiseAdd(inputQuant: Self.addConfig, outputQuant: .int8ActPerTensorFloat, returnQuantTensor: true)
        #expect(!LayerFusion.canFuseAddReLU(withOutput, ready.relu))
        let withInput = try QuantReLU(actQuant: Self.reluConfig, inputQuant: .int8ActPerTensorFloat, returnQuantTensor: true)
        #expect(!LayerFusion.canFuseAddReLU(ready.add, withInput))
    }
}
