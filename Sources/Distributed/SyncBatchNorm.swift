import Foundation
import NN
import QuantNN
import TensorEngine

/// Synchronised BatchNorm (PyTorch's `SyncBatchNorm`, `--sync-bn`): in training mode every
/// BatchNorm normalises with the mean and variance of the global batch, not of the rank's shard.
///
/// Per channel, each rank sums its shard, `s₁ = Σx`, `s₂ = Σx²`, and counts `m` values; the
/// vectors `[s₁, s₂, m]` are summed over ranks in rank order (``crossRankSum(_:communicator:)``),
/// giving `mean = S₁/M` and the biased `var = S₂/M − mean²`; then
/// `y = (x − mean)/√(var + eps)·weight + bias` and the running statistics are updated with the
/// global mean and the unbiased `var·M/(M−1)`, so they agree on every rank. The backward runs
/// through the same sum (a collective in the backward pass, in the same order on every rank).
///
/// Without it (the default, as with DDP) each rank normalises with its shard's statistics and
/// the running statistics of rank 0 are kept (see ``DataParallel``).
public enum SyncBatchNorm {
    /// Makes every BatchNorm in `model` synchronised over `communicator` in training mode,
    /// including those a quantized model wraps in a `FloatLayer` (which registers the layer's
    /// tensors, not the layer, in the module tree). Returns how many were converted.
    @discardableResult
    public static func convert(_ model: Module, communicator: any Collectives) -> Int {
        var converted = 0
        let layers = model.modules().compactMap { ($0 as? BatchNorm) ?? ($0 as? FloatLayer)?.layer as? BatchNorm }
        for bn in layers {
            bn.synchronizedNormalization = { x, runningMean, runningVar, weight, bias, momentum, eps in
                normalize(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, momentum: momentum,
                          eps: eps, communicator: communicator)
            }
            converted += 1
        }
        return converted
    }

    /// Training-mode batch normalisation of `x` (`[N, C, ...]`) with statistics over every rank.
    public static func normalize(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                                 momentum: Float, eps: Float, communicator: any Collectives) -> Tensor {
        precondition(x.rank >= 2, "SyncBatchNorm: input must be [N, C, ...], got shape \(x.shape)")
        let c = x.shape[1]
        let dims = [0] + Array(2..<x.rank)
        let m = Float(x.count / c)
        let local = Tensor.cat([x.sum(dims: dims), (x * x).sum(dims: dims), Tensor([m])])
        let global = crossRankSum(local, communicator: communicator)
        let total = global.scalars[2 * c]
        precondition(total > 1, "SyncBatchNorm: expected more than 1 value per channel over all ranks, got \(total) (input \(x.shape) here)")
        let mean = global.narrow(dim: 0, start: 0, length: c) / total
        let variance = global.narrow(dim: 0, start: c, length: c) / total - mean * mean
        let view = [1, c] + [Int](repeating: 1, count: x.rank - 2)
        var scale = 1 / (variance + eps).sqrt()
        if let weight { scale = scale * weight }
        var y = (x - mean.reshape(view)) * scale.reshape(view)
        if let bias { y = y + bias.reshape(view) }
        Autograd.noGrad {
            if let runningMean { runningMean.assign(runningMean * (1 - momentum) + mean.detach() * momentum) }
            if let runningVar { runningVar.assign(runningVar * (1 - momentum) + variance.detach() * (momentum * total / (total - 1))) }
        }
        return y
    }

    /// `Σ_r x_r` over ranks in rank order (every rank gets the same bits), differentiable.
    ///
    /// The gradient: the training objective is `Σ_q w_q·L_q` (`w_q`: rank q's share of the
    /// global batch, read from the last element of `x`, the rank's count, over the total), and
    /// ``DataParallel`` later weighs rank r's gradients by `w_r`; so the backward hands rank r
    /// `(Σ_q w_q·g_q) / w_r`, where `g_q` is rank q's incoming gradient, summed in rank order.
    /// A failing MPI call in the backward pass cannot be thrown: it prints the error and aborts
    /// the job.
    public static func crossRankSum(_ x: Tensor, communicator: any Collectives) -> Tensor {
        precondition(x.rank == 1 && x.count >= 1, "crossRankSum: expected a vector ending with the rank's count, got \(x.shape)")
        let gathered = orAbort(communicator) { try communicator.allgather(x.detach()) }
        let counts = (0..<communicator.size).map { gathered.storage.pointer[$0 * x.count + x.count - 1] }
        let total = counts.reduce(0, +)
        let weights = counts.map { $0 / total }
        let out = Tensor.empty(x.shape)
        RankOrder.weightedSum(UnsafeBufferPointer(gathered.storage.buffer), count: x.count,
                              weights: [Float](repeating: 1, count: communicator.size), into: out.storage.buffer)
        return Tensor.custom("cross_rank_sum", inputs: [x], forward: { out }, backward: { g in
            let combined = orAbort(communicator) { try communicator.allreduce(g, weights: weights) }
            return [combined / weights[communicator.rank]]
        })
    }

    static func orAbort<R>(_ communicator: any Collectives, _ body: () throws -> R) -> R {
        do {
            return try body()
        } catch {
            FileHandle.standardError.write(Data("error: rank \(communicator.rank) of \(communicator.size): SyncBatchNorm: \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }
}
