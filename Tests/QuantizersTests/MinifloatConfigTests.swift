import Testing
import TensorEngine
import QuantCore
@testable import Quantizers
@testable import QuantNN

/// Minifloat presets, keyword overrides, configuration errors and `FloatQuantTensor`.
@Suite struct MinifloatConfigTests {
    func problemKeys(_ className: String, _ kwargs: [String: ConfigValue]) -> [String] {
        do {
            _ = try LayerFactory.make(className: className, kwargs: kwargs)
            return []
        } catch {
            return error.problems.map(\.key)
        }
    }

    @Test(arguments: [
        ("Fp8e4m3OCPActPerTensorFloat", 4, 3, 7, Float(448)),
        ("Fp8e5m2OCPActPerTensorFloat", 5, 2, 15, 57344),
        ("Fp8e4m3FNUZActPerTensorFloat", 4, 3, 8, 240),
        ("Fp8e5m2FNUZAct", 5, 2, 16, 57344),
        ("Fp8e4m3ActPerChannelFloat2d", 4, 3, 7, 480),
    ])
    func activationPresetsResolveTheirFormat(name: String, e: Int, m: Int, bias: Int, maxValue: Float) throws {
        var q = try #require(ActQuant.preset(named: name))
        if q.scalingPerOutputChannel { q = q.with(\.perChannelBroadcastableShape, [1, 3, 1, 1]) }
        try q.validate(context: name)
        #expect(q.minifloatFormat.exponentBitWidth == e && q.minifloatFormat.mantissaBitWidth == m)
        #expect(q.minifloatFormat.exponentBias == bias && q.minifloatFormat.maxValue == maxValue)
    }

    @Test func everyListedPresetValidates() throws {
        for n in ActQuant.minifloatPresetNames where !n.hasPrefix("FpOCP") && !n.hasPrefix("FpFNUZ") {
            var q = try #require(ActQuant.preset(named: n))
            if q.scalingPerOutputChannel { q = q.with(\.perChannelBroadcastableShape, [1, 3, 1, 1]) }
            try q.validate(context: n)
        }
        for n in WeightQuant.minifloatPresetNames where !n.hasPrefix("FpOCP") && !n.hasPrefix("FpFNUZ") {
            try #require(WeightQuant.preset(named: n)).validate(context: n)
        }
    }

    /// FP6 and FP4 are built as Brevitas builds them: `FpOCP*` with keyword overrides.
    @Test func formatsFromKeywords() throws {
        let built = try LayerFactory.make(className: "QuantIdentity", kwargs: [
            "act_quant": .quantizer("FpOCPAct"), "bit_width": .number(6), "exponent_bit_width": .number(3),
            "mantissa_bit_width": .number(2), "return_quant_tensor": .bool(true),
        ])
        guard case .single(let layer) = built else { Issue.record("not a single layer"); return }
        let q = try layer.quant(Tensor([0.21875, 30.8, -0.03125]))
        let f = try #require(FloatQuantTensor(q))
        #expect(f.exponentBitWidth == 3 && f.mantissaBitWidth == 2 && f.exponentBias == 3)
        #expect(f.nanValues == nil && f.infValues == nil && f.saturating)
        #expect(q.value.scalars == [0.25, 28, -0])
        #expect(try f.minifloat().scalars == [0.25, 28, -0])
        #expect(q.isValid)
    }

    @Test func impossibleFormatsAreConfigErrorsNamingTheKey() {
        // FpOCPAct alone has no format.
        #expect(problemKeys("QuantIdentity", ["act_quant": .quantizer("FpOCPAct")]) == ["exponent_bit_width"])
        // bit_width must be 1 + e + m.
        #expect(problemKeys("QuantIdentity", ["act_quant": .quantizer("FpOCPAct"), "exponent_bit_width": .number(3), "mantissa_bit_width": .number(2)]) == ["bit_width"])
        // exponent over 8 bits.
        #expect(problemKeys("QuantIdentity", ["act_quant": .quantizer("FpOCPAct"), "bit_width": .number(12), "exponent_bit_width": .number(9), "mantissa_bit_width": .number(2)]) == ["exponent_bit_width"])
        // exponent 0 (with mantissa 0 too).
        #expect(problemKeys("QuantIdentity", ["act_quant": .quantizer("FpOCPAct"), "bit_width": .number(1), "exponent_bit_width": .number(0), "mantissa_bit_width": .number(0)]) == ["exponent_bit_width"])
        // non-saturating FP6 has no code to overflow to.
        #expect(problemKeys("QuantIdentity", ["act_quant": .quantizer("FpOCPAct"), "bit_width": .number(6), "exponent_bit_width": .number(3), "mantissa_bit_width": .number(2), "saturating": .bool(false)]) == ["saturating"])
        // minifloat keywords on an integer quantizer do nothing: an error.
        #expect(problemKeys("QuantIdentity", ["exponent_bit_width": .number(4)]) == ["exponent_bit_width"])
        // role-prefixed keywords reach the weight quantizer.
        #expect(problemKeys("QuantLinear", ["in_features": .number(4), "out_features": .number(2), "weight_quant": .quantizer("FpOCPWeightPerChannelFloat"),
                                            "weight_bit_width": .number(4), "weight_exponent_bit_width": .number(2), "weight_mantissa_bit_width": .number(1)]) == [])
    }

    /// The module tree carries Brevitas 0.13.4's buffers (as the `act_fp8_e4m3_ocp_traj` case records them).
    @Test func stateKeysMatchBrevitas() throws {
        let l = try QuantIdentity(actQuant: .fp8e4m3OCPActPerTensorFloat)
        let p = "act_quant.fused_activation_quant_proxy.tensor_quant."
        let buffers = Set(l.namedBuffers().map(\.name)).filter { $0.hasPrefix(p) }.map { String($0.dropFirst(p.count)) }
        #expect(Set(buffers) == [
            "exponent_bias_impl.exponent_bias.value", "exponent_bit_width_impl.bit_width.value",
            "mantissa_bit_width_impl.bit_width.value", "zero_point_impl.value", "float_scaling_impl.max_available_float.value",
            "scaling_impl.buffer", "float_clamp_impl.max_available_float.value", "compute_max_mantissa.compute_max_mantissa.value",
        ])
        #expect(l.namedParameters().map(\.name) == [p + "scaling_impl.value"])
        let fnuz = try QuantIdentity(actQuant: .fp8e4m3FNUZActPerTensorFloat)
        #expect(!fnuz.namedBuffers().contains { $0.name.contains("max_available_float") })
    }

    @Test func floatQuantTensorPrintsAndRefusesIntegerAlgebra() throws {
        let l = try QuantIdentity(actQuant: .fp8e4m3OCPAct, returnQuantTensor: true)
        let q = try l.quant(Tensor([1.1, -3.3]))
        #expect(q.kind == .floatQuantTensor)
        #expect(q.description.hasPrefix("FloatQuantTensor(value="))
        #expect(q.description.contains("nan_values=('111',)") && q.description.contains("inf_values=None"))
        #expect(throws: QuantTensorError.self) { try q + q }
        #expect(throws: QuantTensorError.self) { try q.int() }
        // NaN makes it invalid (Brevitas: max |pre − round(pre)| is NaN).
        let withNaN = try l.quant(Tensor([1, .nan]))
        #expect(!withNaN.isValid)
    }
}
