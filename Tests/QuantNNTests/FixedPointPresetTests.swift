import Testing
import TensorEngine
@testable import Quantizers
@testable import QuantNN

/// Brevitas's fixed-point presets with a range from `min_val` / `max_val`
/// (`Int8ActPerTensorFixedPointMinMaxInit`, `Uint8ActPerTensorFixedPointMaxInit`) and the 24-bit
/// bias (`Int24Bias`), and the shifted MX weight (`ShiftedMXUInt8Weight`); whole-layer replays against Brevitas in `ExtraFormatsCasesTests`.
@Suite struct FixedPointPresetTests {
    static func scale(_ q: ActQuant) throws -> Float {
        let l = try QuantIdentity(actQuant: q, returnQuantTensor: true)
        return try #require(try l.forward(.float(Tensor([0.1, -0.2, 0.3]))).quantTensor).scale.item()
    }

    /// The scale is `2^ceil(log2 range) / 2^(b−1)` (signed) or `/ 2^b` (unsigned); Brevitas's
    /// docstring example: `max_val = 0.5` gives `scale · 255 = 0.4980`.
    @Test func powerOfTwoScalesFromTheRange() throws {
        let u = try Self.scale(ActQuant.preset(named: "Uint8ActPerTensorFixedPointMaxInit", maxVal: 0.5)!)
        #expect(u == 1.0 / 512 && Swift.abs(u * 255 - 0.4980) < 1e-4)
        #expect(try Self.scale(ActQuant.preset(named: "Uint8ActPerTensorFixedPointMaxInit", maxVal: 0.75)!) == 1.0 / 256)
        #expect(try Self.scale(ActQuant.preset(named: "Int8ActPerTensorFixedPointMinMaxInit", minVal: -0.5, maxVal: 0.6)!) == 1.0 / 128)
        #expect(try Self.scale(ActQuant.preset(named: "Int8ActPerTensorFixedPointMinMaxInit", minVal: -3, maxVal: 0.6)!) == 4.0 / 128)
    }

    /// The ranges are required, as for the float presets.
    @Test func rangesAreRequired() {
        #expect(throws: QuantConfigError.self) { try QuantIdentity(actQuant: ActQuant.preset(named: "Int8ActPerTensorFixedPointMinMaxInit")!) }
    }

    /// `ShiftedMXUInt8Weight`: E8M0 scale over the group's min/max divided by Brevitas's
    /// power-of-two threshold 2^8 (not floor-po2(255) = 128): a group spanning [−1, 3] gets
    /// scale 4/256 = 1/64, zero point 64, and 3 clips to (255 − 64)/64 = 2.984375 (Brevitas
    /// 0.13.4 gives these numbers).
    @Test func shiftedMXScaleAndZeroPoint() throws {
        let l = try QuantLinear(32, 1, bias: false, weightQuant: .shiftedMXUInt8Weight)
        var w = [Float](repeating: 0, count: 32)
        w[0] = -1; w[1] = 3; w[2] = 0.3
        l.weight.assign(Tensor(shape: [1, 32], w))
        let q = try #require(l.quantWeight().quantTensor)
        #expect(q.scale.scalars.allSatisfy { $0 == 1.0 / 64 } && q.zeroPoint.scalars.allSatisfy { $0 == 64 })
        #expect(Array(q.value.scalars.prefix(3)) == [-1, 2.984375, 0.296875])
        #expect(WeightQuant.presetNames.contains("ShiftedMXUInt8Weight"))
    }

    @Test func names() {
        for name in ["Int8ActPerTensorFixedPointMinMaxInit", "Uint8ActPerTensorFixedPointMaxInit"] {
            #expect(ActQuant.presetNames.contains(name) && ActQuant.preset(named: name, minVal: -1, maxVal: 1)?.preset == name)
        }
        #expect(BiasQuant.preset(named: "Int24Bias")?.bitWidth == 24 && BiasQuant.presetNames.contains("Int24Bias"))
    }
}
