import Foundation
import Testing
import TestSupport
import NN
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// The shifted MSE presets (`ShiftedUint8WeightPerTensorFloatMSE`, `...PerChannelFloatMSE`,
/// `ShiftedUint8ActPerTensorFloatMSE`, ...): the two searches against Brevitas's recorded scale and
/// zero point (`Tests/Fixtures/formats-extra`, whole-layer replays in `ExtraFormatsCasesTests`),
/// searches with a wrong constant that those numbers reject, the activation search's memory of
/// the previous call, edge weights, names and configuration checks.
@Suite struct MSEZeroPointTests {
    static let zeroPointKey = "weight_quant.tensor_quant.zero_point_impl.value"
    static let scaleKey = "weight_quant.tensor_quant.scaling_impl.value"

    /// A recorded case's layer with its initial weight, and Brevitas's learned scale and zero
    /// point after the first forward (`steps[0].state_after`).
    static func recorded(_ name: String, _ preset: WeightQuant) throws -> (QuantWeightBiasLayer, scale: Tensor, zeroPoint: Tensor) {
        let f = try Fixture("formats-extra", name)
        let w = Fixture.t(f["initial_state"]["params"].json["weight"])
        let layer: QuantWeightBiasLayer = w.rank == 2
            ? try QuantLinear(w.shape[1], w.shape[0], bias: true, weightQuant: preset)
            : try QuantConv2d(w.shape[1], w.shape[0], kernelSize: IntOrPair(w.shape[2]), bias: true, weightQuant: preset)
        layer.weight.assign(w)
        let steps = f.json["steps"] as! [[String: Any]]
        let after = Fixture(steps[0])["state_after"]["params"]
        return (layer, after.t(scaleKey), after.t(zeroPointKey))
    }

    static func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
    }

    /// The first forward runs both searches; the learned scale and zero point are Brevitas's to
    /// float32 rounding.
    @Test(arguments: [
        ("linear_shifted_uint8_per_tensor_mse", false), ("linear_shifted_uint8_per_channel_mse", true),
        ("conv_shifted_uint8_per_tensor_mse", false), ("conv_shifted_uint8_per_channel_mse", true),
        ("linear_shifted_uint8_per_tensor_mse_edge", false), ("linear_shifted_uint8_per_channel_mse_edge", true),
        ("linear_shifted_uint8_per_channel_mse_3bit", true),
    ])
    func searchesMatchBrevitas(_ name: String, _ perChannel: Bool) throws {
        var preset: WeightQuant = perChannel ? .shiftedUint8WeightPerChannelFloatMSE : .shiftedUint8WeightPerTensorFloatMSE
        if name.hasSuffix("3bit") { preset.bitWidth = 3 }
        let (layer, scale, zeroPoint) = try Self.recorded(name, preset)
        _ = layer.quantWeight()
        let state = layer.stateDict()
        let s = try #require(state[Self.scaleKey]), z = try #require(state[Self.zeroPointKey])
        #expect(s.shape == scale.shape && z.shape == zeroPoint.shape)
        #expect(Self.maxAbsDiff(s, scale) <= 1e-6 * scale.scalars.map(Swift.abs).max()!, "\(name): scale \(s.scalars) vs \(scale.scalars)")
        #expect(Self.maxAbsDiff(z, zeroPoint) <= 1e-6 * Swift.max(zeroPoint.scalars.map(Swift.abs).max()!, 1e-3),
                "\(name): zero point \(z.scalars) vs \(zeroPoint.scalars)")
    }

    /// The recorded numbers pin down the searches: Brevitas's (scale over `|max − min|`
    /// quantizing with the initial zero point, then the zero point with the scale found)
    /// reproduces them, and each variant with one thing wrong misses them. At 3 bits on a wide
    /// weight with outliers both searches move off their starts (at 8 bits the full range and
    /// the full negative tail win on every recorded weight).
    @Test func wrongSearchesMissBrevitas() throws {
        let name = "linear_shifted_uint8_per_channel_mse_3bit"
        let (layer, refScale, refZeroPoint) = try Self.recorded(name, WeightQuant.shiftedUint8WeightPerChannelFloatMSE.with(\.bitWidth, 3))
        let w = layer.weight.detach()
        let view = w.reshape([w.shape[0], -1])
        let start = MSEZeroPointStats.negativeMinOrZero(view)
        #expect(Self.maxAbsDiff(refZeroPoint, Tensor(shape: refZeroPoint.shape, start)) > 0.1, "the recorded zero points moved off their start")
        let shift = ScaleShiftZeroPoint(intQuant: IntQuantSpec(signed: false, narrowRange: false, clampSte: false), quantize: true)
        /// Scale search then zero-point search, with the given pieces.
        func search(initOp: StatsOpModule?, zeroPointInScaleSearch: Bool, zeroPointShift: ScaleShiftZeroPoint = shift,
                    bits: Float = 3) -> (Tensor, Tensor) {
            let maxInt = Float(1 << Int(bits)) - 1
            let zp = MSEZeroPointStats(scaleShift: zeroPointShift, minInt: 0, maxInt: maxInt, clampSte: false)
            let mse = MSEStats(threshold: maxInt, scalingMinVal: 1e-10, initOp: initOp) { x, s in
                FakeQuantize.apply(x, scale: s, zeroPoint: zeroPointInScaleSearch ? zp.localLossZeroPoint(x, scale: s, bitWidth: Tensor(bits)) : Tensor(0),
                                   minInt: 0, maxInt: maxInt)
            }
            let range = mse(view)
            return (range.reshape(refScale.shape), zp.stats(view, scale: range.reshape([-1, 1]) / maxInt, bitWidth: Tensor(bits)).reshape(refZeroPoint.shape))
        }
        let m = refScale.scalars.map(Swift.abs).max()!
        let right = search(initOp: AbsMinMax(), zeroPointInScaleSearch: true)
        #expect(Self.maxAbsDiff(right.0, refScale) <= 1e-6 * m && Self.maxAbsDiff(right.1, refZeroPoint) <= 1e-6 * m)
        let wrong: [(String, (Tensor, Tensor))] = [
            ("the scale search without the zero point", search(initOp: AbsMinMax(), zeroPointInScaleSearch: false)),
            ("the scale grid over max|W|", search(initOp: nil, zeroPointInScaleSearch: true)),
            ("an unrounded zero point", search(initOp: AbsMinMax(), zeroPointInScaleSearch: true,
                                               zeroPointShift: ScaleShiftZeroPoint(intQuant: shift.intQuant, quantize: false))),
            ("4 bits", search(initOp: AbsMinMax(), zeroPointInScaleSearch: true, bits: 4)),
        ]
        for (what, (s, z)) in wrong {
            let d = Swift.max(Self.maxAbsDiff(s, refScale), Self.maxAbsDiff(z, refZeroPoint))
            #expect(d > 1e-3 * m, "a search with \(what) is within \(d) of Brevitas")
        }
    }

    /// A hand-checked weight (Brevitas 0.13.4 gives the same numbers): `|max − min| = 4` and
    /// any smaller range clips 3 or −1, so the scale is 4/255 and the zero point −1 (integer
    /// round(255/4) = 64); all-positive weights keep the zero point 0 (the only candidate); a NaN
    /// makes both NaN, as in Brevitas (NaN losses never win, `min` propagates NaN).
    @Test func handCheckedWeights() throws {
        func run(_ w: [Float]) throws -> (scale: Float, zeroPoint: Float, intZeroPoint: Float) {
            let l = try QuantLinear(3, 2, bias: false, weightQuant: .shiftedUint8WeightPerTensorFloatMSE)
            l.weight.assign(Tensor(shape: [2, 3], w))
            let q = try #require(l.quantWeight().quantTensor)
            let st = l.stateDict()
            return (st[Self.scaleKey]!.item(), st[Self.zeroPointKey]!.item(), q.zeroPoint.item())
        }
        let mixed = try run([-1, 0.5, 2, 0.5, -0.25, 3])
        #expect(mixed.scale == 4 && mixed.zeroPoint == -1 && mixed.intZeroPoint == 64)
        let positive = try run([1, 0.5, 2, 0.5, 0.25, 3])
        #expect(positive.scale == 3 && positive.zeroPoint == 0 && positive.intZeroPoint == 0)
        let nan = try run([1, .nan, -2, 0.5, -0.25, 3])
        #expect(nan.scale.isNaN && nan.zeroPoint.isNaN)
    }

    /// Zero-range and all-zero weights: finite scale and zero point, exact reconstruction of
    /// zeros, finite gradients.
    @Test(arguments: [true, false])
    func zeroRangeWeights(_ perChannel: Bool) throws {
        let preset: WeightQuant = perChannel ? .shiftedUint8WeightPerChannelFloatMSE : .shiftedUint8WeightPerTensorFloatMSE
        for rows in [[Float(0.3), 0], [0.3, 0.3], [0, 0], [-0.7, -0.7]] {
            let layer = try QuantLinear(5, 2, bias: false, weightQuant: preset)
            layer.weight.assign(Tensor(shape: [2, 5], rows.flatMap { [Float](repeating: $0, count: 5) }))
            let y = try layer.forward(.float(RandomGenerator(seed: 3).normal([4, 5]))).value
            y.sum().backward()
            let q = try #require(layer.quantWeight().quantTensor)
            #expect(q.scale.scalars.allSatisfy { $0.isFinite && $0 > 0 } && q.zeroPoint.scalars.allSatisfy(\.isFinite), "\(rows)")
            #expect(y.scalars.allSatisfy(\.isFinite) && (layer.weight.grad?.scalars.allSatisfy(\.isFinite) ?? false), "\(rows)")
            for (a, b) in zip(q.value.scalars, layer.weight.scalars) where b == 0 { #expect(a == 0, "\(rows)") }
        }
    }

    /// Brevitas's `internal_candidate`: the scale search of an activation quantizer quantizes
    /// with the previous call's best zero point, not with this input's minimum; the first call
    /// uses the input's `min(min(x), 0)`.
    @Test func scaleSearchRemembersThePreviousZeroPoint() {
        let shift = ScaleShiftZeroPoint(intQuant: IntQuantSpec(signed: false, narrowRange: false, clampSte: false), quantize: true)
        let zp = MSEZeroPointStats(scaleShift: shift, minInt: 0, maxInt: 255, clampSte: false)
        let a = Tensor([-2, 0.5, 1, 3, -0.1, 0.7]), b = Tensor([-0.5, 4, 1])
        let s = Tensor(0.02)
        // First ask: the input's own start, −min = 2 → round(2 / 0.02) = 100.
        #expect(zp.localLossZeroPoint(a.reshape([1, -1]), scale: s, bitWidth: Tensor(8)).item() == 100)
        let best = zp.stats(a, scale: s, bitWidth: Tensor(8)).item()
        #expect(best < 0 && best >= -2)
        // Next call, another input: still a's search result, not b's minimum −0.5.
        let next = zp.localLossZeroPoint(b.reshape([1, -1]), scale: s, bitWidth: Tensor(8)).item()
        #expect(next == (Swift.abs(best) / 0.02).rounded(.toNearestOrEven))
        #expect(next != 25)
    }

    /// The zero-point grid runs from `min(min(x), 0)` to a twentieth of it: on `[−1, 0, ..., 0]`
    /// with a step of 1/255 the exact start wins; with nothing negative the only candidate is 0.
    @Test func zeroPointGrid() {
        let shift = ScaleShiftZeroPoint(intQuant: IntQuantSpec(signed: false, narrowRange: false, clampSte: false), quantize: true)
        let zp = MSEZeroPointStats(scaleShift: shift, minInt: 0, maxInt: 255, clampSte: false)
        #expect(zp.stats(Tensor([-1, 0, 0, 0]), scale: Tensor(1.0 / 255), bitWidth: Tensor(8)).item() == -1)
        #expect(zp.stats(Tensor([0.5, 2]), scale: Tensor(0.01), bitWidth: Tensor(8)).item() == 0)
        let rows = zp.stats(Tensor(shape: [2, 2], [-1, 0, 0.5, 2]), scale: Tensor(shape: [2, 1], [1.0 / 255, 0.01]), bitWidth: Tensor(8))
        #expect(rows.shape == [2] && rows.scalars == [-1, 0])
    }

    /// Every preset name of these families resolves by Brevitas's name, with Brevitas's state
    /// keys and shapes.
    @Test func presetsAndStateKeys() throws {
        for name in ["ShiftedUint8WeightPerTensorFloatMSE", "ShiftedUint8WeightPerChannelFloatMSE",
                     "Int8WeightPerTensorFixedPointMSE", "Int8WeightPerChannelFixedPointMSE"] {
            #expect(WeightQuant.preset(named: name)?.preset == name && WeightQuant.presetNames.contains(name))
        }
        for name in ["ShiftedUint8ActPerTensorFloatMSE", "ShiftedUint8ActPerTensorFixedPointMSE", "ShiftedUint8ActPerTensorFixedPoint",
                     "Uint8ActPerTensorFloatMSE", "Int8ActPerTensorFixedPointMSE", "Uint8ActPerTensorFixedPointMSE"] {
            #expect(ActQuant.preset(named: name)?.preset == name && ActQuant.presetNames.contains(name))
        }
        #expect(WeightQuant.preset(named: "ShiftedUint8WeightPerGroupFloatMSE") == nil)
        let linear = try QuantLinear(6, 3, bias: false, weightQuant: .shiftedUint8WeightPerChannelFloatMSE)
        #expect(Set(linear.stateDict().keys) == ["weight", Self.scaleKey, Self.zeroPointKey])
        #expect(linear.stateDict()[Self.zeroPointKey]?.shape == [3, 1] && linear.stateDict()[Self.scaleKey]?.shape == [3, 1])
        let tensor = try QuantConv2d(2, 4, kernelSize: 3, weightQuant: .shiftedUint8WeightPerTensorFloatMSE)
        #expect(tensor.stateDict()[Self.zeroPointKey]?.shape == [])
    }

    /// The MSE zero point initialises a learned zero point of an integer quantizer with a
    /// constant bit width, and is not combined with HQO.
    @Test func configurationChecks() {
        func keys(_ q: WeightQuant) -> [String] {
            do { _ = try QuantLinear(8, 2, weightQuant: q); return [] } catch { return error.problems.map(\.key) }
        }
        #expect(keys(.shiftedUint8WeightPerTensorFloatMSE).isEmpty)
        #expect(keys(.shiftedUint8WeightPerTensorFloatMSE.with(\.zeroPointImplType, .stats)) == ["zero_point_impl"])
        #expect(keys(.shiftedUint8WeightPerTensorFloatMSE.with(\.zeroPointHQO, true)).contains("zero_point_impl"))
        #expect(keys(.shiftedUint8WeightPerTensorFloatMSE.with(\.bitWidthImplType, .parameter)) == ["bit_width_impl_type"])
        func actKeys(_ q: ActQuant) -> [String] {
            do { _ = try q.makeTensorQuant(context: "act"); return [] } catch { return error.problems.map(\.key) }
        }
        #expect(actKeys(.shiftedUint8ActPerTensorFloatMSE).isEmpty)
        #expect(actKeys(.uint8ActPerTensorFloatMSE.with(\.zeroPointMSE, true)) == ["zero_point_impl"])
    }
}
