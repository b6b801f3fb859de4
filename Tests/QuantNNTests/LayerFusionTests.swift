import NN
import Quantizers
import TensorEngine
import TestSupport
import Testing

@testable import QuantNN

/// Fused layer pairs give the values and gradients of the layers applied one by one (within
/// float rounding), fuse only when allowed, and their gradients match finite differences.
@Suite struct LayerFusionTests {
    /// A BatchNorm with non-trivial running statistics and affine parameters.
    static func batchNorm(_ c: Int, seed: UInt64) -> FloatLayer {
        let bn = BatchNorm2d(c)
        let g = RandomGenerator(seed: seed)
        bn.runningMean!.assign(g.normal([c]))
        bn.runningVar!.assign(g.normal([c]).abs() + 0.5)
        bn.weight!.assign(g.normal([c]))
        bn.bias!.assign(g.normal([c]))
        return FloatLayer(bn)
    }

    /// Output and the gradients of the input and of `params` for upstream gradient `g`.
    static func run(_ f: (QuantValue) throws -> QuantValue, _ x: Tensor, _ g: Tensor, _ params: [Tensor]) throws -> (Tensor, [Tensor]) {
        let leaf = x.copy()
        leaf.requiresGrad = true
        for p in params { p.grad = nil }
        let y = try f(.float(leaf)).value
        y.backward(g)
        return (y, [leaf.grad!] + params.map { $0.grad ?? Tensor.zeros($0.shape) })
    }

    @Test(arguments: [true, false])
    func convBatchNormFoldsInEvaluation(bias: Bool) throws {
        let gen = RandomGenerator(seed: 5)
        let conv = try QuantConv2d(3, 6, kernelSize: 3, padding: 1, bias: bias, generator: gen)
        let bn = Self.batchNorm(6, seed: 6)
        conv.eval()
        bn.eval()
        let x = gen.normal([2, 3, 7, 9]), g = gen.normal([2, 6, 7, 9])
        let params = [conv.weight] + bn.parameters() + (conv.bias.map { [$0] } ?? [])
        let fused = try Self.run({ v in try #require(try LayerFusion.convBatchNorm(conv, bn, v)) }, x, g, params)
        let plain = try Self.run({ v in try bn.forward(conv.forward(v)) }, x, g, params)
        expectClose(fused.0, plain.0, rtol: 1e-5, atol: 1e-5, "output")
        for (k, (a, b)) in zip(fused.1, plain.1).enumerated() { expectClose(a, b, rtol: 1e-4, atol: 1e-4, "gradient \(k)") }
        // In training the BatchNorm uses batch statistics: no fold.
        bn.train()
        #expect(try LayerFusion.convBatchNorm(conv, bn, .float(x)) == nil)
        // An observed or quantized output is not folded away.
        bn.eval()
        let returning = try QuantConv2d(3, 6, kernelSize: 3, padding: 1, inputQuant: .int8ActPerTensorFloat, returnQuantTensor: true)
        returning.eval()
        #expect(try LayerFusion.convBatchNorm(returning, bn, .float(x)) == nil)
        conv.weightQuant.observer = { _ in }
        #expect(try LayerFusion.convBatchNorm(conv, bn, .float(x)) == nil)
    }

    /// Finite differences through the folded op (float weights, so the function is smooth).
    @Test func convBatchNormFoldGradientsMatchFiniteDifferences() throws {
        let conv = try QuantConv2d(2, 3, kernelSize: 3, padding: 1, weightQuant: nil, generator: RandomGenerator(seed: 8))
        let bn = Self.batchNorm(3, seed: 9)
        conv.eval()
        bn.eval()
        let gamma = bn.parameters()[0]
        let x = RandomGenerator(seed: 10).normal([1, 2, 4, 5]), g = RandomGenerator(seed: 11).normal([1, 3, 4, 5])
        try gradCheck([x, conv.weight, gamma]) { t in
            let leaf = t[0]
            return (try #require(try LayerFusion.convBatchNorm(conv, bn, .float(leaf))).value * g).sum()
        }
    }

    @Test(arguments: [true, false])
    func batchNormReLUFusesWhenTheReLUIsPlain(training: Bool) throws {
        let bn = Self.batchNorm(4, seed: 12)
        let relu = try QuantReLU(actQuant: nil)
        bn.train(training)
        relu.train(training)
        let x = RandomGenerator(seed: 13).normal([3, 4, 6, 5]), g = RandomGenerator(seed: 14).normal([3, 4, 6, 5])
        let params = bn.parameters()
        let fused = try Self.run({ v in try #require(LayerFusion.batchNormReLU(bn, relu, v)) }, x, g, params)
        let plain = try Self.run({ v in try relu.forward(bn.forward(v)) }, x, g, params)
        #expect(fused.0.scalars == plain.0.scalars)
        for (k, (a, b)) in zip(fused.1, plain.1).enumerated() { expectClose(a, b, rtol: 1e-5, atol: 1e-6, "gradient \(k)") }
        // A quantizing ReLU keeps its own quantizer: no fusion.
        #expect(LayerFusion.batchNormReLU(bn, try QuantReLU(), .float(x)) == nil)
        // A sequential applies the fusion and agrees with the layers one by one.
        let seq = QuantSequential(bn, relu)
        seq.train(training)
        let viaSequential = try Self.run({ v in try seq.forward(v) }, x, g, params)
        #expect(viaSequential.0.scalars == plain.0.scalars)
    }

    /// Finite differences through the fused BatchNorm + ReLU in training (batch statistics).
    @Test func batchNormReLUGradientsMatchFiniteDifferences() throws {
        let bn = Self.batchNorm(2, seed: 15)
        let relu = try QuantReLU(actQuant: nil)
        let x = RandomGenerator(seed: 16).normal([3, 2, 3, 3]), g = RandomGenerator(seed: 17).normal([3, 2, 3, 3])
        let ps = bn.parameters()
        try gradCheck([x] + ps) { t in
            (try #require(LayerFusion.batchNormReLU(bn, relu, .float(t[0]))).value * g).sum()
        }
    }
}

/// Central finite differences of the scalar `f` against autograd, for every element of every
/// input (in place, so parameters of a layer can be checked as they are used).
func gradCheck(_ inputs: [Tensor], eps: Float = 1e-3, tol: Float = 2e-2, sourceLocation: SourceLocation = #_sourceLocation,
               _ f: ([Tensor]) throws -> Tensor) throws {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    try f(inputs).backward()
    for (k, x) in inputs.enumerated() {
        let analytic = x.grad?.scalars ?? [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let orig = x.storage.pointer[i]
            x.storage.pointer[i] = orig + eps
            let up = try Autograd.noGrad { Double(try f(inputs).item()) }
            x.storage.pointer[i] = orig - eps
            let down = try Autograd.noGrad { Double(try f(inputs).item()) }
            x.storage.pointer[i] = orig
            let numeric = Float((up - down) / Double(2 * eps))
            let err = Swift.abs(numeric - analytic[i]) / Swift.max(1, Swift.abs(numeric))
            #expect(err <= tol, "input \(k) element \(i): numeric \(numeric) vs autograd \(analytic[i])", sourceLocation: sourceLocation)
        }
    }
}
