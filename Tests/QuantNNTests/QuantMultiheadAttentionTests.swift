import Foundation
import Testing
import TestSupport
@testable import NN
@testable import QuantNN
@testable import Quantizers
@testable import TensorEngine

/// QuantMultiheadAttention: the float composition against a direct per-head computation,
/// finite-difference gradients, packing, masks, layouts and bad input.
@Suite struct QuantMultiheadAttentionTests {
    /// Every quantizer off: a float multi-head attention.
    static func floatMHA(_ e: Int, _ h: Int, packed: Bool = true, batchFirst: Bool = false, addBiasKV: Bool = false,
                         addZeroAttn: Bool = false, seed: UInt64 = 3) throws -> QuantMultiheadAttention {
        let off = QuantMultiheadAttention.ProjectionQuant(input: nil, weight: nil, bias: nil)
        return try QuantMultiheadAttention(embedDim: e, numHeads: h, packedInProj: packed, inProjQuant: off, attnOutputWeightsQuant: nil,
                                           qScaledQuant: nil, kTransposedQuant: nil, vQuant: nil, outProjQuant: off,
                                           addBiasKV: addBiasKV, addZeroAttn: addZeroAttn, batchFirst: batchFirst,
                                           generator: RandomGenerator(seed: seed))
    }

    static func randn(_ shape: [Int], seed: UInt64) -> Tensor { RandomGenerator(seed: seed).normal(shape) }

    /// Direct per-head attention in Double: `softmax(q_h k_hᵀ / sqrt(d) + mask) v_h`, then out_proj.
    static func reference(_ m: QuantMultiheadAttention, _ x: Tensor, mask: [[Double]]? = nil) -> (out: [Double], weights: [Double]) {
        let (l, n, e) = (x.shape[0], x.shape[1], x.shape[2]), h = m.numHeads, d = e / h
        let w = m.inProj!.weight.scalars.map(Double.init), b = m.inProj!.bias!.scalars.map(Double.init)
        let xs = x.scalars.map(Double.init)
        func proj(_ t: Int, _ bi: Int, _ row: Int) -> Double {  // row in 0..<3E
            var s = b[row]
            for c in 0..<e { s += w[row * e + c] * xs[(t * n + bi) * e + c] }
            return s
        }
        var concat = [Double](repeating: 0, count: l * n * e)
        var avg = [Double](repeating: 0, count: n * l * l)
        for bi in 0..<n { for hh in 0..<h { for i in 0..<l {
            var logits = (0..<l).map { j -> Double in
                var s = 0.0
                for c in 0..<d { s += proj(i, bi, hh * d + c) * proj(j, bi, e + hh * d + c) }
                return s / Double(d).squareRoot() + (mask?[i][j] ?? 0)
            }
            let mx = logits.max()!
            logits = logits.map { exp($0 - mx) }
            let z = logits.reduce(0, +)
            let p = logits.map { $0 / z }
            for j in 0..<l { avg[(bi * l + i) * l + j] += p[j] / Double(h) }
            for c in 0..<d {
                var s = 0.0
                for j in 0..<l { s += p[j] * proj(j, bi, 2 * e + hh * d + c) }
                concat[(i * n + bi) * e + hh * d + c] = s
            }
        }}}
        let wo = m.outProj.weight.scalars.map(Double.init), bo = m.outProj.bias!.scalars.map(Double.init)
        var out = [Double](repeating: 0, count: l * n * e)
        for r in 0..<(l * n) { for o in 0..<e {
            var s = bo[o]
            for c in 0..<e { s += wo[o * e + c] * concat[r * e + c] }
            out[r * e + o] = s
        }}
        return (out, avg)
    }

    @Test func floatPathMatchesTheDirectPerHeadComputation() throws {
        let m = try Self.floatMHA(8, 2)
        m.inProj!.bias!.assign(Self.randn([24], seed: 9))
        m.outProj.bias!.assign(Self.randn([8], seed: 10))
        let x = Self.randn([4, 3, 8], seed: 5)
        let causal = (0..<4).map { i in (0..<4).map { j in j > i ? -Double.infinity : 0 } }
        for mask in [nil, causal] {
            let boolMask = mask.map { m in Tensor(shape: [4, 4], m.flatMap { $0.map { $0 == 0 ? Float(0) : 1 } }) }
            let r = try m(.float(x), attnMask: boolMask.map { .boolean($0) })
            let ref = Self.reference(m, x, mask: mask)
            expectClose(r.output.value, Tensor(shape: [4, 3, 8], ref.out.map(Float.init)), rtol: 1e-4, atol: 1e-5, "output")
            expectClose(try #require(r.weights), Tensor(shape: [3, 4, 4], ref.weights.map(Float.init)), rtol: 1e-4, atol: 1e-6, "weights")
            if mask != nil {
                // A boolean True is "may not attend": the upper triangle gets weight 0.
                let wv = r.weights!.scalars
                #expect((0..<3).allSatisfy { b in (0..<4).allSatisfy { i in (0..<4).allSatisfy { j in j <= i || wv[(b * 4 + i) * 4 + j] == 0 } } })
            }
        }
    }

    /// Central finite differences of `Σ out·G + Σ weights·H` with respect to the input and every
    /// parameter, through the float composition (reshapes, transposes, batched products, softmax).
    /// With `add_bias_kv` (bias_k, bias_v among the parameters) and `add_zero_attn` the keys grow
    /// to S + 1 or S + 2 and the mask gets zero columns.
    @Test(arguments: [(true, false, false), (false, false, false), (true, true, false), (false, false, true), (true, true, true)])
    func gradientsMatchFiniteDifferences(_ packed: Bool, _ addBiasKV: Bool, _ addZeroAttn: Bool) throws {
        let m = try Self.floatMHA(6, 3, packed: packed, addBiasKV: addBiasKV, addZeroAttn: addZeroAttn, seed: 11)
        for p in m.parameters() { p.assign(Self.randn(p.shape, seed: UInt64(p.count)) * 0.5) }
        let extra = (addBiasKV ? 1 : 0) + (addZeroAttn ? 1 : 0)
        let x = Self.randn([3, 2, 6], seed: 12), g = Self.randn([3, 2, 6], seed: 13), hw = Self.randn([2, 3, 3 + extra], seed: 14)
        let mask = AttentionMask.additive(Self.randn([3, 3], seed: 15))
        let targets = [x] + m.parameters()
        func loss() throws -> Tensor {
            let r = try m(query: .float(x), key: .float(x), value: .float(x), attnMask: mask)
            return (r.output.value * g).sum() + (r.weights! * hw).sum()
        }
        for t in targets { t.requiresGrad = true; t.grad = nil }
        try loss().backward()
        let eps: Float = 1e-2
        for (k, t) in targets.enumerated() {
            let analytic = t.grad?.scalars ?? [Float](repeating: 0, count: t.count)
            for i in 0..<t.count {
                let orig = t.storage.pointer[i]
                t.storage.pointer[i] = orig + eps
                let up = try Autograd.noGrad { Double(try loss().item()) }
                t.storage.pointer[i] = orig - eps
                let down = try Autograd.noGrad { Double(try loss().item()) }
                t.storage.pointer[i] = orig
                let numeric = Float((up - down) / Double(2 * eps))
                #expect(abs(numeric - analytic[i]) <= 2e-2 * max(1, abs(numeric)), "target \(k) element \(i): numeric \(numeric) vs autograd \(analytic[i])")
            }
        }
    }

    /// Unpacked projections holding the three blocks of a packed one give the same attention;
    /// batch_first only moves the batch axis.
    @Test func packedUnpackedAndBatchFirstAgree() throws {
        let packed = try Self.floatMHA(8, 4)
        let unpacked = try Self.floatMHA(8, 4, packed: false)
        let w = packed.inProj!.weight
        for (i, p) in [unpacked.qProj!, unpacked.kProj!, unpacked.vProj!].enumerated() {
            p.weight.assign(w.narrow(dim: 0, start: 8 * i, length: 8))
        }
        unpacked.outProj.weight.assign(packed.outProj.weight)
        let x = Self.randn([5, 2, 8], seed: 21)
        let a = try packed(.float(x)), b = try unpacked(.float(x))
        expectClose(a.output.value, b.output.value, rtol: 1e-5, atol: 1e-6, "packed vs unpacked")
        let bf = try Self.floatMHA(8, 4, batchFirst: true)
        bf.inProj!.weight.assign(w)
        bf.outProj.weight.assign(packed.outProj.weight)
        let c = try bf(.float(x.transpose(0, 1)), averageAttnWeights: false)
        expectClose(c.output.value.transpose(0, 1), a.output.value, rtol: 1e-5, atol: 1e-6, "batch_first")
        #expect(c.weights?.shape == [2, 4, 5, 5])
        expectClose(c.weights!.sum(dim: 1) / 4, a.weights!, rtol: 1e-5, atol: 1e-6, "per-head weights average to the returned ones")
    }

    /// Brevitas's defaults: Int8 projections with Int32 bias, Xavier in_proj, zero biases; the
    /// returned weights lie on the Uint8 grid of attn_output_weights_quant (before averaging).
    @Test func defaultQuantizersAndInitialisation() throws {
        let m = try QuantMultiheadAttention(embedDim: 8, numHeads: 2, generator: RandomGenerator(seed: 1))
        #expect(m.inProj!.bias!.scalars.allSatisfy { $0 == 0 } && m.outProj.bias!.scalars.allSatisfy { $0 == 0 })
        let bound = (6 / Float(8 + 24)).squareRoot()
        #expect(m.inProj!.weight.scalars.allSatisfy { abs($0) <= bound })
        let keys = Set(m.namedParameters().map(\.name))
        #expect(keys.contains("in_proj.input_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"))
        #expect(keys.contains("q_scaled_quant.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"))
        var seen: [QuantTensor] = []
        m.attnOutputWeightsQuant.actQuant.observer = { if let q = $0.quantTensor { seen.append(q) } }
        let r = try m(.float(Self.randn([3, 2, 8], seed: 2)), averageAttnWeights: false)
        let q = try #require(seen.first)
        #expect(seen.count == 1 && q.isValid && q.bitWidth.item() == 8 && !q.signed)
        #expect(r.weights!.scalars == q.value.scalars, "per-head weights are attn_output_weights_quant's output, [N·H, L, S] as [N, H, L, S]")
    }

    @Test func badInputsAreTypedErrorsNamingTheValues() throws {
        #expect {
            _ = try QuantMultiheadAttention(embedDim: 8, numHeads: 3)
        } throws: { e in
            "\(e)".contains("QuantMultiheadAttention") && "\(e)".contains("embed_dim 8 is not divisible by num_heads 3")
        }
        let m = try QuantMultiheadAttention(embedDim: 8, numHeads: 2)
        let x = Self.randn([3, 2, 8], seed: 1), y = Self.randn([3, 2, 8], seed: 2)
        #expect { _ = try m(query: .float(x), key: .float(y), value: .float(y)) } throws: { "\($0)".contains("packedInProj: false") }
        #expect { _ = try m(.float(Self.randn([3, 2, 6], seed: 1))) } throws: { "\($0)".contains("query embedding dimension 6 != embed_dim 8") }
        #expect { _ = try m(.float(x), attnMask: .boolean(Tensor.zeros([3, 4]))) } throws: { "\($0)".contains("[3, 4], but should be [3, 3]") }
        let u = try QuantMultiheadAttention(embedDim: 8, numHeads: 2, packedInProj: false)
        #expect { _ = try u(query: .float(x), key: .float(Self.randn([4, 3, 8], seed: 3)), value: .float(Self.randn([4, 3, 8], seed: 4))) } throws: {
            "\($0)".contains("sequence and batch dimensions")
        }
        #expect(throws: QuantConfigError.self) { _ = try LayerFactory.makeAttention(className: "QuantMultiheadAttention", kwargs: ["embed_dim": .number(4), "num_heads": .number(2), "add_bias_kvv": .bool(true)]) }
        let kv = try LayerFactory.makeAttention(className: "QuantMultiheadAttention", kwargs: ["embed_dim": .number(4), "num_heads": .number(2), "add_bias_kv": .bool(true), "add_zero_attn": .bool(true)])
        #expect(kv.biasK?.shape == [1, 1, 4] && kv.biasV?.shape == [1, 1, 4] && kv.addZeroAttn)
        #expect(kv.namedParameters().map(\.0).contains("bias_k"))
    }

    /// Unbatched `[L, E]` input: the same as a batch of one, squeezed.
    @Test func unbatchedInput() throws {
        let m = try Self.floatMHA(4, 2)
        let x = Self.randn([3, 4], seed: 7)
        let a = try m(.float(x)), b = try m(.float(x.unsqueeze(1)))
        expectClose(a.output.value, b.output.value.squeeze(1), rtol: 1e-6, atol: 0, "output")
        expectClose(a.weights!, b.weights!.squeeze(0), rtol: 1e-6, atol: 0, "weights")
    }
}
