import TensorEngine

extension IntegerProgram {
    /// The input codes of float inputs `[N] + inputShape` (or any shape with that many elements
    /// per example): `clamp(round(x / s) + z, min, max)`, the division in float32 and rounding half
    /// to even as the model's input quantizer computes them.
    public func inputCodes(_ x: Tensor) -> IntegerTensor {
        let per = inputShape.reduce(1, *)
        precondition(x.rank >= 1 && x.count == x.shape[0] * per,
                     "IntegerProgram.inputCodes: inputs of shape \(x.shape) do not hold examples of \(inputShape)")
        let g = inputGrid
        let s = Float(g.scale)
        let (lo, hi) = (Float(g.min - g.zeroPoint), Float(g.max - g.zeroPoint))
        let codes = x.scalars.map { v -> Int64 in
            precondition(!v.isNaN, "IntegerProgram.inputCodes: NaN in the input")
            return Int64(Swift.min(Swift.max((v / s).rounded(.toNearestOrEven), lo), hi)) + g.zeroPoint
        }
        return IntegerTensor(shape: [x.shape[0]] + inputShape, codes)
    }

    /// The predicted class of each example of an output of this program (the largest logit).
    public func predictions(_ out: IntegerTensor) -> [Int] {
        switch output {
        case .codes: return IntegerExecutor.argmax(out)
        case .accumulator(let scales, _):
            if scales.count == 1 { return IntegerExecutor.argmax(out) }
            let per = out.perExample
            return (0..<out.shape[0]).map { e in
                var best = 0
                for c in 1..<per where Double(out.data[e * per + c]) * scales[c] > Double(out.data[e * per + best]) * scales[best] { best = c }
                return best
            }
        }
    }
}
