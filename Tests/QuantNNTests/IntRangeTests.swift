import Testing
import NN
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// `IntRange` against Brevitas's `min_int` / `max_int` / `IntScaling` / `PowerOfTwoIntScaling`
/// (brevitas/function/ops.py, brevitas/core/scaling/int_scaling.py), written out by hand.
@Suite struct IntRangeTests {
    /// (bits, signed, narrow) → (minInt, maxInt, IntScaling threshold, PowerOfTwoIntScaling threshold).
    static let table: [(Int, Bool, Bool, Double, Double, Double, Double)] = [
        (1, true, false, -1, 0, 1, 1),
        (1, false, false, 0, 1, 1, 2),
        (2, true, false, -2, 1, 2, 2),
        (2, true, true, -1, 1, 1, 2),
        (2, false, false, 0, 3, 3, 4),
        (2, false, true, 0, 2, 2, 4),
        (3, true, true, -3, 3, 3, 4),
        (3, false, true, 0, 6, 6, 8),
        (4, true, false, -8, 7, 8, 8),
        (4, true, true, -7, 7, 7, 8),
        (4, false, false, 0, 15, 15, 16),
        (4, false, true, 0, 14, 14, 16),
        (8, true, false, -128, 127, 128, 128),
        (8, true, true, -127, 127, 127, 128),
        (8, false, false, 0, 255, 255, 256),
        (8, false, true, 0, 254, 254, 256),
        (16, true, true, -32767, 32767, 32767, 32768),
        (16, false, true, 0, 65534, 65534, 65536),
        (32, true, false, -2_147_483_648, 2_147_483_647, 2_147_483_648, 2_147_483_648),
        (32, false, false, 0, 4_294_967_295, 4_294_967_295, 4_294_967_296),
        (32, false, true, 0, 4_294_967_294, 4_294_967_294, 4_294_967_296),
    ]

    @Test(arguments: table.indices)
    func scalarRangeMatchesBrevitas(_ i: Int) {
        let (bits, signed, narrow, lo, hi, t, p2) = Self.table[i]
        let r = IntRange(bitWidth: bits, signed: signed, narrowRange: narrow)
        #expect(r.minInt == lo, "\(r)")
        #expect(r.maxInt == hi, "\(r)")
        #expect(r.threshold == t, "\(r)")
        #expect(r.powerOfTwoThreshold == p2, "\(r)")
        #expect(r.threshold(powerOfTwo: false) == t && r.threshold(powerOfTwo: true) == p2, "\(r)")
        #expect(r.integerBounds == (Int64(lo), Int64(hi)), "\(r)")
        #expect(r.contains(lo) && r.contains(hi) && !r.contains(lo - 1) && !r.contains(hi + 1), "\(r)")
    }

    /// The tensor forms (learned bit widths) give the same numbers as the scalar one.
    @Test(arguments: table.indices)
    func tensorRangeMatchesScalar(_ i: Int) {
        let (bits, signed, narrow, lo, hi, t, p2) = Self.table[i]
        let b = Tensor(Float(bits))
        #expect(IntRange.minInt(b, signed: signed, narrowRange: narrow).item() == Float(lo))
        #expect(IntRange.maxInt(b, signed: signed, narrowRange: narrow).item() == Float(hi))
        #expect(IntRange.threshold(b, signed: signed, narrowRange: narrow, powerOfTwo: false).item() == Float(t))
        #expect(IntRange.threshold(b, signed: signed, narrowRange: narrow, powerOfTwo: true).item() == Float(p2))
    }

    /// A quantizer's fused-kernel bounds and threshold come from its range.
    @Test func quantizerUsesItsRange() throws {
        let unsignedNarrow = ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.narrowRange, true)
        #expect(unsignedNarrow.intRange.bounds == (0, 14))
        let layer = try QuantIdentity(actQuant: unsignedNarrow, returnQuantTensor: true)
        let tq = try #require(layer.actQuant.tensorQuant as? RescalingIntQuant)
        #expect(tq.intRange == IntRange(bitWidth: 4, signed: false, narrowRange: true))
        #expect(tq.threshold == 14)
        let x = Tensor(shape: [6], [-1, 0, 0.5, 1, 2, 100])
        let codes = try layer.quant(x).int().scalars
        #expect(codes.min() == 0 && codes.max() == 14, "codes \(codes)")
    }

    @Test func describesItself() {
        #expect(IntRange(bitWidth: 4, signed: false, narrowRange: true).description == "4-bit unsigned narrow [0, 14]")
        #expect(IntRange(bitWidth: 8, signed: true, narrowRange: false).description == "8-bit signed [-128, 127]")
    }
}
