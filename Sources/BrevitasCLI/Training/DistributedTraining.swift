import ArgumentParser
import Distributed
import Foundation
import NN
import TensorEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `brevitas train --distributed`: this process is one rank of an MPI job started by `mpirun`.
///
/// Rank 0 prints and writes the run's files; the other ranks train silently (prefixed lines with
/// `--verbose`) and print only errors. An error on any rank (a bad data file, a configuration
/// that differs from rank 0's, a failing MPI call) prints `error: rank R of N: ...` on that rank
/// and ends the whole job with `MPI_Abort`, so no rank waits forever in a collective.
enum DistributedTraining {
    static func run(options: TrainRun.Options, threads: Int?, syncBatchNorm: Bool, verbose: Bool) throws {
        let world: Communicator
        do {
            world = try Communicator.world()
        } catch {
            throw CLIError("--distributed could not start MPI: \(error)")
        }
        Parallel.threadCount = threads ?? defaultThreads()
        let silent = world.rank != 0 && !verbose
        let prefix = world.rank == 0 ? "" : "[rank \(world.rank)] "
        let progress = silent ? Progress(live: false, write: { _ in })
            : Progress(live: world.rank == 0 ? nil : false, write: { Progress.standardOutput(prefix + $0) })
        let run = TrainRun(options: options, progress: progress, print: silent ? { _ in } : { Swift.print(prefix + $0) })
        run.communicator = world
        run.syncBatchNorm = syncBatchNorm
        Interrupt.install()
        defer { Interrupt.uninstall() }
        run.shouldStop = { Interrupt.requested }
        let outcome: TrainRun.Outcome
        do {
            outcome = try run.run()
            try Communicator.finalize()
        } catch {
            fputs("error: rank \(world.rank) of \(world.size): \(error)\n", stderr)
            fflush(stderr)
            world.abort(code: 1)
        }
        if case .interrupted = outcome { throw ExitCode(130) }
    }

    /// Threads per rank when `--threads` is not given: the machine's cores shared among the ranks
    /// `mpirun` started on it (`OMPI_COMM_WORLD_LOCAL_SIZE`), at least 1.
    static func defaultThreads() -> Int {
        let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(local, 1))
    }

    /// What every rank must agree on, one `key=value` per line: the options that shape the
    /// training (not `--out`, `--data-dir` or `--threads`, which may differ between hosts), the
    /// job's size, and the data itself (counts, shapes and a hash of every input and label).
    static func describe(_ o: TrainRun.Options, data: DataSplits, ranks: Int, syncBatchNorm: Bool) -> String {
        [
            "ranks=\(ranks)", "arch=\(o.arch.rawValue)", "dataset=\(o.dataset.rawValue)", "weight-bits=\(o.weightBits)",
            "act-bits=\(o.actBits)", "input-bits=\(o.inputBits)", "epochs=\(o.epochs)", "batch-size=\(o.batchSize)",
            "lr=\(o.learningRate)", "optimizer=\(o.optimizer.rawValue)", "seed=\(o.seed)",
            "from-float=\(o.fromFloat == nil ? "no" : "yes")", "float-epochs=\(o.floatEpochs)",
            "calibrate-steps=\(o.calibrateSteps)", "collect-stats-steps=\(o.collectStatsSteps)",
            "limit=\(o.limit.map(String.init) ?? "none")", "accumulator-bits=\(o.accumulatorBits.map(String.init) ?? "none")",
            "overflow=\(o.overflow)", "format=\(o.format)", "group-size=\(o.groupSize.map(String.init) ?? "none")",
            "sync-bn=\(syncBatchNorm)",
            "train=\(data.train.count)x\(data.train.exampleShape) \(String(fingerprint(data.train), radix: 16))",
            "test=\(data.test.count)x\(data.test.exampleShape) \(String(fingerprint(data.test), radix: 16))",
        ].joined(separator: "\n")
    }

    /// A 64-bit hash of a data set's input bits and labels (one multiply per value).
    static func fingerprint(_ data: TensorDataset) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let p = data.inputs.storage.pointer
        for i in 0..<data.inputs.count { hash = (hash ^ UInt64(p[i].bitPattern)) &* 0x100_0000_01b3 }
        for label in data.labels { hash = (hash ^ UInt64(bitPattern: Int64(label))) &* 0x100_0000_01b3 }
        return hash
    }
}
