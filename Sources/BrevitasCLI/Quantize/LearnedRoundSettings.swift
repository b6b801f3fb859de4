import ArgumentParser
import PTQ

/// `--learned-round ITERS` and its options as recorded in a run's `config.json` (Brevitas's
/// `ptq_evaluate.py --learned-round hard_sigmoid --learned-round-iters ...` flags and defaults).
struct LearnedRoundSettings: Codable, Equatable {
    /// Adam steps per layer (`--learned-round-iters`, 1000 in Brevitas).
    var iterations: Int
    /// `--learned-round-lr`, 1e-3.
    var learningRate: Double = 1e-3
    /// `--learned-round-batch-size`, 1.
    var batchSize: Int = 1
    /// `--learned-round-loss`, `regularised_mse`.
    var loss: LearnedRoundOptions.Loss = .regularisedMSE
    /// `--learned-round-lr-scheduler linear`: the learning rate falls linearly to 0.
    var linearSchedule = false

    var options: LearnedRoundOptions {
        LearnedRoundOptions(iterations: iterations, learningRate: Float(learningRate), batchSize: batchSize, loss: loss,
                            linearLearningRateDecay: linearSchedule)
    }

    /// `learned round 1000`, with the options that differ from Brevitas's defaults.
    var summary: String {
        var extra: [String] = []
        if learningRate != 1e-3 { extra.append("lr \(learningRate)") }
        if batchSize != 1 { extra.append("batch \(batchSize)") }
        if loss != .regularisedMSE { extra.append(loss.rawValue) }
        if linearSchedule { extra.append("linear lr") }
        return "learned round \(iterations)" + (extra.isEmpty ? "" : " (\(extra.joined(separator: ", ")))")
    }
}

/// `--learned-round-lr-scheduler linear` (Brevitas's only choice besides none).
enum LearnedRoundSchedule: String, CaseIterable, ExpressibleByArgument {
    case linear
}

/// `--learned-round-loss regularised_mse|mse`.
extension LearnedRoundOptions.Loss: ExpressibleByArgument {}
