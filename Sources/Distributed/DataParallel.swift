import NN
import QuantCore
import TensorEngine

/// Data-parallel training of one model replicated on every rank (PyTorch's
/// `DistributedDataParallel`, made deterministic).
///
/// Every step, each rank runs forward and backward on its shard of the global batch
/// (``shard(globalCount:)``), then calls ``synchronize(globalCount:extras:)`` once before the
/// optimizer step. That call packs into one buffer, and exchanges with one collective per bucket
/// of ``bucketCapacity`` values (one for the models of this project):
///
/// | what | combined as | why |
/// |---|---|---|
/// | parameter gradients | `Σ_r (n_r/B)·g_r` in rank order | the gradient of the global batch's mean loss |
/// | buffers of statistics collectors that are collecting (`1 ≤ counter ≤ collectStatsSteps`) | `Σ_r (n_r/B)·buffer_r` in rank order | the same scale on every rank after every step |
/// | every other buffer (BatchNorm running statistics, counters) | rank 0's | PyTorch DDP's `broadcast_buffers` |
/// | `extras` (loss, accuracy, a stop flag) | `Σ_r (n_r/B)·x_r` in rank order | global metrics |
///
/// The quantizers' collected statistic is thus, after step k, the running mean over steps of the
/// weighted mean over ranks of each rank's statistic on its shard (a running mean is linear, so
/// averaging the buffers averages the per-step statistics). During a collection step each rank's
/// forward quantizes with its own shard's statistic, as with DDP. Sums are taken in rank order
/// from gathered values, never in arrival order, so two runs with the same seed and the same
/// number of ranks produce the same bits, and every rank holds the same parameters.
///
/// ```swift
/// let parallel = DataParallel(model: model, communicator: try Communicator.world())
/// try parallel.broadcastState()                               // rank 0's weights everywhere
/// let mine = parallel.shard(globalCount: batch.count)          // this rank's examples
/// // forward + backward on batch[mine] ...
/// let global = try parallel.synchronize(globalCount: batch.count, extras: [loss])
/// optimizer.step()
/// ```
public final class DataParallel {
    public let communicator: any Collectives
    public let model: Module
    /// The most values one collective moves per rank (the gather buffer holds `size` times it).
    public var bucketCapacity = 1 << 22
    private var packed: [Float] = []
    private var gathered: [Float] = []
    private var reduced: [Float] = []

    public init(model: Module, communicator: any Collectives) {
        self.model = model
        self.communicator = communicator
    }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// This rank's examples in a global batch of `globalCount` (``RankOrder/shard(count:rank:size:)``).
    public func shard(globalCount: Int) -> Range<Int> {
        RankOrder.shard(count: globalCount, rank: rank, size: size)
    }

    /// Overwrites every parameter and buffer with rank 0's, in one broadcast of the packed
    /// values. Quantizer counters are not tensors: they agree when every rank runs the same
    /// configuration (see ``ConfigurationCheck``).
    public func broadcastState() throws {
        let tensors = model.parameters() + model.buffers()
        packed.removeAll(keepingCapacity: true)
        for t in tensors { packed.append(contentsOf: t.storage.buffer) }
        try packed.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        var offset = 0
        for t in tensors {
            Self.load(t, from: packed, at: offset)
            offset += t.count
        }
    }

    /// Combines the step's gradients, statistics and `extras` across ranks as the table above
    /// says, in one collective per bucket, and returns the combined `extras`.
    ///
    /// - Parameters:
    ///   - globalCount: the global batch size `B` (every rank's shard non-empty: `B ≥ size`).
    ///   - gradients: whether to combine gradients (false for forward-only calibration steps).
    ///   - extras: per-rank values to combine with the weights `n_r/B`.
    @discardableResult
    public func synchronize(globalCount: Int, gradients: Bool = true, extras: [Float] = []) throws -> [Float] {
        precondition(globalCount >= size, "DataParallel: a global batch of \(globalCount) leaves a rank of \(size) without examples")
        let weights = RankOrder.weights(count: globalCount, size: size)
        let parameters = gradients ? model.parameters() : []
        let collecting = collectingBuffers()
        let collectingIDs = Set(collecting.map(ObjectIdentifier.init))
        let others = model.buffers().filter { !collectingIDs.contains(ObjectIdentifier($0)) }

        // Layout: [has-gradient flags | gradients | collecting buffers | extras] (weighted sums),
        // then [other buffers] (rank 0's).
        packed.removeAll(keepingCapacity: true)
        for p in parameters { packed.append(p.grad == nil ? 0 : 1) }
        for p in parameters {
            if let g = p.grad {
                precondition(g.count == p.count, "DataParallel: gradient of shape \(g.shape) for a parameter of shape \(p.shape)")
                packed.append(contentsOf: g.storage.buffer)
            } else {
                packed.append(contentsOf: repeatElement(0, count: p.count))
            }
        }
        for b in collecting { packed.append(contentsOf: b.storage.buffer) }
        packed.append(contentsOf: extras)
        let summed = packed.count
        for b in others { packed.append(contentsOf: b.storage.buffer) }

        try exchange(weights: weights, summed: summed)

        var offset = parameters.count
        for (i, p) in parameters.enumerated() {
            defer { offset += p.count }
            guard reduced[i] != 0 else { continue }
            let g = Tensor.empty(p.shape)
            Self.load(g, from: reduced, at: offset)
            p.grad = g
        }
        for b in collecting {
            Self.load(b, from: reduced, at: offset)
            offset += b.count
        }
        let combined = Array(reduced[offset..<(offset + extras.count)])
        offset += extras.count
        for b in others {
            Self.load(b, from: reduced, at: offset)
            offset += b.count
        }
        return combined
    }

    /// Copies `source[offset ..< offset + t.count]` into `t`'s elements.
    private static func load(_ t: Tensor, from source: [Float], at offset: Int) {
        source.withUnsafeBufferPointer { t.storage.pointer.update(from: $0.baseAddress! + offset, count: t.count) }
    }

    /// The buffers of the statistics collectors that collected in this step.
    func collectingBuffers() -> [Tensor] {
        var seen = Set<ObjectIdentifier>()
        var out: [Tensor] = []
        for case let collector as StatsCollecting in model.modules()
        where collector.counter >= 1 && collector.counter <= collector.collectStatsSteps {
            for (_, b) in collector.localBuffers where seen.insert(ObjectIdentifier(b)).inserted { out.append(b) }
        }
        return out
    }

    /// Gathers `packed` from every rank bucket by bucket into `reduced`: the first `summed`
    /// values as weighted sums in rank order, the rest as rank 0's.
    private func exchange(weights: [Float], summed: Int) throws {
        let n = packed.count
        if reduced.count != n { reduced = [Float](repeating: 0, count: n) }
        var start = 0
        while start < n {
            let count = min(bucketCapacity, n - start)
            if gathered.count != size * count { gathered = [Float](repeating: 0, count: size * count) }
            try packed.withUnsafeBufferPointer { src in
                try gathered.withUnsafeMutableBufferPointer { dst in
                    try communicator.allgather(UnsafeBufferPointer(rebasing: src[start..<(start + count)]), into: dst)
                }
            }
            gathered.withUnsafeBufferPointer { all in
                reduced.withUnsafeMutableBufferPointer { out in
                    // Per rank, this bucket's values [start, start + count): the summed part, then rank 0's part.
                    let sumCount = max(0, min(summed - start, count))
                    if sumCount > 0 {
                        RankOrder.weightedSum(all, count: sumCount, stride: count, weights: weights,
                                              into: UnsafeMutableBufferPointer(rebasing: out[start..<(start + sumCount)]))
                    }
                    for i in sumCount..<count { out[start + i] = all[i] }
                }
            }
            start += count
        }
    }
}
