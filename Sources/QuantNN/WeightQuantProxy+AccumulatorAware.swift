import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// Accumulator-aware weights (A2Q / A2Q+) read the layer's quantized input: its bit width `N`
/// and sign set the per-channel ℓ1 bound of the integer weights.
extension WeightQuantProxy {
    /// The quantized weight for the layer input `input` (the plain call for ordinary quantizers).
    /// Throws when an accumulator-aware quantizer gets an unquantized input, or when the
    /// accumulator is too narrow for any non-zero weight (`T < 1`).
    public func callAsFunction(_ w: Tensor, input: QuantValue, layer: String) throws -> QuantValue {
        guard let aq = accumulatorAware else { return self(w) }
        guard let qi = input.quantTensor, qi.bitWidth.count == 1 else {
            throw QuantLayerError.missingQuantInput(layer: layer, reason: "\(config!.preset) bounds the weights by the input bit width and sign; enable input_quant (e.g. Int8ActPerTensorFloat) or feed a per-tensor QuantTensor")
        }
        let n = Double(qi.bitWidth.item())
        let t = aq.l1Bound(inputBitWidth: n, inputSigned: qi.signed)
        guard t >= 1 else {
            throw QuantLayerError.missingQuantInput(layer: layer, reason: "accumulator_bit_width \(aq.accumulatorBitWidth) is too small for any non-zero weight with \(Int(n))-bit \(qi.signed ? "signed" : "unsigned") inputs (the l1 bound is \(t) < 1)")
        }
        let o = aq.quantize(w, inputBitWidth: n, inputSigned: qi.signed)
        return observed(.quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: true, training: training)))
    }
}

/// The worst case of a layer's integer accumulator (`README-layers`, `accumulator_bound`), from
/// its integer weights and its input's bit width and sign: exhaustive over every input in range,
/// not sampled.
///
/// Per output channel, `pos` = Σ positive integer weights, `neg` = Σ |negative| ones: the largest
/// |accumulator| is `(pos + neg)·2^(N−1)` for a signed input (every input at −2^(N−1) against
/// the weights' signs) and `max(pos, neg)·(2^N − 1)` for an unsigned one.
public struct AccumulatorBound: Equatable, Sendable {
    public let positiveSums: [Double], negativeSums: [Double]
    /// The README-layers bound recorded by the cases: `(pos + neg)·2^(N−1)` (signed input),
    /// `max(pos, neg)·(2^N − 1)` (unsigned).
    public let worstCase: [Double]
    /// The exact largest |accumulator| over every input in range: for a signed input
    /// `max(pos, neg)·2^(N−1) + min(pos, neg)·(2^(N−1) − 1)`; unsigned as `worstCase`.
    public let exactWorstCase: [Double]
    /// `2^(P−1) − 1`.
    public let limit: Double
    public var fits: Bool { worstCase.allSatisfy { $0 <= limit } }
    /// Per channel, the narrowest signed accumulator that holds the worst case:
    /// `ceil(log2(worst + 1)) + 1`.
    public var requiredBitWidths: [Int] { worstCase.map { Int((Foundation.log2($0 + 1)).rounded(.up)) + 1 } }

    /// - Parameters:
    ///   - intWeight: integer weights `[C, ...]`.
    public init(intWeight: Tensor, inputBitWidth n: Int, inputSigned: Bool, accumulatorBitWidth p: Int) {
        let c = intWeight.shape[0], per = intWeight.count / Swift.max(c, 1)
        let v = intWeight.scalars
        var pos = [Double](repeating: 0, count: c), neg = pos
        for ch in 0..<c {
            for x in v[(ch * per)..<((ch + 1) * per)] {
                if x > 0 { pos[ch] += Double(x) } else { neg[ch] -= Double(x) }
            }
        }
        positiveSums = pos
        negativeSums = neg
        worstCase = zip(pos, neg).map { inputSigned ? ($0 + $1) * pow(2, Double(n - 1)) : Swift.max($0, $1) * (pow(2, Double(n)) - 1) }
        let half = pow(2, Double(n - 1))
        exactWorstCase = zip(pos, neg).map {
            inputSigned ? Swift.max($0, $1) * half + Swift.min($0, $1) * (half - 1) : Swift.max($0, $1) * (pow(2, Double(n)) - 1)
        }
        limit = pow(2, Double(p - 1)) - 1
    }
}
