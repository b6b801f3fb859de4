import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// Quantized scaled dot-product attention (Brevitas `QuantScaledDotProductAttention`), with
/// `q` `[…, L, E]`, `k` `[…, S, E]`, `v` `[…, S, Ev]`:
/// ```
/// q_s = q_scaled_quant(q / sqrt(E))          k_t = k_transposed_quant(kᵀ)
/// w   = softmax(softmax_input_quant(q_s·k_t + bias), dim: −1)
/// out = sdpa_output_quant(attn_output_weights_quant(w) · v_quant(v))
/// ```
/// `bias` is 0, or −inf above the diagonal with `isCausal`, or from a mask (boolean: −inf
/// where false; float: added). Each quantizer is a `QuantIdentity` (defaults: Int8 for
/// q/k/v, Uint8 for the attention weights, none for the softmax input and the output). The
/// output is a plain tensor.
public final class QuantScaledDotProductAttention: Module, QuantMultiInputLayer {
    public let qScaledQuant: QuantIdentity, kTransposedQuant: QuantIdentity, vQuant: QuantIdentity
    public let softmaxInputQuant: QuantIdentity, attnOutputWeightsQuant: QuantIdentity, sdpaOutputQuant: QuantIdentity

    public init(softmaxInputQuant: ActQuant? = nil, attnOutputWeightsQuant: ActQuant? = .uint8ActPerTensorFloat,
                qScaledQuant: ActQuant? = .int8ActPerTensorFloat, kTransposedQuant: ActQuant? = .int8ActPerTensorFloat,
                vQuant: ActQuant? = .int8ActPerTensorFloat, sdpaOutputQuant: ActQuant? = nil) throws(QuantConfigError) {
        self.qScaledQuant = try QuantIdentity(actQuant: qScaledQuant)
        self.kTransposedQuant = try QuantIdentity(actQuant: kTransposedQuant)
        self.vQuant = try QuantIdentity(actQuant: vQuant)
        self.softmaxInputQuant = try QuantIdentity(actQuant: softmaxInputQuant)
        self.attnOutputWeightsQuant = try QuantIdentity(actQuant: attnOutputWeightsQuant)
        self.sdpaOutputQuant = try QuantIdentity(actQuant: sdpaOutputQuant)
        super.init()
        registerModule("q_scaled_quant", self.qScaledQuant)
        registerModule("k_transposed_quant", self.kTransposedQuant)
        registerModule("v_quant", self.vQuant)
        registerModule("softmax_input_quant", self.softmaxInputQuant)
        registerModule("attn_output_weights_quant", self.attnOutputWeightsQuant)
        registerModule("sdpa_output_quant", self.sdpaOutputQuant)
    }

    public override var typeName: String { "QuantScaledDotProductAttention" }

    /// `[q, k, v]` without a mask.
    public func forward(_ inputs: [QuantValue]) throws -> QuantValue { try forward(inputs, isCausal: false) }

    /// `[q, k, v]`; `mask` broadcastable to `[…, L, S]`: boolean (0/1, `maskIsBoolean`; true =
    /// attends) or additive. `scale` replaces `1/sqrt(E)`; `enableGQA` repeats each key/value
    /// head `Hq / H` times (`repeat_interleave` on dim −3) for grouped-query attention.
    ///
    /// A query row whose bias is −inf everywhere (fully masked) would give NaN; as Brevitas does,
    /// its bias is set to 0 before the softmax and its weights to 0 after it (output 0, finite
    /// gradients).
    public func forward(_ inputs: [QuantValue], mask: Tensor? = nil, maskIsBoolean: Bool = true, isCausal: Bool,
                        scale: Float? = nil, enableGQA: Bool = false) throws -> QuantValue {
        guard inputs.count == 3 else {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "takes query, key and value, got \(inputs.count) inputs")
        }
        var (q, k, v) = (inputs[0].value, inputs[1].value, inputs[2].value)
        guard q.rank >= 2, k.rank == q.rank, v.rank == q.rank, q.shape.last == k.shape.last, k.shape[k.rank - 2] == v.shape[v.rank - 2] else {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "query \(q.shape), key \(k.shape) and value \(v.shape) do not fit [..., L, E], [..., S, E], [..., S, Ev]")
        }
        if isCausal && mask != nil {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "give either attn_mask or is_causal, not both")
        }
        if enableGQA {
            guard q.rank >= 3, k.shape[k.rank - 3] == v.shape[v.rank - 3], k.shape[k.rank - 3] > 0,
                  q.shape[q.rank - 3] % k.shape[k.rank - 3] == 0 else {
                throw QuantLayerError.missingQuantInput(layer: typeName, reason: "enable_gqa needs query heads \(q.rank >= 3 ? q.shape[q.rank - 3] : 0) to be a multiple of the key/value heads (key \(k.shape), value \(v.shape))")
            }
            let r = q.shape[q.rank - 3] / k.shape[k.rank - 3]
            k = Self.repeatHeads(k, r)
            v = Self.repeatHeads(v, r)
        }
        let l = q.shape[q.rank - 2], s = k.shape[k.rank - 2]
        var bias = Self.attentionBias(l: l, s: s, mask: mask, maskIsBoolean: maskIsBoolean, isCausal: isCausal)
        var keep: Tensor? = nil
        if let b = bias {
            let (neutral, rows) = Self.neutralizingFullyMaskedRows(b)
            if let rows { (bias, keep) = (neutral, rows) }
        }
        let factor = scale ?? 1 / Float(q.shape[q.rank - 1]).squareRoot()
        let qs = try qScaledQuant.forward(.float(q * factor)).value
        let kt = try kTransposedQuant.forward(.float(k.transpose(k.rank - 2, k.rank - 1))).value
        var w = qs.matmul(kt)
        if let bias { w = w + bias }
        w = try softmaxInputQuant.forward(.float(w)).value.softmax(dim: -1)
        if let keep { w = w * keep }
        let wq = try attnOutputWeightsQuant.forward(.float(w)).value
        let out = wq.matmul(try vQuant.forward(.float(v)).value)
        return .float(try sdpaOutputQuant.forward(.float(out)).value)
    }

    /// `x` `[…, H, S, E]` → `[…, H·r, S, E]`, each head repeated `r` times in place
    /// (`repeat_interleave(r, dim: -3)`).
    static func repeatHeads(_ x: Tensor, _ r: Int) -> Tensor {
        guard r > 1 else { return x }
        var shape = x.shape
        let h = x.rank - 3
        var expanded = shape
        expanded.insert(r, at: h + 1)
        let out = x.unsqueeze(h + 1).expand(expanded)
        shape[h] *= r
        return out.reshape(shape)
    }

    /// For an additive bias `[…, L, S]`: `(bias with fully masked rows set to 0, keep)` where
    /// `keep` `[…, L, 1]` is 0 on those rows and 1 elsewhere; `(bias, nil)` when no row is
    /// fully masked.
    static func neutralizingFullyMaskedRows(_ bias: Tensor) -> (Tensor, Tensor?) {
        let s = bias.shape.last ?? 0
        guard s > 0 else { return (bias, nil) }
        let vals = bias.scalars
        let rows = vals.count / s
        var keep = [Float](repeating: 1, count: rows)
        var any = false
        for r in 0..<rows where (0..<s).allSatisfy({ vals[r * s + $0] == -Float.infinity }) {
            keep[r] = 0
            any = true
        }
        guard any else { return (bias, nil) }
        var out = vals
        for r in 0..<rows where keep[r] == 0 { for j in 0..<s { out[r * s + j] = 0 } }
        var keepShape = bias.shape
        keepShape[keepShape.count - 1] = 1
        return (Tensor(shape: bias.shape, out), Tensor(shape: keepShape, keep))
    }

    /// The additive bias (`[L, S]`, or the mask's shape) of a mask or causality (`nil`: none).
    static func attentionBias(l: Int, s: Int, mask: Tensor?, maskIsBoolean: Bool, isCausal: Bool) -> Tensor? {
        if isCausal {
            return Tensor(shape: [l, s], (0..<(l * s)).map { ($0 % s) <= ($0 / s) ? 0 : -Float.infinity })
        }
        guard let mask else { return nil }
        if !maskIsBoolean { return mask }
        return Tensor(shape: mask.shape, mask.scalars.map { $0 != 0 ? 0 : -Float.infinity })
    }
}
