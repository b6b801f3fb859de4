import Distributed
import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine

/// What happened in one epoch of training.
struct EpochResult: Codable, Equatable {
    /// `"float"` (float pre-training) or `"qat"` (quantization-aware training).
    var phase: String
    /// 1-based within the phase.
    var epoch: Int
    /// Mean training loss over the epoch's batches.
    var loss: Double
    /// Accuracy on the training batches as they were seen (training mode).
    var trainAccuracy: Double
    /// Accuracy on the test split in evaluation mode after the epoch.
    var testAccuracy: Double
    /// Mean loss on the test split.
    var testLoss: Double
    var learningRate: Double
    /// Wall-clock seconds of the epoch's training (not the evaluation).
    var seconds: Double
    var samplesPerSecond: Double
}

/// Where an epoch is, for the progress display.
struct BatchProgress {
    var phase: String
    var epoch: Int, epochs: Int
    var batch: Int, batches: Int
    /// Running mean loss and accuracy of the epoch so far.
    var loss: Double, accuracy: Double
    var samples: Int
    var elapsed: Double
}

/// Trains a model one epoch at a time: cross-entropy loss, the chosen optimizer, a cosine
/// learning-rate schedule over the phase, evaluation on the test split after each epoch.
///
/// `shouldStop` is checked between batches (the SIGINT flag in the command, a closure in tests):
/// when it returns true the epoch is abandoned and ``runEpoch(_:)`` returns `nil`, so the caller
/// keeps the last complete checkpoint.
final class Trainer {
    /// The module trained (its parameters, its train/eval mode).
    let model: Module
    /// Its logits for a batch of inputs.
    let forward: (Tensor) throws -> Tensor
    let data: DataSplits
    let loader: DataLoader<TensorDataset>
    let optimizer: any Optimizer
    let schedule: CosineAnnealingLR
    let baseLearningRate: Float
    let epochs: Int
    let phase: String
    var shouldStop: () -> Bool = { false }
    var onBatch: (BatchProgress) -> Void = { _ in }
    /// Data parallelism over MPI ranks (`--distributed`); `nil` trains on the whole batch here.
    var parallel: DataParallel?

    convenience init(model: QuantSequential, data: DataSplits, phase: String, epochs: Int, batchSize: Int,
                     optimizer: OptimizerChoice, learningRate: Float, seed: UInt64) {
        self.init(module: model, forward: { try model($0) }, data: data, phase: phase, epochs: epochs, batchSize: batchSize,
                  optimizer: optimizer, learningRate: learningRate, seed: seed)
    }

    /// A trainer of any classifier: `forward` gives `module`'s logits.
    init(module model: Module, forward: @escaping (Tensor) throws -> Tensor, data: DataSplits, phase: String, epochs: Int,
         batchSize: Int, optimizer: OptimizerChoice, learningRate: Float, seed: UInt64) {
        self.model = model
        self.forward = forward
        self.data = data
        self.phase = phase
        self.epochs = epochs
        loader = DataLoader(data.train, batchSize: batchSize, shuffle: true, seed: seed)
        self.optimizer = optimizer.make(model.parameters(), learningRate: learningRate)
        schedule = CosineAnnealingLR(tMax: max(epochs, 1))
        baseLearningRate = learningRate
    }

    /// Runs `steps` forward passes in training mode without updating any weight, so the
    /// activation quantizers collect their statistics, then ends collection everywhere (the
    /// collected ranges become the learned parameters). Returns false if interrupted.
    @discardableResult
    func calibrate(steps: Int) throws -> Bool {
        guard steps > 0 else { return true }
        if let parallel { return try calibrate(steps: steps, parallel) }
        model.train()
        let batches = loader.batches(epoch: 0)
        for step in 0..<steps {
            if shouldStop() { return false }
            let batch = batches[step % batches.count]
            _ = try Autograd.noGrad { try forward(batch.inputs) }
        }
        Self.finishCollection(model)
        return true
    }

    /// Ends statistics collection in every quantizer of `model`.
    static func finishCollection(_ model: Module) {
        for case let collector as StatsCollecting in model.modules() { collector.finishCollection() }
    }

    /// Trains epoch `epoch` (0-based) and evaluates; `nil` when `shouldStop` interrupted it.
    func runEpoch(_ epoch: Int) throws -> EpochResult? {
        let lr = schedule.learningRate(epoch: epoch, base: Double("\(baseLearningRate)") ?? Double(baseLearningRate))
        optimizer.learningRate = Float(lr)
        if let parallel { return try runEpoch(epoch, learningRate: lr, parallel) }
        model.train()
        let batches = loader.batches(epoch: epoch)
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0
        for (i, batch) in batches.enumerated() {
            if shouldStop() { return nil }
            optimizer.zeroGrad()
            let logits = try forward(batch.inputs)
            let loss = Tensor.crossEntropy(logits, targets: batch.labels)
            loss.backward()
            optimizer.step()
            let l = Double(loss.item())
            guard l.isFinite else {
                throw CLIError("the training loss became \(l) in \(phase) epoch \(epoch + 1), batch \(i + 1); try a smaller --lr")
            }
            lossSum += l * Double(batch.count)
            correct += Self.correctCount(logits, batch.labels)
            seen += batch.count
            onBatch(BatchProgress(phase: phase, epoch: epoch + 1, epochs: epochs, batch: i + 1, batches: batches.count,
                                  loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                  samples: seen, elapsed: Date().timeIntervalSince(start)))
        }
        return try result(epoch: epoch, lossSum: lossSum, correct: correct, seen: seen, learningRate: lr,
                          seconds: Date().timeIntervalSince(start))
    }

    /// The epoch's result from its training figures, with the evaluation on the test split.
    func result(epoch: Int, lossSum: Double, correct: Int, seen: Int, learningRate lr: Double, seconds: Double) throws -> EpochResult {
        let test = try Self.evaluate(module: model, forward: forward, data.test)
        return EpochResult(phase: phase, epoch: epoch + 1, loss: lossSum / Double(max(seen, 1)),
                           trainAccuracy: Double(correct) / Double(max(seen, 1)), testAccuracy: test.accuracy,
                           testLoss: test.loss, learningRate: lr, seconds: seconds,
                           samplesPerSecond: Double(seen) / max(seconds, 1e-9))
    }

    /// Accuracy and mean loss of `model` on `data` in evaluation mode (batches of 500).
    static func evaluate(_ model: QuantSequential, _ data: TensorDataset) throws -> (accuracy: Double, loss: Double) {
        try evaluate(module: model, forward: { try model($0) }, data)
    }

    /// Accuracy and mean loss of the classifier `forward` (of `model`) on `data` in evaluation mode.
    static func evaluate(module model: Module, forward: (Tensor) throws -> Tensor, _ data: TensorDataset) throws -> (accuracy: Double, loss: Double) {
        let wasTraining = model.training
        model.eval()
        defer { model.train(wasTraining) }
        var correct = 0, lossSum = 0.0
        let loader = DataLoader(data, batchSize: 500)
        try Autograd.noGrad {
            for batch in loader.batches(epoch: 0) {
                let logits = try forward(batch.inputs)
                lossSum += Double(Tensor.crossEntropy(logits, targets: batch.labels, reduction: .sum).item())
                correct += correctCount(logits, batch.labels)
            }
        }
        return (Double(correct) / Double(data.count), lossSum / Double(data.count))
    }

    static func correctCount(_ logits: Tensor, _ labels: [Int]) -> Int {
        let predicted = Autograd.noGrad { logits.argmax(dim: 1) }.scalars
        return zip(predicted, labels).reduce(0) { $0 + (Int($1.0) == $1.1 ? 1 : 0) }
    }
}
