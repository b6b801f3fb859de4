import CMPI
import Foundation
import TensorEngine

/// The processes of an MPI job (`MPI_COMM_WORLD`): this process's `rank`, the `size` of the job,
/// and the collectives data-parallel training needs, on `Float` values and tensors.
///
/// MPI is initialised by the first ``world()`` call (`MPI_Init_thread` with
/// `MPI_THREAD_FUNNELED`: only the thread that initialised MPI calls it; the engine's worker
/// threads never do). The world communicator is switched to `MPI_ERRORS_RETURN`, so a failing call
/// returns a code, which becomes a thrown ``MPIError``, instead of aborting the job with MPI's
/// message. A process started without `mpirun` is a job of one (MPI's singleton start).
///
/// Every collective must be called by every rank, in the same order, with the same counts:
/// that is the caller's contract, as in MPI.
///
/// ```swift
/// let world = try Communicator.world()
/// let gathered = try world.allgather(Tensor([Float(world.rank)]))   // [size, 1]: 0, 1, ...
/// let sum = try world.allreduceSum(Tensor([1, 2]))                   // [size, 2·size] on every rank
/// try Communicator.finalize()
/// ```
public final class Communicator: Collectives {
    /// This process's rank, `0..<size`.
    public let rank: Int
    /// The number of processes in the job.
    public let size: Int
    let handle: MPI_Comm?

    private init(handle: MPI_Comm?, rank: Int, size: Int) {
        self.handle = handle
        self.rank = rank
        self.size = size
    }

    nonisolated(unsafe) private static var shared: Communicator?

    /// The world of this job, initialising MPI on the first call.
    public static func world() throws -> Communicator {
        if let shared { return shared }
        var finalized: Int32 = 0
        try check(MPI_Finalized(&finalized), "MPI_Finalized")
        guard finalized == 0 else { throw MPIError(function: "MPI_Init_thread", code: -1, message: "MPI was already finalized in this process; it cannot be started twice") }
        var initialized: Int32 = 0
        try check(MPI_Initialized(&initialized), "MPI_Initialized")
        if initialized == 0 {
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
        }
        let world = cmpi_comm_world()
        try check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        let communicator = Communicator(handle: world, rank: Int(rank), size: Int(size))
        shared = communicator
        return communicator
    }

    /// Ends MPI in this process (`MPI_Finalize`) after a barrier; nothing happens when it was
    /// never started. No collective can run afterwards.
    public static func finalize() throws {
        guard let world = shared else { return }
        try world.barrier()
        try check(MPI_Finalize(), "MPI_Finalize")
        shared = nil
    }

    /// Ends every process of the job with `code` (`MPI_Abort`): what a rank does after printing
    /// an error, so that no other rank waits forever in a collective.
    public func abort(code: Int32 = 1) -> Never {
        MPI_Abort(handle, code)
        exit(code)
    }

    /// Waits until every rank has called it.
    public func barrier() throws {
        try Self.check(MPI_Barrier(handle), "MPI_Barrier")
    }

    // MARK: Broadcast

    /// Overwrites `values` on every rank with those of rank `root`.
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        checkRoot(root)
        guard let base = values.baseAddress else { return }
        var offset = 0
        while offset < values.count {
            let n = min(values.count - offset, Self.maxCount)
            try Self.check(MPI_Bcast(base + offset, Int32(n), cmpi_float(), Int32(root), handle), "MPI_Bcast")
            offset += n
        }
    }

    /// Overwrites `tensor`'s elements on every rank with those of rank `root` (same shape on
    /// every rank), outside autograd.
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        try broadcast(tensor.storage.buffer, root: root)
    }

    /// Rank `root`'s bytes on every rank (the other ranks' `bytes` may have any length).
    public func broadcast(bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        checkRoot(root)
        var length = UInt64(bytes.count)
        try Self.check(MPI_Bcast(&length, 1, cmpi_uint64(), Int32(root), handle), "MPI_Bcast")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try out.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = min(raw.count - offset, Self.maxCount)
                try Self.check(MPI_Bcast(raw.baseAddress! + offset, Int32(n), cmpi_byte(), Int32(root), handle), "MPI_Bcast")
                offset += n
            }
        }
        return out
    }

    // MARK: Allgather

    /// Every rank's `values` (the same count on every rank) on every rank, in rank order:
    /// `gathered[r·n ..< (r+1)·n]` is rank r's. `gathered.count` must be `size · values.count`.
    public func allgather(_ values: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws {
        precondition(gathered.count == size * values.count,
                     "allgather: the receive buffer holds \(gathered.count) values, needs \(size) ranks x \(values.count)")
        precondition(values.count <= Self.maxCount, "allgather: \(values.count) values in one call; split them in buckets of at most \(Self.maxCount)")
        guard let send = values.baseAddress, let receive = gathered.baseAddress, !values.isEmpty else { return }
        try Self.check(MPI_Allgather(send, Int32(values.count), cmpi_float(), receive, Int32(values.count), cmpi_float(), handle),
                       "MPI_Allgather")
    }

    /// Every rank's `value`, in rank order.
    public func allgather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try all.withUnsafeMutableBufferPointer { out in
            try Self.check(MPI_Allgather(&mine, 1, cmpi_uint64(), out.baseAddress, 1, cmpi_uint64(), handle), "MPI_Allgather")
        }
        return all
    }

    // MARK: Errors

    /// The most values one MPI call moves (its count is an `Int32`).
    static let maxCount = 1 << 30

    func checkRoot(_ root: Int) {
        precondition((0..<size).contains(root), "broadcast: root \(root) is not a rank of a job of \(size)")
    }

    static func check(_ code: Int32, _ function: String) throws {
        guard code != cmpi_success() else { return }
        throw MPIError(function: function, code: code, message: errorString(code))
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == cmpi_success() else { return "unknown MPI error" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An MPI call that failed: the function, MPI's error code and MPI's message.
public struct MPIError: Error, CustomStringConvertible, Equatable {
    public var function: String
    public var code: Int32
    public var message: String

    public var description: String { "\(function) failed (MPI error \(code)): \(message)" }
}
