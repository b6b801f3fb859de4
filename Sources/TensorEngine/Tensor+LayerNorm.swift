/// Layer normalization over the trailing dimensions (`torch.nn.functional.layer_norm`, ONNX
/// `LayerNormalization` with `axis = rank - normalizedRank`).
///
/// With `D` the last `normalizedRank` dimensions flattened, for every row `x` of `D` values:
/// `y = (x - mean(x)) / sqrt(var(x) + eps) · weight + bias`, where `var` is the biased variance
/// (divided by `D`, not `D - 1`). `weight` and `bias` have the shape of the normalized
/// dimensions (or are omitted).
///
/// Built from primitive ops (mean, subtraction, multiplication, square root, division), so its
/// gradient with respect to `x`, `weight` and `bias` comes from theirs.
///
/// ```swift
/// let y = Tensor.layerNorm(x, normalizedRank: 1, weight: gamma, bias: beta)   // x: [B, T, 16]
/// ```
extension Tensor {
    public static func layerNorm(
        _ x: Tensor, normalizedRank: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5
    ) -> Tensor {
        precondition(normalizedRank >= 1 && normalizedRank <= x.rank,
                     "layerNorm: normalizedRank \(normalizedRank) must be in 1...\(x.rank) for input \(x.shape)")
        let normalized = Array(x.shape.suffix(normalizedRank))
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let t {
                precondition(t.shape == normalized, "layerNorm: \(name) \(t.shape) must have the normalized shape \(normalized) of input \(x.shape)")
            }
        }
        let dims = Array((x.rank - normalizedRank)..<x.rank)
        let centered = x - x.mean(dims: dims, keepDim: true)
        let variance = (centered * centered).mean(dims: dims, keepDim: true)
        var y = centered / (variance + eps).sqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }
}
