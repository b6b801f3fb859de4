import NN
import QuantCore
import Quantizers
import TensorEngine

extension LayerFactory {
    /// Class names built by `makeAttention`.
    public static let attentionClassNames = ["QuantMultiheadAttention"]

    /// Builds a `QuantMultiheadAttention` from Brevitas keywords: `embed_dim`, `num_heads`,
    /// `dropout`, `bias`, `kdim`, `vdim`, `packed_in_proj`, `add_bias_kv`, `add_zero_attn`, `batch_first`,
    /// `return_quant_tensor`; the projections' quantizers `in_proj_{input,weight,bias}_quant` and
    /// `out_proj_{input,weight,bias,output}_quant` with their `in_proj_*` / `out_proj_*`
    /// keywords (e.g. `in_proj_weight_bit_width`), and `softmax_input_quant`,
    /// `attn_output_weights_quant`, `q_scaled_quant`, `k_transposed_quant`, `v_quant` with
    /// theirs (`q_scaled_bit_width`, `v_bit_width`, ...).
    public static func makeAttention(className: String, kwargs: [String: ConfigValue]) throws(QuantConfigError) -> QuantMultiheadAttention {
        guard attentionClassNames.contains(className) else {
            throw QuantConfigError(context: className, problems: [.init(key: "class", message: "not an attention layer; valid: \(attentionClassNames.joined(separator: ", "))")])
        }
        var a = Args(className: className, kwargs: kwargs)
        guard let e = a.int("embed_dim", nil), let h = a.int("num_heads", nil) else {
            throw QuantConfigError(context: className, problems: [.init(key: "embed_dim", message: "embed_dim and num_heads are required")])
        }
        let dropout = a.float("dropout", 0), hasBias = a.bool("bias", true)
        let kdim = a.optionalInt("kdim"), vdim = a.optionalInt("vdim")
        let packed = a.bool("packed_in_proj", true), batchFirst = a.bool("batch_first", false)
        let rqt = a.bool("return_quant_tensor", false)
        let addBiasKV = a.bool("add_bias_kv", false), addZeroAttn = a.bool("add_zero_attn", false)
        var inArgs = Args(className: "\(className).in_proj", kwargs: a.prefixed("in_proj_", valid: []))
        var outArgs = Args(className: "\(className).out_proj", kwargs: a.prefixed("out_proj_", valid: []))
        let inQuant = try inArgs.projectionQuant()
        let outQuant = try outArgs.projectionQuant()
        let outOutput = try outArgs.actQuantizer("output_quant", default: nil, prefix: "output_")
        try inArgs.finish()
        try outArgs.finish()
        var quant: [String: ActQuant?] = [:]
        for (key, def) in [("softmax_input", nil), ("attn_output_weights", ActQuant.uint8ActPerTensorFloat), ("q_scaled", .int8ActPerTensorFloat),
                           ("k_transposed", .int8ActPerTensorFloat), ("v", .int8ActPerTensorFloat)] {
            quant[key] = try a.actQuantizer("\(key)_quant", default: def, prefix: "\(key)_")
        }
        try a.finish()
        return try QuantMultiheadAttention(
            embedDim: e, numHeads: h, dropout: dropout, bias: hasBias, kdim: kdim, vdim: vdim, packedInProj: packed, inProjQuant: inQuant,
            softmaxInputQuant: quant["softmax_input"]!, attnOutputWeightsQuant: quant["attn_output_weights"]!,
            qScaledQuant: quant["q_scaled"]!, kTransposedQuant: quant["k_transposed"]!, vQuant: quant["v"]!,
            outProjQuant: outQuant, outProjOutputQuant: outOutput, addBiasKV: addBiasKV, addZeroAttn: addZeroAttn, batchFirst: batchFirst,
            returnQuantTensor: rqt)
    }
}

extension LayerFactory.Args {
    /// A projection's input, weight and bias quantizers (defaults Int8 input, Int8 weights,
    /// Int32 bias) from keywords already stripped of the projection's prefix.
    mutating func projectionQuant() throws(QuantConfigError) -> QuantMultiheadAttention.ProjectionQuant {
        let input = try actQuantizer("input_quant", default: .int8ActPerTensorFloat, prefix: "input_")
        let weight = try weightQuantizer()
        var bias: BiasQuant? = .int32Bias
        if remaining["bias_quant"] != nil || remaining.keys.contains(where: { $0.hasPrefix("bias_") }) { bias = try biasQuantizer() }
        return .init(input: input, weight: weight, bias: bias)
    }
}
