import NN
import TensorEngine

/// A narrow accumulator in the fake-quantized forward of a quantized convolution or linear
/// layer (issues 524 and 766 of Brevitas): the integer accumulator
/// `acc = round(out / (s_in · s_w) + z)` is limited to `bits` signed bits, by wrapping (two's
/// complement, what integer hardware does) or saturating, and the layer continues with
/// `out + (acc' − acc) · s_in · s_w`. The gradient passes straight through (the correction is a constant),
/// so quantization-aware training sees the overflow in the forward pass only.
///
/// | bits | overflow | acc = 130 | acc = −129 |
/// |------|----------|-----------|------------|
/// | 8    | wrap     | −126      | 127        |
/// | 8    | saturate | 127       | −128       |
///
/// The counters (`elements`, `overflows`, `largest`) accumulate over forwards until ``reset()``.
/// Only layers whose input and weight are integer-quantized with zero point 0 (an accumulator
/// with integer metadata) are simulated.
public final class AccumulatorSimulation: @unchecked Sendable {
    public enum Overflow: String, CaseIterable, Sendable { case wrap, saturate }

    public let bits: Int
    public let overflow: Overflow
    /// Accumulator elements seen, those outside the signed `bits` range, and the largest `|acc|`.
    public private(set) var elements = 0, overflows = 0
    public private(set) var largest: Int64 = 0

    public init(bits: Int, overflow: Overflow) {
        precondition((2...62).contains(bits), "AccumulatorSimulation: bits must be in 2...62, got \(bits)")
        self.bits = bits
        self.overflow = overflow
    }

    public func reset() { (elements, overflows, largest) = (0, 0, 0) }

    /// `acc` limited to the signed range of `bits` bits.
    public func limit(_ acc: Int64) -> Int64 {
        let lo = -(Int64(1) << (bits - 1)), hi = (Int64(1) << (bits - 1)) - 1
        guard acc < lo || acc > hi else { return acc }
        switch overflow {
        case .saturate: return acc < lo ? lo : hi
        case .wrap:
            let m = Int64(1) << bits
            let r = (acc - lo) % m
            return (r < 0 ? r + m : r) + lo
        }
    }

    /// The layer output with its accumulator limited; `scale`, `zeroPoint` broadcast against `out`.
    /// Elements that do not overflow are returned unchanged; an overflowing one moves by
    /// `(acc' − acc) · scale`.
    func apply(_ out: Tensor, scale: Tensor, zeroPoint: Tensor) -> Tensor {
        let acc = Autograd.noGrad { (out / scale + zeroPoint).rounded() }
        var delta = [Float](repeating: 0, count: acc.count)
        var any = false
        for (i, v) in acc.scalars.enumerated() {
            let a = Int64(v)
            let l = limit(a)
            if l != a {
                overflows += 1
                delta[i] = Float(l - a)
                any = true
            }
            largest = Swift.max(largest, Swift.abs(a))
        }
        elements += acc.count
        guard any else { return out }
        return out + Autograd.noGrad { Tensor(shape: acc.shape, delta) * scale }
    }
}
