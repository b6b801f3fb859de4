import TensorEngine

/// The collectives data-parallel training uses, on `Float` values: what ``Communicator``
/// provides over MPI, and what a test double provides in one process.
///
/// Every collective must be called by every rank, in the same order, with the same counts.
public protocol Collectives: AnyObject {
    /// This process's rank, `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// Every rank's `values` (the same count on every rank) on every rank, in rank order:
    /// `gathered[r·n ..< (r+1)·n]` is rank r's. `gathered.count` must be `size · values.count`.
    func allgather(_ values: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws
    /// Overwrites `values` on every rank with those of rank `root`.
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) throws
    /// Ends every rank of the job with `code` (after the caller printed why).
    func abort(code: Int32) -> Never
}

extension Collectives {
    /// Every rank's `tensor` (the same shape on every rank), stacked in rank order:
    /// `[size] + tensor.shape`.
    public func allgather(_ tensor: Tensor) throws -> Tensor {
        let out = Tensor.empty([size] + tensor.shape)
        try allgather(UnsafeBufferPointer(tensor.storage.buffer), into: out.storage.buffer)
        return out
    }

    /// The element-wise sum of every rank's `tensor` (the same shape on every rank), the same
    /// bits on every rank and in every run: the values are gathered and added in rank order,
    /// `((x₀ + x₁) + x₂) + …` (see ``RankOrder/weightedSum(_:count:stride:weights:into:)``), never in the
    /// order messages arrive.
    public func allreduceSum(_ tensor: Tensor) throws -> Tensor {
        try allreduce(tensor, weights: [Float](repeating: 1, count: size))
    }

    /// `Σ_r weights[r] · tensor_r`, summed in rank order on every rank (a weighted mean when the
    /// weights add up to 1).
    public func allreduce(_ tensor: Tensor, weights: [Float]) throws -> Tensor {
        precondition(weights.count == size, "allreduce: \(weights.count) weights for \(size) ranks")
        let gathered = try allgather(tensor)
        let out = Tensor.empty(tensor.shape)
        RankOrder.weightedSum(UnsafeBufferPointer(gathered.storage.buffer), count: tensor.count, weights: weights, into: out.storage.buffer)
        return out
    }
}
