import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// A mask for ``QuantMultiheadAttention``, `[L, S]` (shared by every batch element and head)
/// or `[N·H, L, S]`, or a key padding mask `[N, S]`.
public enum AttentionMask {
    /// Non-zero where a position may **not** be attended (PyTorch's boolean mask: `True` →
    /// −inf before the softmax).
    case boolean(Tensor)
    /// Added to the attention logits.
    case additive(Tensor)

    var tensor: Tensor {
        switch self {
        case .boolean(let t), .additive(let t): return t
        }
    }

    /// The additive form: 0 / −inf for a boolean mask.
    var additive: Tensor {
        switch self {
        case .additive(let t): return t
        case .boolean(let t): return Tensor(shape: t.shape, t.scalars.map { $0 != 0 ? -Float.infinity : 0 })
        }
    }
}

/// What ``QuantMultiheadAttention`` returns: the attention output and, when asked for, the
/// quantized attention weights (`[N, L, S]` averaged over heads, or `[N, H, L, S]`).
public struct AttentionOutput {
    public var output: QuantValue
    public var weights: Tensor?
}

/// Quantized multi-head attention (Brevitas `QuantMultiheadAttention`, `nn/quant_mha.py`), with
/// `query` `[L, N, E]`, `key` `[S, N, kdim]`, `value` `[S, N, vdim]` (`[N, L, E]` … with
/// `batchFirst`; `[L, E]` … unbatched), `H` heads of `d = E / H`:
/// ```
/// q, k, v = in_proj(query).chunk(3)            (packed; or q_proj(query), k_proj(key), v_proj(value))
/// per head:  q_s = q_scaled_quant(q / sqrt(d))     k_t = k_transposed_quant(kᵀ)
///            w   = attn_output_weights_quant(softmax(softmax_input_quant(q_s·k_t + mask)))
///            o   = w · v_quant(v)
/// out = out_proj(concat of the heads)          weights = w averaged over heads (sum / H)
/// ```
/// With `addBiasKV` (PyTorch's `add_bias_kv`) the learned rows `bias_k`, `bias_v` (`[1, 1, E]`,
/// Xavier-normal) are appended to the projected keys and values of every batch element
/// (`S → S + 1`); with `addZeroAttn` an all-zero row is appended to every head's keys and
/// values after the head split (`S → S + 1`). Both happen before the `k_transposed_quant` and
/// `v_quant` quantizers; the masks get a column of "may attend" (0) per added row.
/// Projections are `QuantLinear`s with Int8 input, Int8 weights and Int32 bias by default;
/// `q_scaled_quant`, `k_transposed_quant`, `v_quant` are Int8, `attn_output_weights_quant`
/// Uint8, `softmax_input_quant` off. The packed `in_proj` (`[3E, E]`) needs self-attention
/// (query, key and value the same tensor) and `kdim == vdim == E`. In-projection weights are
/// Xavier-uniform and all projection biases start at 0, as in Brevitas.
///
/// ```swift
/// let mha = try QuantMultiheadAttention(embedDim: 8, numHeads: 2)
/// let r = try mha(query: .float(x), key: .float(x), value: .float(x))   // x [L, N, 8]
/// r.output    // [L, N, 8]      r.weights   // [N, L, L]
/// ```
public final class QuantMultiheadAttention: Module {
    public let embedDim: Int, numHeads: Int, headDim: Int, kdim: Int, vdim: Int
    public let batchFirst: Bool, dropout: Float
    public let inProj: QuantLinear?
    public let qProj: QuantLinear?, kProj: QuantLinear?, vProj: QuantLinear?
    public let outProj: QuantLinear
    public let softmaxInputQuant: QuantIdentity, attnOutputWeightsQuant: QuantIdentity
    public let qScaledQuant: QuantIdentity, kTransposedQuant: QuantIdentity, vQuant: QuantIdentity
    /// `add_bias_kv`: the key and value rows `[1, 1, E]` (state-dict keys `bias_k`, `bias_v`).
    public let biasK: Tensor?, biasV: Tensor?
    /// `add_zero_attn`.
    public let addZeroAttn: Bool
    let generator: RandomGenerator

    /// The quantizers of the projections (Brevitas `in_proj_*`, `out_proj_*` keywords).
    public struct ProjectionQuant {
        public var input: ActQuant?, weight: WeightQuant?, bias: BiasQuant?
        public init(input: ActQuant? = .int8ActPerTensorFloat, weight: WeightQuant? = .int8WeightPerTensorFloat, bias: BiasQuant? = .int32Bias) {
            (self.input, self.weight, self.bias) = (input, weight, bias)
        }
    }

    /// Builds the layer; throws when `numHeads` does not divide `embedDim`, a size is not
    /// positive, or a quantizer configuration is invalid (errors name the layer and values).
    public init(embedDim: Int, numHeads: Int, dropout: Float = 0, bias: Bool = true, kdim: Int? = nil, vdim: Int? = nil,
                packedInProj: Bool = true, inProjQuant: ProjectionQuant = .init(), softmaxInputQuant: ActQuant? = nil,
                attnOutputWeightsQuant: ActQuant? = .uint8ActPerTensorFloat, qScaledQuant: ActQuant? = .int8ActPerTensorFloat,
                kTransposedQuant: ActQuant? = .int8ActPerTensorFloat, vQuant: ActQuant? = .int8ActPerTensorFloat,
                outProjQuant: ProjectionQuant = .init(), outProjOutputQuant: ActQuant? = nil, addBiasKV: Bool = false,
                addZeroAttn: Bool = false, batchFirst: Bool = false,
                returnQuantTensor: Bool = false, generator: RandomGenerator = .global) throws(QuantConfigError) {
        let kdim = kdim ?? embedDim, vdim = vdim ?? embedDim
        var problems: [QuantConfigError.Problem] = []
        if embedDim < 1 || numHeads < 1 {
            problems.append(.init(key: "num_heads", message: "embed_dim \(embedDim) and num_heads \(numHeads) must be >= 1"))
        } else if embedDim % numHeads != 0 {
            problems.append(.init(key: "num_heads", message: "embed_dim \(embedDim) is not divisible by num_heads \(numHeads) (head_dim = embed_dim / num_heads must be a whole number)"))
        }
        if kdim < 1 || vdim < 1 { problems.append(.init(key: "kdim", message: "kdim \(kdim) and vdim \(vdim) must be >= 1")) }
        if !(0...1).contains(dropout) { problems.append(.init(key: "dropout", message: "dropout probability \(dropout) must be in [0, 1]")) }
        if !problems.isEmpty { throw QuantConfigError(context: "QuantMultiheadAttention", problems: problems) }
        (self.embedDim, self.numHeads, self.headDim, self.kdim, self.vdim) = (embedDim, numHeads, embedDim / numHeads, kdim, vdim)
        (self.batchFirst, self.dropout, self.generator) = (batchFirst, dropout, generator)

        func proj(_ i: Int, _ o: Int) throws(QuantConfigError) -> QuantLinear {
            try QuantLinear(i, o, bias: bias, weightQuant: inProjQuant.weight, biasQuant: inProjQuant.bias, inputQuant: inProjQuant.input, generator: generator)
        }
        if kdim == embedDim && vdim == embedDim && packedInProj {
            inProj = try proj(embedDim, 3 * embedDim)
            (qProj, kProj, vProj) = (nil, nil, nil)
        } else {
            inProj = nil
            (qProj, kProj, vProj) = (try proj(embedDim, embedDim), try proj(kdim, embedDim), try proj(vdim, embedDim))
        }
        outProj = try QuantLinear(embedDim, embedDim, bias: bias, weightQuant: outProjQuant.weight, biasQuant: outProjQuant.bias,
                                  inputQuant: outProjQuant.input, outputQuant: outProjOutputQuant, returnQuantTensor: returnQuantTensor,
                                  generator: generator)
        self.softmaxInputQuant = try QuantIdentity(actQuant: softmaxInputQuant)
        self.attnOutputWeightsQuant = try QuantIdentity(actQuant: attnOutputWeightsQuant)
        self.qScaledQuant = try QuantIdentity(actQuant: qScaledQuant)
        self.kTransposedQuant = try QuantIdentity(actQuant: kTransposedQuant)
        self.vQuant = try QuantIdentity(actQuant: vQuant)
        (biasK, biasV) = addBiasKV ? (Tensor.zeros([1, 1, embedDim]), Tensor.zeros([1, 1, embedDim])) : (nil, nil)
        self.addZeroAttn = addZeroAttn
        super.init()
        if let inProj {
            registerModule("in_proj", inProj)
        } else {
            registerModule("q_proj", qProj!)
            registerModule("k_proj", kProj!)
            registerModule("v_proj", vProj!)
        }
        registerModule("out_proj", outProj)
        if let biasK, let biasV {
            registerParameter("bias_k", biasK)
            registerParameter("bias_v", biasV)
        }
        registerModule("softmax_input_quant", self.softmaxInputQuant)
        registerModule("attn_output_weights_quant", self.attnOutputWeightsQuant)
        registerModule("q_scaled_quant", self.qScaledQuant)
        registerModule("k_transposed_quant", self.kTransposedQuant)
        registerModule("v_quant", self.vQuant)
        resetParameters()
    }

    public override var typeName: String { "QuantMultiheadAttention" }

    /// Brevitas `_reset_parameters`: Xavier-uniform in-projection weights, zero biases.
    func resetParameters() {
        for p in [inProj, qProj, kProj, vProj].compactMap({ $0 }) {
            let (o, i) = (p.weight.shape[0], p.weight.shape[1])
            let bound = (6 / Float(i + o)).squareRoot()
            p.weight.assign(generator.uniform(p.weight.shape, low: -bound, high: bound))
            p.bias?.assign(Tensor.zeros(p.bias!.shape))
        }
        outProj.bias?.assign(Tensor.zeros(outProj.bias!.shape))
        // xavier_normal_ on [1, 1, E]: fan_in = fan_out = E, std = sqrt(2 / (2E)).
        for b in [biasK, biasV].compactMap({ $0 }) {
            b.assign(generator.normal(b.shape) * (1 / Float(embedDim)).squareRoot())
        }
    }

    /// Self-attention: `query`, `key` and `value` are all `x`.
    public func callAsFunction(_ x: QuantValue, attnMask: AttentionMask? = nil, keyPaddingMask: AttentionMask? = nil,
                               needWeights: Bool = true, averageAttnWeights: Bool = true) throws -> AttentionOutput {
        try callAsFunction(query: x, key: x, value: x, attnMask: attnMask, keyPaddingMask: keyPaddingMask,
                           needWeights: needWeights, averageAttnWeights: averageAttnWeights)
    }

    /// Attention of `query` over `key`/`value` (Brevitas `forward`). Bad shapes or a packed
    /// in-projection with distinct query, key and value are thrown errors naming the values.
    public func callAsFunction(query: QuantValue, key: QuantValue, value: QuantValue, attnMask: AttentionMask? = nil,
                               keyPaddingMask: AttentionMask? = nil, needWeights: Bool = true,
                               averageAttnWeights: Bool = true) throws -> AttentionOutput {
        let rank = query.value.rank
        guard rank == 2 || rank == 3, key.value.rank == rank, value.value.rank == rank else {
            throw fail("query, key and value must all be 3-D (batched) or 2-D (unbatched), got \(query.value.shape), \(key.value.shape), \(value.value.shape)")
        }
        let selfAttention = query.value === key.value && key.value === value.value
        if inProj != nil && !selfAttention {
            throw fail("the packed in_proj supports only self-attention (query, key and value the same tensor); build the layer with packedInProj: false for cross-attention")
        }
        // Sequence-first, batched: [L, N, E].
        func prep(_ v: QuantValue) -> QuantValue {
            if rank == 2 { return v.map { $0.unsqueeze(1) } }
            return batchFirst ? v.map { $0.transpose(0, 1) } : v
        }
        let q0 = prep(query)
        let (k0, v0) = selfAttention ? (q0, q0) : (prep(key), prep(value))
        let (tgt, bsz, e) = (q0.value.shape[0], q0.value.shape[1], q0.value.shape[2])
        guard e == embedDim else { throw fail("query embedding dimension \(e) != embed_dim \(embedDim)") }
        guard k0.value.shape[0] == v0.value.shape[0], k0.value.shape[1] == bsz, v0.value.shape[1] == bsz else {
            throw fail("key \(key.value.shape) and value \(value.value.shape) must share the sequence and batch dimensions of query \(query.value.shape)")
        }
        guard k0.value.shape[2] == kdim, v0.value.shape[2] == vdim else {
            throw fail("key features \(k0.value.shape[2]) and value features \(v0.value.shape[2]) must be kdim \(kdim) and vdim \(vdim)")
        }
        let keys = k0.value.shape[0]

        var q: Tensor, k: Tensor, v: Tensor
        if let inProj {
            let qkv = try inProj.forward(q0).value
            (q, k, v) = (qkv.narrow(dim: 2, start: 0, length: e), qkv.narrow(dim: 2, start: e, length: e), qkv.narrow(dim: 2, start: 2 * e, length: e))
        } else {
            (q, k, v) = (try qProj!.forward(q0).value, try kProj!.forward(k0).value, try vProj!.forward(v0).value)
        }
        // The masks are checked against the given keys, then padded for the added rows.
        var mask = try attentionBias(attnMask, keyPaddingMask, bsz: bsz, tgt: tgt, src: keys, unbatched: rank == 2)
        var src = keys
        if let biasK, let biasV {
            // add_bias_kv: one more key and value per batch element, [S, N, E] -> [S + 1, N, E].
            k = Tensor.cat([k, biasK.expand([1, bsz, embedDim])], dim: 0)
            v = Tensor.cat([v, biasV.expand([1, bsz, embedDim])], dim: 0)
            src += 1
        }

        // [L, N, E] -> [N·H, L, d]
        let h = numHeads, d = headDim
        q = q.reshape([tgt, bsz * h, d]).transpose(0, 1)
        k = k.reshape([src, bsz * h, d]).transpose(0, 1)
        v = v.reshape([src, bsz * h, d]).transpose(0, 1)
        if addZeroAttn {
            // add_zero_attn: an all-zero key and value per head, [N·H, S, d] -> [N·H, S + 1, d].
            let zeros = Tensor.zeros([bsz * h, 1, d])
            k = Tensor.cat([k, zeros], dim: 1)
            v = Tensor.cat([v, zeros], dim: 1)
            src += 1
        }
        if let m = mask, src > keys {
            mask = Tensor.cat([m, Tensor.zeros([m.shape[0], m.shape[1], src - keys])], dim: 2)
        }
        let qs = try qScaledQuant.forward(.float(q / Float(Double(d).squareRoot()))).value
        let kt = try kTransposedQuant.forward(.float(k.transpose(1, 2))).value
        var logits = qs.matmul(kt)
        if let mask { logits = mask + logits }
        var w = try softmaxInputQuant.forward(.float(logits)).value.softmax(dim: -1)
        if training && dropout > 0 { w = w.dropout(p: dropout, generator: generator) }
        let wq = try attnOutputWeightsQuant.forward(.float(w)).value
        let o = wq.matmul(try vQuant.forward(.float(v)).value)  // [N·H, L, d]
        var out = try outProj.forward(.float(o.transpose(0, 1).reshape([tgt, bsz, embedDim])))
        if rank == 2 {
            out = out.map { $0.squeeze(1) }
        } else if batchFirst {
            out = out.map { $0.transpose(0, 1) }
        }
        guard needWeights else { return AttentionOutput(output: out, weights: nil) }
        var weights = wq.reshape([bsz, h, tgt, src])
        if averageAttnWeights { weights = weights.sum(dim: 1) / Float(h) }
        if rank == 2 { weights = weights.squeeze(0) }
        return AttentionOutput(output: out, weights: weights)
    }

    /// The additive mask `[1 | N·H, L, S]` from `attn_mask` and `key_padding_mask` (Brevitas's
    /// merge: a boolean padding mask ORs into a boolean attention mask, otherwise −inf is
    /// filled in), or `nil`.
    func attentionBias(_ attn: AttentionMask?, _ padding: AttentionMask?, bsz: Int, tgt: Int, src: Int, unbatched: Bool) throws -> Tensor? {
        var bias: Tensor? = nil
        if let attn {
            let s = attn.tensor.shape
            if s.count == 2 {
                guard s == [tgt, src] else { throw fail("the 2-D attn_mask is \(s), but should be [\(tgt), \(src)] ([L, S])") }
                bias = attn.additive.unsqueeze(0)
            } else if s.count == 3 {
                guard s == [bsz * numHeads, tgt, src] else { throw fail("the 3-D attn_mask is \(s), but should be [\(bsz * numHeads), \(tgt), \(src)] ([N·num_heads, L, S])") }
                bias = attn.additive
            } else {
                throw fail("attn_mask must be 2-D or 3-D, got \(s)")
            }
        }
        guard let padding else { return bias }
        let expected = unbatched ? [src] : [bsz, src]
        guard padding.tensor.shape == expected else { throw fail("key_padding_mask is \(padding.tensor.shape), but should be \(expected)") }
        // [N, S] -> [N·H, 1, S]
        let p = padding.additive.reshape([bsz, 1, 1, src]).expand([bsz, numHeads, 1, src]).reshape([bsz * numHeads, 1, src])
        return bias.map { $0 + p } ?? p
    }

    func fail(_ reason: String) -> QuantLayerError { .missingQuantInput(layer: typeName, reason: reason) }
}

extension QuantValue {
    /// The same value with `f` applied to its tensor (QuantTensor metadata kept: `f` must only
    /// move elements, e.g. a transpose or a squeeze of a per-tensor QuantTensor).
    func map(_ f: (Tensor) -> Tensor) -> QuantValue {
        switch self {
        case .float(let t): return .float(f(t))
        case .quant(let q): return .quant(q.with(value: f(q.value)))
        }
    }
}
