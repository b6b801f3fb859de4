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

    /// `[q, k, v]`; `mask` `[L, S]` (broadcast): boolean (0/1, `isBoolean`) or additive.
    public func forward(_ inputs: [QuantValue], mask: Tensor? = nil, maskIsBoolean: Bool = true, isCausal: Bool) throws -> QuantValue {
        guard inputs.count == 3 else {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "takes query, key and value, got \(inputs.count) inputs")
        }
        let (q, k, v) = (inputs[0].value, inputs[1].value, inputs[2].value)
        guard q.rank >= 2, k.rank == q.rank, v.rank == q.rank, q.shape.last == k.shape.last, k.shape[k.rank - 2] == v.shape[v.rank - 2] else {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "query \(q.shape), key \(k.shape) and value \(v.shape) do not fit [..., L, E], [..., S, E], [..., S, Ev]")
        }
        if isCausal && mask != nil {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "give either attn_mask or is_causal, not both")
        }
        let l = q.shape[q.rank - 2], s = k.shape[k.rank - 2]
        let bias = Self.attentionBias(l: l, s: s, mask: mask, maskIsBoolean: maskIsBoolean, isCausal: isCausal)
        let scale = 1 / Float(q.shape[q.rank - 1]).squareRoot()
        let qs = try qScaledQuant.forward(.float(q * scale)).value
        let kt = try kTransposedQuant.forward(.float(k.transpose(k.rank - 2, k.rank - 1))).value
        var w = qs.matmul(kt)
        if let bias { w = w + bias }
        w = try softmaxInputQuant.forward(.float(w)).value.softmax(dim: -1)
        let wq = try attnOutputWeightsQuant.forward(.float(w)).value
        let out = wq.matmul(try vQuant.forward(.float(v)).value)
        return .float(try sdpaOutputQuant.forward(.float(out)).value)
    }

    /// The additive bias `[L, S]` of a mask and/or causality (`nil`: none).
    static func attentionBias(l: Int, s: Int, mask: Tensor?, maskIsBoolean: Bool, isCausal: Bool) -> Tensor? {
        if isCausal {
            return Tensor(shape: [l, s], (0..<(l * s)).map { ($0 % s) <= ($0 / s) ? 0 : -Float.infinity })
        }
        guard let mask else { return nil }
        if !maskIsBoolean { return mask }
        return Tensor(shape: mask.shape, mask.scalars.map { $0 != 0 ? 0 : -Float.infinity })
    }
}
