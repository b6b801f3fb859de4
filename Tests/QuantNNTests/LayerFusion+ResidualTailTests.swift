import NN
import QuantCore
import Quantizers
import TensorEngine
import TestSupport
import Testing

@testable import QuantNN

/// The residual tail's fused ops against the ops they replace (`Tensor.batchNormFakeQuant(relu:
/// false)` against `batchNorm` then `FakeQuantize.apply`; `Tensor.quantAddReLUFakeQuant` against
/// `FakeQuantize.apply`, `+`, `FakeQuantize.apply(fusedReLU: true)`), on edge cases and random
/// data; the layer-level fusions (`LayerFusion.batchNormQuant`, `quantAddReLU`) against the
/// layers one by one, with learned scales; and the guards that keep the layer-by-layer path.
@Suite struct LayerFusionResidualTailTests {
    /// Bit patterns, NaN counted equal to NaN (its payload is not part of the semantics).
    static func same(_ a: Tensor?, _ b: Tensor?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return a.shape == b.shape && zip(a.scalars, b.scalars).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    /// Output, gradients of `a` and `x`, of the input quantizer's scale and zero point and of the
    /// output quantizer's, fused or unfused, for upstream gradient `g`.
    static func tail(_ a: Tensor, _ x: Tensor, _ g: Tensor, fused: Bool, si: Float = 0.5, zi: Float = 0, so: Float = 0.25,
                     zo: Float = 0) -> [Tensor?] {
        let la = a.copy(), lx = x.copy()
        let qs = [si, zi, so, zo].map { Tensor(shape: [], [$0], requiresGrad: true) }
        la.requiresGrad = true
        lx.requiresGrad = true
        let y: Tensor
        if fused {
            y = Tensor.quantAddReLUFakeQuant(la, lx, inputQuant: FakeQuantEpilogue(scale: qs[0], zeroPoint: qs[1], minInt: -8, maxInt: 7),
                                             outputQuant: FakeQuantEpilogue(scale: qs[2], zeroPoint: qs[3], minInt: 0, maxInt: 15))
        } else {
            let b = FakeQuantize.apply(lx, scale: qs[0], zeroPoint: qs[1], minInt: -8, maxInt: 7)
            y = FakeQuantize.apply(la + b, scale: qs[2], zeroPoint: qs[3], minInt: 0, maxInt: 15, fusedReLU: true)
        }
        y.backward(g)
        return [y, la.grad, lx.grad] + qs.map(\.grad)
    }

    /// Input quantizer: scale 0.5, codes −8…7 (−4…3.5); output: scale 0.25, codes 0…15 (0…3.75).
    @Test(arguments: [
        ("ties at .5 on the shortcut's grid", [0, 0, 0, 0, 1], [0.25, 0.75, -0.25, -0.75, 1.25]),
        ("ties at .5 on the output grid", [0.125, 0.375, 0.625, -0.375, 0.875], [0, 0, 0, 1, 0]),
        ("shortcut codes at and past the limits", [0, 0, 4, 5, 1, 1], [3.5, 3.75, -4, -4.25, -4.75, 100]),
        ("sums at and past the output limits", [3.75, 3.875, 3.5, 0, 10], [0, 0, 0.5, 3.5, -1]),
        ("sums at zero and below", [0, 0.5, -0.5, -3, 0], [0, -0.5, 0.5, 1, -0.0]),
        ("all zero", [0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("NaN in either operand", [Float.nan, 0, 1, 0.5, 2, 0, 0, 0, 1], [0, Float.nan, 0.5, 1, -1, 0, 0.25, 3, 2]),
    ] as [(String, [Float], [Float])])
    func quantAddReLUEdgeCasesAgreeWithTheUnfusedOps(_ name: String, _ a: [Float], _ x: [Float]) {
        let n = a.count
        let at = Tensor(shape: [n], a), xt = Tensor(shape: [n], x)
        let g = Tensor(shape: [n], (0..<n).map { 1 + 0.5 * Float($0) })
        let fused = Self.tail(at, xt, g, fused: true), plain = Self.tail(at, xt, g, fused: false)
        for k in plain.indices { #expect(Self.same(fused[k], plain[k]), "\(name): result \(k): \(String(describing: fused[k]?.scalars)) vs \(String(describing: plain[k]?.scalars))") }
    }

    /// Random operands over two full 16384-element blocks and a partial one, zero points off
    /// zero: every value and gradient bit for bit, and every branch taken.
    @Test func quantAddReLUAgreesWithTheUnfusedOpsOverSeveralBlocks() {
        let gen = RandomGenerator(seed: 41)
        let shape = [2, 16, 32, 33]
        let a = gen.normal(shape) * Tensor(1.5), x = gen.normal(shape) * Tensor(3), g = gen.normal(shape)
        let fused = Self.tail(a, x, g, fused: true, zi: 0.5, zo: 1), plain = Self.tail(a, x, g, fused: false, zi: 0.5, zo: 1)
        for k in plain.indices { #expect(Self.same(fused[k], plain[k]), "result \(k)") }
        let codes = fused[0]!.scalars.map { ($0 / 0.25 + 1).rounded() }
        #expect(codes.contains(15) && codes.contains(1) && codes.contains { $0 > 1 && $0 < 15 })
        #expect(fused[3...6].allSatisfy { $0!.item() != 0 })
    }

    /// Without an input quantizer (both operands quantized already) against `+` then
    /// `FakeQuantize.apply(fusedReLU: true)`, on the edge-case operands and random ones.
    @Test func addReLUWithoutInputQuantizerAgreesWithTheUnfusedOps() {
        let gen = RandomGenerator(seed: 46)
        let edges: [Float] = [0.125, 0.375, 3.75, 3.875, 0, -0.0, -1, Float.nan, 2.2, -0.5]
        for (a, x) in [(Tensor(shape: [10], edges), Tensor(shape: [10], edges.reversed())),
                       (gen.normal([3, 40, 41]), gen.normal([3, 40, 41]) * Tensor(2))] {
            let g = gen.normal(a.shape)
            func run(_ fused: Bool) -> [Tensor?] {
                let la = a.copy(), lx = x.copy()
                let so = Tensor(shape: [], [0.25], requiresGrad: true), zo = Tensor(shape: [], [1], requiresGrad: true)
                la.requiresGrad = true
                lx.requiresGrad = true
                let y = fused
                    ? Tensor.quantAddReLUFakeQuant(la, lx, inputQuant: nil,
                                                   outputQuant: FakeQuantEpilogue(scale: so, zeroPoint: zo, minInt: 0, maxInt: 15))
                    : FakeQuantize.apply(la + lx, scale: so, zeroPoint: zo, minInt: 0, maxInt: 15, fusedReLU: true)
                y.backward(g)
                return [y, la.grad, lx.grad, so.grad, zo.grad]
            }
            let f = run(true), u = run(false)
            for k in u.indices { #expect(Self.same(f[k], u[k]), "\(a.shape): result \(k)") }
        }
    }

    /// The terms of the unfused scale sum, Σ|G·(q − z − [not clipped]·v)|, of `FakeQuantize` on
    /// `a` (no ReLU): the scale of the bound on a per-plane reordering of the sum.
    static func scaleTermMagnitude(_ a: Tensor, _ g: Tensor, s: Float, z: Float, lo: Float, hi: Float) -> Double {
        zip(a.scalars, g.scalars).reduce(0) { acc, e in
            let v = e.0 / s, r = roundHalfEven(v + z)
            let clipped = r > hi || r < lo
            let q = Swift.min(Swift.max(r, lo), hi)
            return acc + Double(Swift.abs(e.1 * (clipped ? q - z : (q - z) - v)))
        }
    }

    /// BatchNorm + signed quantizer against `batchNorm` then `FakeQuantize.apply`: output, input
    /// and affine gradients and running statistics bit for bit; the scale and zero-point sums bit
    /// for bit where planes allow `FakeQuantize`'s order (a multiple of 8 elements dividing 16384
    /// or made of 16384-element blocks: 256, 64 (a chunk of planes of several channels), 2048 (a
    /// plane over two chunks), 32768 (a plane over two blocks)), within the stated reordering
    /// bound, 272·2⁻²⁴·Σ|term|, elsewhere (30, 1030).
    @Test(arguments: [([3, 4, 6, 5], true), ([3, 4, 6, 5], false), ([2, 3, 10, 103], true), ([4, 2, 16, 16], true),
                      ([4, 2, 16, 16], false), ([3, 5, 8, 8], true), ([2, 3, 32, 64], true), ([2, 2, 128, 256], true)])
    func batchNormSignedQuantAgreesWithTheUnfusedOps(shape: [Int], training: Bool) {
        let gen = RandomGenerator(seed: 42)
        let c = shape[1]
        let x = gen.normal(shape) * Tensor(2), g = gen.normal(shape)
        let w = gen.normal([c]) * Tensor(3), b = gen.normal([c])
        func run(_ fused: Bool) -> ([Tensor?], [Tensor], Tensor) {
            let leaf = x.copy(), ww = w.copy(), bb = b.copy()
            let s = Tensor(shape: [], [0.3]), z = Tensor(shape: [], [0.5])
            for t in [leaf, ww, bb, s, z] { t.requiresGrad = true }
            let rm = Tensor.zeros([c]) + Tensor(0.1), rv = Tensor.ones([c])
            let y: Tensor, pre: Tensor
            if fused {
                y = Tensor.batchNormFakeQuant(leaf, runningMean: rm, runningVar: rv, weight: ww, bias: bb, training: training, relu: false,
                                              quant: FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: -8, maxInt: 7))
                pre = Tensor.zeros([0])
            } else {
                pre = Tensor.batchNorm(leaf, runningMean: rm, runningVar: rv, weight: ww, bias: bb, training: training)
                y = FakeQuantize.apply(pre, scale: s, zeroPoint: z, minInt: -8, maxInt: 7)
            }
            y.backward(g)
            return ([y, leaf.grad, ww.grad, bb.grad, s.grad, z.grad], [rm, rv], pre.detach())
        }
        let (f, frs, _) = run(true), (u, urs, pre) = run(false)
        for k in 0..<4 { #expect(Self.same(f[k], u[k]), "output/gradient \(k)") }
        for k in 0..<2 { #expect(Self.same(frs[k], urs[k]), "running statistic \(k)") }
        let codes = f[0]!.scalars.map { ($0 / 0.3 + 0.5).rounded() }
        #expect(codes.contains(7) && codes.contains(-8) && codes.contains { $0 > -8 && $0 < 7 })
        let planeSize = shape[2...].reduce(1, *)
        if planeSize % 8 == 0 && (16384 % planeSize == 0 || planeSize % 16384 == 0) {
            #expect(Self.same(f[4], u[4]) && Self.same(f[5], u[5]), "scale \(f[4]!.item()) vs \(u[4]!.item()), zero point \(f[5]!.item()) vs \(u[5]!.item())")
        }
        let bound = 272 * 0x1p-24 * Self.scaleTermMagnitude(pre, g, s: 0.3, z: 0.5, lo: -8, hi: 7)
        #expect(Double(Swift.abs(f[4]!.item() - u[4]!.item())) <= bound, "scale gradient \(f[4]!.item()) vs \(u[4]!.item())")
        let clippedG = zip(pre.scalars, g.scalars).reduce(0.0) { acc, e in
            let r = roundHalfEven(e.0 / 0.3 + 0.5)
            return acc + (r > 7 || r < -8 ? Double(Swift.abs(e.1)) : 0)
        }
        #expect(Double(Swift.abs(f[5]!.item() - u[5]!.item())) <= 272 * 0x1p-24 * 0.3 * clippedG + 1e-7)
        #expect(u[4]!.item() != 0 && u[5]!.item() != 0)
    }

    /// BatchNorm + signed quantizer on edge cases, in evaluation with the identity normalisation
    /// (mean 0, variance 1, eps 0: the quantizer sees `x` itself; scale 0.5, codes −8…7, so ±4
    /// and 3.5 are the limits), against `batchNorm` then `FakeQuantize.apply`: everything bit for
    /// bit, NaN as NaN.
    @Test(arguments: [
        ("ties at .5 of the grid", [0.25, 0.75, -0.25, -0.75, 1.25, -1.25, 2.25, 0]),
        ("values at and past the clip limits", [3.5, 3.75, -4, -4.25, -4.75, 100, -100, 3.74]),
        ("all zero", [0, 0, 0, 0, 0, 0, 0, -0.0]),
        ("NaN", [Float.nan, 1, -1, 0.3, Float.nan, 2, -3, 0.7]),
    ] as [(String, [Float])])
    func batchNormSignedQuantEdgeCasesAgreeWithTheUnfusedOps(_ name: String, _ values: [Float]) {
        let x = Tensor(shape: [2, 1, 4], values)
        let g = Tensor(shape: [2, 1, 4], (0..<8).map { 1 + 0.25 * Float($0) })
        func run(_ fused: Bool) -> [Tensor?] {
            let leaf = x.copy(), s = Tensor(shape: [], [0.5], requiresGrad: true), z = Tensor(shape: [], [0], requiresGrad: true)
            let w = Tensor(shape: [1], [1], requiresGrad: true), b = Tensor(shape: [1], [0], requiresGrad: true)
            leaf.requiresGrad = true
            let rm = Tensor(shape: [1], [0]), rv = Tensor(shape: [1], [1])
            let y = fused
                ? Tensor.batchNormFakeQuant(leaf, runningMean: rm, runningVar: rv, weight: w, bias: b, training: false, eps: 0,
                                            relu: false, quant: FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: -8, maxInt: 7))
                : FakeQuantize.apply(Tensor.batchNorm(leaf, runningMean: rm, runningVar: rv, weight: w, bias: b, training: false,
                                                      eps: 0),
                                     scale: s, zeroPoint: z, minInt: -8, maxInt: 7)
            y.backward(g)
            return [y, leaf.grad, w.grad, b.grad, s.grad, z.grad]
        }
        let f = run(true), u = run(false)
        for k in u.indices {
            #expect(Self.same(f[k], u[k]), "\(name): result \(k): \(String(describing: f[k]?.scalars)) vs \(String(describing: u[k]?.scalars))")
        }
        // The quantizer saw x itself.
        if !values.contains(where: \.isNaN) {
            #expect(u[0]!.scalars == values.map { Swift.min(Swift.max(($0 / 0.5).rounded(.toNearestOrEven), -8), 7) * 0.5 })
        }
    }

    /// Finite differences through BatchNorm + signed quantizer on a fine grid (scale 1e-6, codes
    /// ±2^21: values beyond ±2.1 clip): input, γ and β, in training and in evaluation.
    @Test(arguments: [true, false])
    func batchNormSignedQuantGradientsMatchFiniteDifferences(training: Bool) throws {
        let bn = LayerFusionTests.batchNorm(2, seed: 43)
        let norm = bn.layer as! BatchNorm
        let x = RandomGenerator(seed: 44).normal([3, 2, 3, 3]), g = RandomGenerator(seed: 45).normal([3, 2, 3, 3])
        let quant = FakeQuantEpilogue(scale: Tensor(shape: [], [1e-6]), zeroPoint: Tensor(shape: [], [0]),
                                      minInt: -Float(1 << 21), maxInt: Float(1 << 21))
        try gradCheck([x, norm.weight!, norm.bias!], eps: 1e-3) { t in
            let y = Tensor.batchNormFakeQuant(t[0], runningMean: norm.runningMean, runningVar: norm.runningVar, weight: t[1],
                                              bias: t[2], training: training, momentum: 0, relu: false, quant: quant)
            return (y * g).sum()
        }
    }
}
