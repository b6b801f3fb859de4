import Testing
import TestSupport
import NN
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

@Suite struct ZeroPointTests {
    let fixture: Fixture
    init() throws { fixture = try Fixture("quant", "bit_width_zero_point") }

    /// `QuantIdentity(act_quant=ShiftedUint8ActPerTensorFloat, zero_point_impl=ParameterZeroPoint,
    /// zero_point_init=0.3, bit_width=5, bit_width_impl_type='parameter')`: the learned zero point
    /// gets its gradient from the clipped elements, through `round_ste(|v| / s)` and the select.
    @Test func parameterZeroPointMatchesBrevitas() throws {
        let layer = try QuantIdentity(
            actQuant: .shiftedUint8ActPerTensorFloat.with(\.zeroPointImplType, .parameter).with(\.zeroPointInit, 0.3)
                .with(\.bitWidth, 5).with(\.bitWidthImplType, .parameter).with(\.collectStatsSteps, 2),
            returnQuantTensor: true)
        try checkActivationCase(layer, fixture.case("identity_parameter_zero_point"), "parameter zero point")
    }

    /// `ShiftedUint8WeightPerTensorFloat`: `AbsMinMax` scale, `NegativeMinOrZero` zero point,
    /// both recomputed from the weight with gradients through the statistics.
    @Test func shiftedUint8WeightPerTensorMatchesBrevitas() throws {
        let layer = try QuantLinear(6, 4, bias: false, weightQuant: .shiftedUint8WeightPerTensorFloat)
        try checkWeightCase(layer, fixture.case("linear_shifted_uint8_weight"), "shifted linear")
        #expect(String(describing: layer).contains("StatsFromParameterZeroPoint"))
    }

    /// `ShiftedUint8WeightPerChannelFloat` at 4 bits, with one channel that has no negative
    /// weight (zero point 0).
    @Test func shiftedUint8WeightPerChannelMatchesBrevitas() throws {
        let layer = try QuantConv2d(2, 3, kernelSize: 3, bias: false, weightQuant: .shiftedUint8WeightPerChannelFloat.with(\.bitWidth, 4))
        try checkWeightCase(layer, fixture.case("conv_shifted_uint8_weight_per_channel"), "shifted conv")
    }

    /// A learned weight zero point (`weight_zero_point_impl=ParameterZeroPoint`,
    /// `weight_zero_point_init=0.1`): state-dict key `weight_quant.tensor_quant.zero_point_impl.value`.
    @Test func parameterWeightZeroPointMatchesBrevitas() throws {
        let layer = try QuantLinear(6, 4, bias: false, weightQuant: .shiftedUint8WeightPerTensorFloat
            .with(\.zeroPointImplType, .parameter).with(\.zeroPointInit, 0.1).with(\.bitWidth, 4))
        try checkWeightCase(layer, fixture.case("linear_parameter_zero_point_weight"), "parameter weight zero point")
    }

    /// The same through Brevitas keywords at the string boundary.
    @Test func keywordsBuildTheZeroPoints() throws {
        let linear = try LayerFactory.make(className: "QuantLinear", kwargs: [
            "in_features": .number(3), "out_features": .number(2), "bias": .bool(false),
            "weight_quant": .quantizer("ShiftedUint8WeightPerTensorFloat"),
            "weight_zero_point_impl": .string("parameter"), "weight_zero_point_init": .number(0.05),
        ]).module
        #expect(Set(linear.stateDict().keys) == ["weight", "weight_quant.tensor_quant.zero_point_impl.value"])
        let identity = try LayerFactory.make(className: "QuantIdentity", kwargs: [
            "act_quant": .quantizer("Uint8ActPerTensorFloat"), "zero_point_impl": .string("parameter"),
            "zero_point_init": .number(0.2), "return_quant_tensor": .bool(true),
        ]).module
        #expect(identity.stateDict().keys.contains("act_quant.fused_activation_quant_proxy.tensor_quant.zero_point_impl.value"))
    }

    /// With the quantized shift the zero point is an integer code; without it
    /// (`quantize_zero_point=False`) it is `zf / s + minInt`, smooth in `zf` and `s`, and its
    /// gradients match central differences.
    @Test func scaleShiftZeroPoint() {
        let spec = IntQuantSpec(signed: false, narrowRange: false, clampSte: false)
        let b = Tensor(4)
        let quantized = ScaleShiftZeroPoint(intQuant: spec, quantize: true)
        #expect(quantized(Tensor(0.37), scale: Tensor(0.1), bitWidth: b).item() == 4)
        #expect(quantized(Tensor(5), scale: Tensor(0.1), bitWidth: b).item() == 15)
        let plain = ScaleShiftZeroPoint(intQuant: spec, quantize: false)
        let zf = Tensor(0.37, requiresGrad: true), s = Tensor(0.1, requiresGrad: true)
        plain(zf, scale: s, bitWidth: b).backward()
        let eps: Float = 1e-3
        func f(_ z: Float, _ sc: Float) -> Float { plain(Tensor(z), scale: Tensor(sc), bitWidth: b).item() }
        let dz = (f(0.37 + eps, 0.1) - f(0.37 - eps, 0.1)) / (2 * eps)
        let ds = (f(0.37, 0.1 + eps) - f(0.37, 0.1 - eps)) / (2 * eps)
        #expect(abs(zf.grad!.item() - dz) < 1e-2 * abs(dz))
        #expect(abs(s.grad!.item() - ds) < 1e-2 * abs(ds))
    }

    @Test func statisticsOfShiftedWeights() {
        let w = Tensor(shape: [2, 3], [-0.5, 0.2, 1.0, 0.1, 0.3, 0.4])
        #expect(AbsMinMax()(w.reshape([-1])).item() == 1.5)
        #expect(AbsMinMax()(w).scalars == [1.5, 0.4])
        #expect(NegativeMinOrZero()(w.reshape([-1])).item() == -0.5)
        #expect(NegativeMinOrZero()(w).scalars == [-0.5, 0])
    }
}

@Suite struct BitWidthZeroPointConfigTests {
    func keys(_ body: () throws -> Void) -> [String] {
        do {
            try body()
            return []
        } catch let e as QuantConfigError {
            return e.problems.map(\.key)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    @Test func unknownBitWidthImplTypeIsAnError() {
        #expect(keys { _ = try ActQuant.int8ActPerTensorFloat.applying(["bit_width_impl_type": .string("stateful_const")], context: "t") } == ["bit_width_impl_type"])
        #expect(keys { _ = try WeightQuant.int8WeightPerTensorFloat.applying(["zero_point_impl": .string("runtime")], context: "t") } == ["zero_point_impl"])
    }

    @Test func minBitWidthWithAConstantBitWidthIsUnused() {
        #expect(keys { _ = try LayerFactory.make(className: "QuantReLU", kwargs: ["min_bit_width": .number(3)]) } == ["min_bit_width"])
        #expect(keys { _ = try QuantLinear(2, 2, weightQuant: .int8WeightPerTensorFloat.with(\.minBitWidth, 3)) } == ["min_bit_width"])
    }

    @Test func bitWidthBelowTheMinimumIsAnError() {
        #expect(keys { _ = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 3).with(\.bitWidthImplType, .parameter).with(\.minBitWidth, 4)) } == ["bit_width"])
        #expect(keys { _ = try QuantLinear(2, 2, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 2).with(\.bitWidthImplType, .parameter).with(\.minBitWidth, 3)) } == ["bit_width"])
    }

    @Test func learnedBitWidthNeedsIntegerQuantization() {
        #expect(keys { _ = try QuantIdentity(actQuant: .signedBinaryActPerTensorConst.with(\.bitWidthImplType, .parameter)) } == ["bit_width_impl_type"])
    }

    @Test func zeroPointSettingsAreChecked() {
        // ParameterZeroPoint needs its initial value.
        #expect(keys { _ = try QuantIdentity(actQuant: .uint8ActPerTensorFloat.with(\.zeroPointImplType, .parameter)) } == ["zero_point_init"])
        // zero_point_init and quantize_zero_point are unused without such a zero point.
        #expect(keys { _ = try QuantIdentity(actQuant: .uint8ActPerTensorFloat.with(\.zeroPointInit, 0.1)) } == ["zero_point_init"])
        #expect(keys { _ = try QuantLinear(2, 2, weightQuant: .int8WeightPerTensorFloat.with(\.quantizeZeroPoint, false)) } == ["quantize_zero_point"])
        // Statistics of a parameter are for weights; runtime statistics for activations.
        #expect(keys { _ = try QuantIdentity(actQuant: .uint8ActPerTensorFloat.with(\.zeroPointImplType, .stats)) } == ["zero_point_impl"])
        #expect(keys { _ = try QuantLinear(2, 2, weightQuant: .int8WeightPerTensorFloat.with(\.zeroPointImplType, .parameterFromStats)) } == ["zero_point_impl"])
        #expect(keys { _ = try QuantIdentity(actQuant: .int8ActPerTensorFloat.with(\.zeroPointStatsMomentum, 0.5)) } == ["zero_point_stats_momentum"])
    }

    @Test func explainShowsTheNewSettings() {
        let q = WeightQuant.shiftedUint8WeightPerTensorFloat.with(\.bitWidthImplType, .parameter)
        let text = q.explain()
        #expect(text.contains("bit_width_impl_type = parameter"))
        #expect(text.contains("min_bit_width = 2"))
        #expect(text.contains("zero_point_impl = stats"))
        #expect(text.contains("scaling_stats_op = min_max"))
    }
}
