import Foundation
import Testing
import TestSupport
import NN
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// The per-channel and per-tensor HQO weight zero points (`ShiftedUint8WeightPerChannelFloatHQO`,
/// `ShiftedUint8WeightPerTensorFloatHQO`): the search against Brevitas's recorded zero points
/// (`Tests/Fixtures/formats-extra`, whole-layer replays in `ExtraFormatsCasesTests`), solvers
/// with a wrong parameter that those numbers reject, edge weights, and configuration checks.
@Suite struct HQOWeightZeroPointTests {
    static let key = "weight_quant.tensor_quant.zero_point_impl.value"

    /// A recorded case's layer with its initial weight, and Brevitas's zero point after the first
    /// forward (`steps[0].state_after`).
    static func recorded(_ name: String, _ preset: WeightQuant) throws -> (QuantWeightBiasLayer, Tensor) {
        let f = try Fixture("formats-extra", name)
        let w = Fixture.t(f["initial_state"]["params"].json["weight"])
        let layer: QuantWeightBiasLayer = w.rank == 2
            ? try QuantLinear(w.shape[1], w.shape[0], bias: true, weightQuant: preset)
            : try QuantConv2d(w.shape[1], w.shape[0], kernelSize: IntOrPair(w.shape[2]), bias: true, weightQuant: preset)
        layer.weight.assign(w)
        let steps = f.json["steps"] as! [[String: Any]]
        let ref = Fixture(steps[0])["state_after"]["params"].t(key)
        return (layer, ref)
    }

    static func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
    }

    /// The layer's first forward runs the search; its `value` is Brevitas's to float32 rounding
    /// (within 1e-6 of the largest zero point: ours sums in torch's order).
    @Test(arguments: [
        ("linear_shifted_uint8_per_channel_hqo", true), ("linear_shifted_uint8_per_tensor_hqo", false),
        ("conv_shifted_uint8_per_tensor_hqo", false), ("linear_shifted_uint8_per_channel_hqo_large", true),
        ("linear_shifted_uint8_per_tensor_hqo_large", false), ("linear_shifted_uint8_per_channel_hqo_edge", true),
        ("linear_shifted_uint8_per_tensor_hqo_edge", false), ("linear_shifted_uint8_per_channel_hqo_positive", true),
    ])
    func searchMatchesBrevitas(_ name: String, _ perChannel: Bool) throws {
        let preset: WeightQuant = perChannel ? .shiftedUint8WeightPerChannelFloatHQO : .shiftedUint8WeightPerTensorFloatHQO
        let (layer, ref) = try Self.recorded(name, preset)
        _ = layer.quantWeight()
        let got = try #require(layer.stateDict()[Self.key])
        #expect(got.shape == ref.shape)
        let m = ref.scalars.map(Swift.abs).max()!
        #expect(Self.maxAbsDiff(got, ref) <= 1e-6 * Swift.max(m, 1e-3), "\(name): \(got.scalars) vs \(ref.scalars)")
    }

    /// The recorded numbers pin down every constant of the solver: the right one reproduces them
    /// to 1e-6 of the largest zero point, and each solver with one wrong parameter misses them by
    /// more than 1e-5 of it, on the per-tensor search that runs 278 iterations and the
    /// per-channel one that runs 38. (Some miss by less than the replay's slack for HQO cases,
    /// `Tolerance.hqo · max|ref|` = 5e-4: `ExtraFormatsCasesTests` also replays the cases
    /// without it.)
    @Test(arguments: ["linear_shifted_uint8_per_tensor_hqo_large", "linear_shifted_uint8_per_channel_hqo_large"])
    func wrongSolversMissBrevitas(_ name: String) throws {
        let perChannel = name.contains("per_channel")
        let (layer, ref) = try Self.recorded(name, perChannel ? .shiftedUint8WeightPerChannelFloatHQO : .shiftedUint8WeightPerTensorFloatHQO)
        let q = try #require(layer.quantWeight().quantTensor)
        let w = layer.weight.detach()
        let view = perChannel ? w.reshape([w.shape[0], -1]) : w.reshape([-1])
        let s = perChannel ? q.scale.reshape([-1, 1]) : q.scale.reshape([])
        func search(_ hqo: HQOZeroPointStats) -> Tensor { hqo.stats(view, scale: s, bitWidth: Tensor(8)).reshape(ref.shape) }
        let m = ref.scalars.map(Swift.abs).max()!
        #expect(Self.maxAbsDiff(search(HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated)), ref) <= 1e-6 * m)
        let slack = 1e-5 * m
        let wrong: [(String, HQOZeroPointStats)] = [
            ("one iteration", HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated, iterations: 1)),
            ("beta 10", HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated, beta: 10)),
            ("kappa 1 (beta fixed)", HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated, kappa: 1)),
            ("kappa 1.05", HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated, kappa: 1.05)),
            ("L1 shrinkage", HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated, lpNorm: 1)),
            ("L0.7 shrinkage", HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated, lpNorm: 0.7)),
            ("signed range", HQOZeroPointStats(minInt: -128, maxInt: 127, shift: .negated)),
        ]
        for (what, hqo) in wrong {
            let d = Self.maxAbsDiff(search(hqo), ref)
            #expect(d > slack, "\(name): a solver with \(what) is within \(d) of Brevitas (slack \(slack))")
        }
    }

    /// Weights search with the zero point `−c`, activations with `|c|`: on two all-positive rows
    /// the first candidate is positive and improves the loss, so Brevitas keeps it
    /// (`zero_point_impl.value` = [1.4922582e-4, 3.646946e-2], recorded by
    /// `gen_formats_extra.py`); searching with `|c|` would reject it and keep 0.
    @Test func weightSearchNegatesTheCandidate() throws {
        let (layer, ref) = try Self.recorded("linear_shifted_uint8_per_channel_hqo_positive", .shiftedUint8WeightPerChannelFloatHQO)
        #expect(Self.maxAbsDiff(ref, Tensor(shape: [2, 1], [1.4922582e-4, 3.646946e-2])) < 1e-9)
        let q = try #require(layer.quantWeight().quantTensor)
        let view = layer.weight.detach(), s = q.scale.reshape([-1, 1])
        let negated = HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated).stats(view, scale: s, bitWidth: Tensor(8))
        let absolute = HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .absolute).stats(view, scale: s, bitWidth: Tensor(8))
        #expect(Self.maxAbsDiff(negated, ref.reshape([2])) <= 1e-9)
        #expect(absolute.scalars == [0, 0])
    }

    /// Zero-range weights: a constant row (scale `0.3 / 255`), an all-zero row (scale at its
    /// floor) and a constant tensor. The search ends at once with finite zero points, the
    /// quantized weight is within half a step of the weight (exactly 0 for the zero row), and
    /// the gradients are finite.
    @Test(arguments: [true, false])
    func zeroRangeWeights(_ perChannel: Bool) throws {
        let preset: WeightQuant = perChannel ? .shiftedUint8WeightPerChannelFloatHQO : .shiftedUint8WeightPerTensorFloatHQO
        for rows in [[Float(0.3), 0], [0.3, 0.3], [0, 0], [-0.7, -0.7]] {
            let layer = try QuantLinear(5, 2, bias: false, weightQuant: preset)
            layer.weight.assign(Tensor(shape: [2, 5], rows.flatMap { [Float](repeating: $0, count: 5) }))
            let x = RandomGenerator(seed: 3).normal([4, 5])
            let y = try layer.forward(.float(x)).value
            y.sum().backward()
            let q = try #require(layer.quantWeight().quantTensor)
            let value = try #require(layer.stateDict()[Self.key])
            let finiteZeroPoint = value.scalars.allSatisfy { $0.isFinite }
            let finiteOutputs = q.value.scalars.allSatisfy { $0.isFinite } && y.scalars.allSatisfy { $0.isFinite }
            let finiteGrad = layer.weight.grad?.scalars.allSatisfy { $0.isFinite } ?? false
            #expect(finiteZeroPoint, "\(rows): zero point \(value.scalars)")
            #expect(finiteOutputs && finiteGrad, "\(rows)")
            let steps = q.scale.reshape([-1]).scalars
            for (i, (a, b)) in zip(q.value.scalars, layer.weight.scalars).enumerated() {
                let step = steps.count == 1 ? steps[0] : steps[i / 5]
                #expect(Swift.abs(a - b) <= step / 2 * 1.0001, "\(rows): \(a) for \(b) (step \(step))")
                if b == 0 && perChannel { #expect(a == 0) }
            }
        }
    }

    /// Rows without elements search nothing: zero points 0, no trap.
    @Test func emptyRows() {
        let hqo = HQOZeroPointStats(minInt: 0, maxInt: 255, shift: .negated)
        let z = hqo.stats(Tensor(shape: [3, 0], []), scale: Tensor(shape: [3, 1], [1, 1, 1]), bitWidth: Tensor(8))
        #expect(z.shape == [3] && z.scalars == [0, 0, 0])
    }

    /// The presets by Brevitas's names, with Brevitas's state keys and shapes: `[]` per tensor,
    /// the scale's shape per channel (`[C, 1]` linear, `[C, 1, 1, 1]` convolution).
    @Test func presetsAndStateKeys() throws {
        for name in ["ShiftedUint8WeightPerTensorFloatHQO", "ShiftedUint8WeightPerChannelFloatHQO"] {
            #expect(WeightQuant.preset(named: name)?.preset == name)
            #expect(WeightQuant.presetNames.contains(name))
        }
        let linear = try LayerFactory.make(className: "QuantLinear", kwargs: [
            "in_features": .number(6), "out_features": .number(3), "bias": .bool(false),
            "weight_quant": .quantizer("ShiftedUint8WeightPerChannelFloatHQO"),
        ]).module
        #expect(Set(linear.stateDict().keys) == ["weight", Self.key])
        #expect(linear.stateDict()[Self.key]?.shape == [3, 1])
        let conv = try QuantConv2d(2, 4, kernelSize: 3, weightQuant: .shiftedUint8WeightPerChannelFloatHQO)
        #expect(conv.stateDict()[Self.key]?.shape == [4, 1, 1, 1])
        let tensor = try QuantConv2d(2, 4, kernelSize: 3, weightQuant: .shiftedUint8WeightPerTensorFloatHQO)
        #expect(tensor.stateDict()[Self.key]?.shape == [])
        // The symmetric per-tensor HQO scale: a learned scale of shape [], no zero point.
        #expect(WeightQuant.preset(named: "Int8WeightPerTensorFloatHQO")?.preset == "Int8WeightPerTensorFloatHQO")
        let scaled = try QuantLinear(6, 3, bias: false, weightQuant: .int8WeightPerTensorFloatHQO)
        #expect(Set(scaled.stateDict().keys) == ["weight", "weight_quant.tensor_quant.scaling_impl.value"])
        #expect(scaled.stateDict()["weight_quant.tensor_quant.scaling_impl.value"]?.shape == [])
    }

    /// A per-channel 4-d weight (which Brevitas 0.13.4 cannot search) uses each channel's own
    /// scale: the same zero points as the equivalent linear weight `[C, Cin·k·k]`.
    @Test func convolutionRowsSearchWithTheirOwnScale() throws {
        let w = RandomGenerator(seed: 8).normal([4, 2, 3, 3]) * Tensor(shape: [4, 1, 1, 1], [1, 5, 0.2, 30])
        let conv = try QuantConv2d(2, 4, kernelSize: 3, bias: false, weightQuant: .shiftedUint8WeightPerChannelFloatHQO)
        conv.weight.assign(w)
        let linear = try QuantLinear(18, 4, bias: false, weightQuant: .shiftedUint8WeightPerChannelFloatHQO)
        linear.weight.assign(w.reshape([4, 18]))
        _ = conv.quantWeight()
        _ = linear.quantWeight()
        #expect(conv.stateDict()[Self.key]!.scalars == linear.stateDict()[Self.key]!.scalars)
    }

    /// A learned zero point without the search is still an activation feature; the search needs
    /// an integer quantizer with a scale computed from the weight and a constant bit width.
    @Test func configurationChecks() {
        func keys(_ q: WeightQuant) -> [String] {
            do { _ = try QuantLinear(8, 2, weightQuant: q); return [] } catch { return error.problems.map(\.key) }
        }
        #expect(keys(.shiftedUint8WeightPerChannelFloat.with(\.zeroPointImplType, .parameterFromStats)) == ["zero_point_impl"])
        #expect(keys(.shiftedUint8WeightPerChannelFloatHQO.with(\.scalingImplType, .parameterFromStats)) == ["scaling_impl_type"])
        #expect(keys(.shiftedUint8WeightPerTensorFloatHQO.with(\.bitWidthImplType, .parameter)) == ["bit_width_impl_type"])
        #expect(keys(.shiftedUint8WeightPerTensorFloatHQO).isEmpty)
    }
}
