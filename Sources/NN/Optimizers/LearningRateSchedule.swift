import Foundation

/// A learning rate as a function of the epoch (`torch.optim.lr_scheduler`), in closed form so any
/// epoch can be asked directly.
///
/// ```swift
/// let schedule = CosineAnnealingLR(tMax: 10)
/// schedule.learningRate(epoch: 5, base: 0.1)  // 0.05
/// ```
public protocol LearningRateSchedule: Sendable {
    /// The learning rate during `epoch` (0-based) for an initial rate `base`.
    func learningRate(epoch: Int, base: Double) -> Double
}

/// Multiplies the rate by `gamma` every `stepSize` epochs: `base · gamma^⌊epoch / stepSize⌋`
/// (`torch.optim.lr_scheduler.StepLR`).
public struct StepLR: LearningRateSchedule {
    public var stepSize: Int
    public var gamma: Double

    public init(stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize > 0, "StepLR: stepSize must be > 0, got \(stepSize)")
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(epoch: Int, base: Double) -> Double {
        base * Foundation.pow(gamma, Double(epoch / stepSize))
    }
}

/// Cosine annealing from `base` to `etaMin` over `tMax` epochs:
/// `etaMin + (base − etaMin) · (1 + cos(π · epoch / tMax)) / 2`
/// (`torch.optim.lr_scheduler.CosineAnnealingLR`; past `tMax` the cosine continues, rising
/// again, exactly as PyTorch's recursive form does).
public struct CosineAnnealingLR: LearningRateSchedule {
    public var tMax: Int
    public var etaMin: Double

    public init(tMax: Int, etaMin: Double = 0) {
        precondition(tMax > 0, "CosineAnnealingLR: tMax must be > 0, got \(tMax)")
        self.tMax = tMax
        self.etaMin = etaMin
    }

    public func learningRate(epoch: Int, base: Double) -> Double {
        etaMin + (base - etaMin) * (1 + Foundation.cos(Double.pi * Double(epoch) / Double(tMax))) / 2
    }
}

/// Drives an optimizer's learning rate by a schedule, one ``step()`` per epoch, like a PyTorch
/// scheduler.
///
/// ```swift
/// let scheduler = LearningRateScheduler(optimizer, StepLR(stepSize: 30))
/// for epoch in 0..<90 {
///     train(epoch)
///     scheduler.step()
/// }
/// ```
public final class LearningRateScheduler {
    public let optimizer: any Optimizer
    public let schedule: any LearningRateSchedule
    /// The optimizer's learning rate when the scheduler was made.
    public let baseLearningRate: Double
    /// Number of ``step()`` calls so far: the current epoch.
    public private(set) var epoch = 0

    public init(_ optimizer: any Optimizer, _ schedule: any LearningRateSchedule) {
        self.optimizer = optimizer
        self.schedule = schedule
        baseLearningRate = Double(optimizer.learningRate)
    }

    /// Advances one epoch and sets the optimizer's learning rate for it.
    public func step() {
        epoch += 1
        optimizer.learningRate = Float(schedule.learningRate(epoch: epoch, base: baseLearningRate))
    }
}
