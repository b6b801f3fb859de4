import QuantCore

/// How ``learnedRoundMode(_:batches:options:progress:)`` trains the rounding: Brevitas's
/// `ptq_evaluate.py --learned-round hard_sigmoid` flags and their defaults
/// (`ptq_imagenet_args.py`, `learned_round_utils.parse_args_to_dataclass`).
///
/// | field | Brevitas flag | default |
/// |---|---|---|
/// | `iterations` | `--learned-round-iters` | 1000 per layer |
/// | `learningRate` | `--learned-round-lr` | 1e-3 (Adam) |
/// | `batchSize` | `--learned-round-batch-size` | 1 |
/// | `loss` | `--learned-round-loss` | `regularised_mse` |
/// | `linearLearningRateDecay` | `--learned-round-lr-scheduler linear` | off |
///
/// The regulariser keeps Brevitas's constants (``RoundRegularisation``: weight 0.01, annealing
/// over 1000 calls whatever `iterations` is), which its example does not expose either.
public struct LearnedRoundOptions: Equatable, Sendable {
    /// What each iteration minimises.
    public enum Loss: String, CaseIterable, Codable, Sendable {
        /// `round_reg` + `mse(reduction='none').sum(1).mean()`: the squared error summed over
        /// channels (dimension 1), averaged over the rest, plus the rounding regulariser.
        case regularisedMSE = "regularised_mse"
        /// `F.mse_loss`: the squared error averaged over every element, no regulariser.
        case mse
    }

    /// Adam steps per layer.
    public var iterations = 1000
    /// Adam's learning rate.
    public var learningRate: Float = 1e-3
    /// Cached examples per step, drawn uniformly with replacement (Brevitas's `RandomSampler`).
    public var batchSize = 1
    public var loss = Loss.regularisedMSE
    /// `LinearLR(start_factor=1, end_factor=0, total_iters=iterations)`: step `i` (0-based) uses
    /// `learningRate · (1 − i/iterations)`.
    public var linearLearningRateDecay = false
    /// Seed of the sampler of cached examples.
    public var seed: UInt64 = 0
    /// The parameterisation of the rounding offsets.
    public var hardSigmoid = LearnedRoundHardSigmoid()
    /// The regulariser's weight (Brevitas's `RoundRegularisationLoss(weight=0.01)`).
    public var regularisationWeight = 0.01

    public init(iterations: Int = 1000, learningRate: Float = 1e-3, batchSize: Int = 1, loss: Loss = .regularisedMSE,
                linearLearningRateDecay: Bool = false, seed: UInt64 = 0) {
        self.iterations = iterations
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.loss = loss
        self.linearLearningRateDecay = linearLearningRateDecay
        self.seed = seed
    }

    /// Every problem with the values, with the flag names of `brevitas quantize`.
    public func problems() -> [String] {
        var out: [String] = []
        if iterations < 1 { out.append("--learned-round takes the number of iterations per layer, >= 1 (Brevitas uses 1000), got \(iterations)") }
        if !(learningRate.isFinite && learningRate > 0) { out.append("--learned-round-lr must be a positive number (Brevitas uses 1e-3), got \(learningRate)") }
        if batchSize < 1 { out.append("--learned-round-batch-size must be >= 1, got \(batchSize)") }
        return out
    }

    /// The learning rate of step `i` (0-based).
    func learningRate(at i: Int) -> Float {
        linearLearningRateDecay ? learningRate * (1 - Float(i) / Float(iterations)) : learningRate
    }
}
