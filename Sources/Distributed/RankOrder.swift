/// The arithmetic of data parallelism that must not depend on scheduling: how a global batch is
/// split among ranks, what each rank's share weighs, and the reduction in rank order.
///
/// A global batch of `B` examples is cut into `size` contiguous shards, the first `B mod size`
/// one example longer: with `B = 10` and 4 ranks the shards are `0..<3, 3..<6, 6..<8, 8..<10`.
/// Rank r's weight is `n_r / B`, so the weighted sum of the ranks' mean-loss gradients is the
/// gradient of the mean loss over the whole batch, `Σ_r (n_r/B)·(1/n_r)·Σ_{i∈r} ∇ℓ_i = (1/B)·Σ_i ∇ℓ_i`,
/// what one process computes on the whole batch (up to the order of the additions).
public enum RankOrder {
    /// The examples of rank `rank` in a global batch of `count`: contiguous, balanced shards.
    public static func shard(count: Int, rank: Int, size: Int) -> Range<Int> {
        precondition(size > 0 && (0..<size).contains(rank), "RankOrder.shard: rank \(rank) of a job of \(size)")
        precondition(count >= 0, "RankOrder.shard: negative batch size \(count)")
        let base = count / size, extra = count % size
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Each rank's weight in a global batch of `count`: `n_r / count` (all 1 for a job of one).
    public static func weights(count: Int, size: Int) -> [Float] {
        precondition(count > 0, "RankOrder.weights: empty global batch")
        return (0..<size).map { Float(shard(count: count, rank: $0, size: size).count) / Float(count) }
    }

    /// `out[i] = Σ_r weights[r] · gathered[r·stride + i]`, added in rank order,
    /// `((w₀x₀ + w₁x₁) + w₂x₂) + …`, so every rank and every run gets the same bits. With one rank
    /// and weight 1 the values are copied exactly.
    ///
    /// - Parameters:
    ///   - gathered: `weights.count · stride` values, rank r's at `r·stride ..< r·stride + count`.
    ///   - count: values per rank `n`.
    ///   - stride: the distance between ranks' values (`count` when they are packed; more when
    ///     each rank's part of a bucket is followed by other values).
    ///   - out: `count` values.
    public static func weightedSum(_ gathered: UnsafeBufferPointer<Float>, count n: Int, stride: Int? = nil, weights: [Float],
                                   into out: UnsafeMutableBufferPointer<Float>) {
        let stride = stride ?? n
        precondition(!weights.isEmpty && stride >= n && gathered.count == weights.count * stride && out.count == n,
                     "RankOrder.weightedSum: \(gathered.count) gathered values for \(weights.count) ranks x stride \(stride) (\(n) used), output of \(out.count)")
        guard n > 0, let src = gathered.baseAddress, let dst = out.baseAddress else { return }
        let w0 = weights[0]
        for i in 0..<n { dst[i] = w0 * src[i] }
        for r in 1..<weights.count {
            let w = weights[r], x = src + r * stride
            for i in 0..<n { dst[i] += w * x[i] }
        }
    }
}
