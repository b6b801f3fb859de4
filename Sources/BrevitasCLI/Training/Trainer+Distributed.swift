import Distributed
import Foundation
import NN
import TensorEngine

/// `--distributed`: the same epoch as ``Trainer/runEpoch(_:)``, data-parallel over MPI ranks.
///
/// Every rank walks the same seeded order of global batches of `batchSize`; in each, rank r
/// trains on its contiguous shard (``DataParallel/shard(globalCount:)``), then one
/// ``DataParallel/synchronize(globalCount:gradients:extras:)`` combines gradients, statistics and
/// the step's loss, accuracy and stop request before the optimizer step, so every rank applies
/// the same update. A last global batch with fewer examples than ranks is skipped (it would leave
/// a rank without data). An interrupt on any rank stops every rank after the same step.
extension Trainer {
    func runEpoch(_ epoch: Int, learningRate lr: Double, _ parallel: DataParallel) throws -> EpochResult? {
        model.train()
        let batches = loader.batches(epoch: epoch)
        let globalBatches = self.globalBatches(batches.order, size: parallel.size)
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0
        var stopRequested = false
        for (i, global) in globalBatches.enumerated() {
            if stopRequested { return nil }
            let local = shard(global, parallel)
            optimizer.zeroGrad()
            let logits = try forward(local.inputs)
            let loss = Tensor.crossEntropy(logits, targets: local.labels)
            loss.backward()
            let localAccuracy = Float(Self.correctCount(logits, local.labels)) / Float(local.count)
            let combined = try parallel.synchronize(globalCount: global.count,
                                                    extras: [loss.item(), localAccuracy, shouldStop() ? 1 : 0])
            optimizer.step()
            let l = Double(combined[0])
            guard l.isFinite else {
                throw CLIError("the training loss became \(l) in \(phase) epoch \(epoch + 1), batch \(i + 1); try a smaller --lr")
            }
            stopRequested = combined[2] > 0
            lossSum += l * Double(global.count)
            correct += Int((Double(combined[1]) * Double(global.count)).rounded())
            seen += global.count
            onBatch(BatchProgress(phase: phase, epoch: epoch + 1, epochs: epochs, batch: i + 1, batches: globalBatches.count,
                                  loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                  samples: seen, elapsed: Date().timeIntervalSince(start)))
        }
        if stopRequested { return nil }
        return try result(epoch: epoch, lossSum: lossSum, correct: correct, seen: seen, learningRate: lr,
                          seconds: Date().timeIntervalSince(start))
    }

    /// ``calibrate(steps:)`` on every rank's shard, combining the collected statistics after
    /// every forward pass.
    func calibrate(steps: Int, _ parallel: DataParallel) throws -> Bool {
        model.train()
        let globalBatches = self.globalBatches(loader.batches(epoch: 0).order, size: parallel.size)
        guard !globalBatches.isEmpty else {
            throw CLIError("no global batch of \(loader.batchSize) has an example for each of the \(parallel.size) ranks; use more examples or fewer ranks")
        }
        var stopRequested = false
        for step in 0..<steps {
            if stopRequested { return false }
            let global = globalBatches[step % globalBatches.count]
            let local = shard(global, parallel)
            _ = try Autograd.noGrad { try forward(local.inputs) }
            let combined = try parallel.synchronize(globalCount: global.count, gradients: false, extras: [shouldStop() ? 1 : 0])
            stopRequested = combined[0] > 0
        }
        if stopRequested { return false }
        Self.finishCollection(model)
        return true
    }

    /// This rank's examples of a global batch.
    func shard(_ global: ArraySlice<Int>, _ parallel: DataParallel) -> Batch {
        let mine = parallel.shard(globalCount: global.count)
        return data.train.batch(at: Array(global.dropFirst(mine.lowerBound).prefix(mine.count)))
    }

    /// The epoch's global batches (slices of `order`), without a last one smaller than `size`.
    func globalBatches(_ order: [Int], size: Int) -> [ArraySlice<Int>] {
        stride(from: 0, to: order.count, by: loader.batchSize)
            .map { order[$0..<min($0 + loader.batchSize, order.count)] }
            .filter { $0.count >= size }
    }
}
