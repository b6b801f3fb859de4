import QuantCore
import TensorEngine

/// Which accumulator-aware weight quantizer (Brevitas's A2Q line).
public enum AccumulatorAwareKind: String, Equatable, Sendable {
    /// A2Q: `‖q_c‖₁ ≤ (2^(P−1) − 1)·2^(sgn − N)`.
    case a2q
    /// A2Q+: zero-centred weights, `‖q_c‖₁ ≤ (2^P − 2) / (2^N − 1)`.
    case a2qPlus
}

extension WeightQuant {
    /// Brevitas `Int8AccumulatorAwareWeightQuant` (A2Q): signed narrow 8-bit per-channel weights
    /// in weight-norm form whose integer ℓ1 norm fits a `accumulator_bit_width`-bit accumulator
    /// (default 32) for the layer's quantized input. Set the width with
    /// `.with(\.accumulatorBitWidth, 16)` or `weight_accumulator_bit_width=16`.
    public static let int8AccumulatorAwareWeightQuant: WeightQuant = {
        var q = WeightQuant(preset: "Int8AccumulatorAwareWeightQuant")
        q.scalingPerOutputChannel = true
        q.accumulatorAware = .a2q
        return q
    }()

    /// Brevitas `Int8AccumulatorAwareZeroCenterWeightQuant` (A2Q+): as A2Q with zero-centred
    /// weights and the relaxed bound `(2^P − 2) / (2^N − 1)`.
    public static let int8AccumulatorAwareZeroCenterWeightQuant: WeightQuant = {
        var q = WeightQuant(preset: "Int8AccumulatorAwareZeroCenterWeightQuant")
        q.scalingPerOutputChannel = true
        q.accumulatorAware = .a2qPlus
        return q
    }()

    func accumulatorAwareProblems() -> [QuantConfigError.Problem] {
        guard accumulatorAware != nil else {
            if overridden.contains("accumulator_bit_width") {
                return [.init(key: "accumulator_bit_width", message: "only used by accumulator-aware quantizers (Int8AccumulatorAwareWeightQuant, Int8AccumulatorAwareZeroCenterWeightQuant)")]
            }
            return []
        }
        var problems: [QuantConfigError.Problem] = []
        if accumulatorBitWidth < 2 || accumulatorBitWidth > 64 {
            problems.append(.init(key: "accumulator_bit_width", message: "\(accumulatorBitWidth) is outside 2...64"))
        }
        if quantType != .int || !signed || !narrowRange || bitWidthImplType != .const {
            problems.append(.init(key: "quant_type", message: "accumulator-aware quantizers are signed, narrow-range integer quantizers with a constant bit width"))
        }
        return problems
    }

    /// Builds the accumulator-aware `tensor_quant` tracking `weight` (validates first).
    public func makeAccumulatorAwareQuant(weight: Tensor, context: String) throws(QuantConfigError) -> AccumulatorAwareWeightQuant {
        try validate(context: context)
        guard let kind = accumulatorAware else {
            throw QuantConfigError(context: context, problems: [.init(key: "weight_quant", message: "\(preset) is not accumulator-aware")])
        }
        return AccumulatorAwareWeightQuant(weight: weight, accumulatorBitWidth: accumulatorBitWidth, zeroCenter: kind == .a2qPlus, bitWidth: bitWidth)
    }
}
