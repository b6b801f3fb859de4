import Testing
import TestSupport
import NN
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// Replays an activation case of `bit_width_zero_point.json`: every training call in order, the
/// recorded ones compared with Brevitas (output, scale, zero point, bit width, gradients of the
/// input and of every parameter), then the eval output and the state-dict keys.
func checkActivationCase(_ layer: QuantLayer, _ c: [String: Any], _ name: String,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
    let inputs = (c["inputs"] as! [Any]).map(Fixture.t)
    let calls = Dictionary(uniqueKeysWithValues: (c["calls"] as! [[String: Any]]).map { ($0["step"] as! Int, $0) })
    #expect(!calls.isEmpty && calls.keys.allSatisfy { $0 < inputs.count }, sourceLocation: sourceLocation)
    layer.train()
    for (step, input) in inputs.enumerated() {
        let x = input.copy()
        x.requiresGrad = true
        let q = try layer.quant(x)
        let rec = calls[step]
        let g = rec.map { Fixture.t($0["g"]) } ?? Tensor.ones(x.shape)
        (q.value * g).sum().backward()
        if let rec {
            let what = "\(name) step \(step)"
            expectClose(q.value, Fixture.t(rec["out"]), "\(what) output", sourceLocation: sourceLocation)
            expectClose(q.scale, Fixture.t(rec["scale"]), "\(what) scale", sourceLocation: sourceLocation)
            expectClose(q.zeroPoint, Fixture.t(rec["zero_point"]), "\(what) zero point", sourceLocation: sourceLocation)
            expectClose(q.bitWidth, Fixture.t(rec["bit_width"]), "\(what) bit width", sourceLocation: sourceLocation)
            expectClose(x.grad, Fixture.t(rec["grad_x"]), "\(what) grad x", sourceLocation: sourceLocation)
            expectParameterGrads(layer, rec["grads"] as! [String: Any], "\(what)", sourceLocation: sourceLocation)
        }
        layer.zeroGrad()
    }
    layer.eval()
    let out = Autograd.noGrad { try? layer.quant(inputs.last!) }
    expectClose(out?.value, Fixture.t(c["eval_out"]), "\(name) eval output", sourceLocation: sourceLocation)
    #expect(Set(layer.stateDict().keys) == Set(c["state_dict_keys"] as! [String]), sourceLocation: sourceLocation)
}

/// Runs a weight-layer case: one training forward/backward with the recorded weight, compared
/// with Brevitas (output, quantized weight and its metadata, gradients of input, weight and
/// quantizer parameters, state-dict keys).
func checkWeightCase(_ layer: QuantWeightBiasLayer, _ c: [String: Any], _ name: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
    layer.weight.assign(Fixture.t(c["weight"]))
    layer.train()
    let x = Fixture.t(c["x"])
    x.requiresGrad = true
    let y: Tensor = try layer.forward(.float(x)).value
    (y * Fixture.t(c["g"])).sum().backward()
    let qw = Autograd.noGrad { layer.quantWeight().quantTensor! }
    expectClose(y, Fixture.t(c["out"]), "\(name) output", sourceLocation: sourceLocation)
    expectClose(qw.value, Fixture.t(c["quant_weight"]), "\(name) quant weight", sourceLocation: sourceLocation)
    expectClose(qw.scale, Fixture.t(c["scale"]), "\(name) scale", sourceLocation: sourceLocation)
    expectClose(qw.zeroPoint, Fixture.t(c["zero_point"]), "\(name) zero point", sourceLocation: sourceLocation)
    expectClose(qw.bitWidth, Fixture.t(c["bit_width"]), "\(name) bit width", sourceLocation: sourceLocation)
    expectClose(x.grad, Fixture.t(c["grad_x"]), "\(name) grad x", sourceLocation: sourceLocation)
    expectParameterGrads(layer, c["grads"] as! [String: Any], "\(name)", sourceLocation: sourceLocation)
    #expect(Set(layer.stateDict().keys) == Set(c["state_dict_keys"] as! [String]), sourceLocation: sourceLocation)
}

/// The offset of the (single) learned bit width of a layer.
func bitWidthOffset(_ m: Module) -> Tensor {
    m.modules().compactMap { $0 as? BitWidthParameter }.first!.bitWidthOffset
}

@Suite struct LearnedBitWidthTests {
    let fixture: Fixture
    init() throws { fixture = try Fixture("quant", "bit_width_zero_point") }

    /// `QuantIdentity(bit_width=4, bit_width_impl_type='parameter', collect_stats_steps=2)`: a
    /// collection call (gradient to the offset through the threshold only) and the first learned
    /// call (clipped elements route their gradient to the bounds 2^(b−1)).
    @Test func quantIdentityMatchesBrevitas() throws {
        let layer = try QuantIdentity(
            actQuant: .int8ActPerTensorFloat.with(\.bitWidth, 4).with(\.bitWidthImplType, .parameter).with(\.collectStatsSteps, 2),
            returnQuantTensor: true)
        try checkActivationCase(layer, fixture.case("identity_learned_bit_width"), "identity")
    }

    /// `QuantReLU(bit_width=4, min_bit_width=3, ...)` with the offset set to −1.6: bit width
    /// round(1.6 + 3) = 5 and the offset's gradient negated by `abs_binary_sign_grad`. The fused
    /// ReLU kernel is not used (it needs a constant bit width).
    @Test func quantReLUMatchesBrevitas() throws {
        let layer = try QuantReLU(
            actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.bitWidthImplType, .parameter)
                .with(\.minBitWidth, 3).with(\.collectStatsSteps, 1),
            returnQuantTensor: true)
        bitWidthOffset(layer).assign(Tensor(-1.6))
        #expect(!(layer.actQuant.tensorQuant as! RescalingIntQuant).canFuseActivation)
        try checkActivationCase(layer, fixture.case("relu_learned_bit_width"), "relu")
    }

    /// `QuantLinear(weight_bit_width=4, weight_bit_width_impl_type='parameter')`, offset 1.3
    /// (bit width 3): the weight clamp is Brevitas's `TensorClamp` (a select), not `TensorClampSte`.
    @Test func quantLinearMatchesBrevitas() throws {
        let layer = try QuantLinear(6, 4, bias: false, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 4).with(\.bitWidthImplType, .parameter))
        bitWidthOffset(layer).assign(Tensor(1.3))
        #expect(!(layer.weightQuant.tensorQuant as! RescalingIntQuant).clampSte)
        try checkWeightCase(layer, fixture.case("linear_learned_bit_width"), "linear")
    }

    /// Per-channel weight scales with a learned 3-bit width on a convolution.
    @Test func quantConv2dPerChannelMatchesBrevitas() throws {
        let layer = try QuantConv2d(2, 3, kernelSize: 3, bias: false,
                                    weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 3).with(\.bitWidthImplType, .parameter))
        try checkWeightCase(layer, fixture.case("conv_learned_bit_width_per_channel"), "conv")
    }

    /// The keyword boundary spells it as Brevitas does, and the state-dict key is Brevitas's.
    @Test func keywordsBuildTheLearnedBitWidth() throws {
        let relu = try LayerFactory.make(className: "QuantReLU", kwargs: [
            "bit_width": .number(6), "bit_width_impl_type": .string("parameter"), "min_bit_width": .number(4),
        ]).module
        let offset = bitWidthOffset(relu)
        #expect(offset.item() == 2)
        #expect(relu.stateDict().keys.contains("act_quant.fused_activation_quant_proxy.tensor_quant.msb_clamp_bit_width_impl.bit_width_offset"))
        let conv = try LayerFactory.make(className: "QuantConv2d", kwargs: [
            "in_channels": .number(1), "out_channels": .number(2), "kernel_size": .number(3),
            "weight_bit_width_impl_type": .string("parameter"),
        ]).module
        #expect(conv.stateDict().keys.contains("weight_quant.tensor_quant.msb_clamp_bit_width_impl.bit_width_offset"))
        #expect(String(describing: conv).contains("BitWidthParameter"))
    }

    /// A learned bit width loaded from a state dict changes the quantizer's range.
    @Test func loadedOffsetChangesTheRange() throws {
        let relu = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidthImplType, .parameter), returnQuantTensor: true)
        let key = "act_quant.fused_activation_quant_proxy.tensor_quant.msb_clamp_bit_width_impl.bit_width_offset"
        var state = relu.stateDict()
        state[key] = Tensor(1.2)
        try relu.loadStateDict(state)
        let tq = relu.actQuant.tensorQuant as! RescalingIntQuant
        #expect(tq.bitWidthImpl.bits == 3)
        #expect(tq.intRange.maxInt == 7)
    }

    @Test(arguments: [(Float(2), Float(4)), (1.3, 3), (2.5, 4), (3.5, 6), (-1.6, 4), (0, 2)])
    func bitWidthIsTheRoundedAbsoluteOffsetAboveTheMinimum(offset: Float, bits: Float) {
        let b = BitWidthParameter(bitWidth: 4)
        b.bitWidthOffset.assign(Tensor(offset))
        let out = b()
        #expect(out.item() == bits)
        out.backward()
        #expect(b.bitWidthOffset.grad!.item() == (offset < 0 ? -1 : 1))
    }
}

/// The composed `IntQuantSpec` path against the fused kernel and against finite differences.
@Suite struct IntQuantSpecTests {
    /// With an integer bit width the composed path equals `FakeQuantize.apply`: values and the
    /// gradients of x, scale and zero point, for every range and both clamps.
    @Test(arguments: [(true, false, false), (true, true, true), (false, false, false), (false, true, true)])
    func composedEqualsTheFusedKernel(signed: Bool, narrow: Bool, clampSte: Bool) {
        let spec = IntQuantSpec(signed: signed, narrowRange: narrow, clampSte: clampSte)
        let base = RandomGenerator(seed: 21).normal([3, 4, 5]) * 1.5
        let g = RandomGenerator(seed: 22).normal([3, 4, 5])
        let b = Tensor(4)
        let lo = spec.minInt(b).item(), hi = spec.maxInt(b).item()
        func run(_ fused: Bool) -> (Tensor, Tensor, Tensor, Tensor) {
            let x = base.copy(), s = Tensor(shape: [1, 4, 1], [0.1, 0.2, 0.05, 0.3]), z = Tensor(signed ? 0 : 3)
            for t in [x, s, z] { t.requiresGrad = true }
            let y = fused
                ? FakeQuantize.apply(x, scale: s, zeroPoint: z, minInt: lo, maxInt: hi, clampSte: clampSte)
                : spec.fakeQuantize(x, scale: s, zeroPoint: z, bitWidth: b)
            (y * g).sum().backward()
            return (y, x.grad!, s.grad!, z.grad!)
        }
        let f = run(true), c = run(false)
        expectClose(c.0, f.0, rtol: 0, atol: 1e-6, "value")
        expectClose(c.1, f.1, rtol: 1e-6, atol: 0, "grad x (g·s/s against g)")
        expectClose(c.2, f.2, rtol: 1e-5, atol: 1e-5, "grad scale")
        expectClose(c.3, f.3, rtol: 1e-5, atol: 1e-5, "grad zero point")
    }

    @Test func integerRangesFollowBrevitas() {
        let b = Tensor(4)
        func r(_ s: Bool, _ n: Bool) -> [Float] {
            let spec = IntQuantSpec(signed: s, narrowRange: n, clampSte: false)
            return [spec.minInt(b).item(), spec.maxInt(b).item(), spec.threshold(b, powerOfTwo: false).item(), spec.threshold(b, powerOfTwo: true).item()]
        }
        #expect(r(true, false) == [-8, 7, 8, 8])
        #expect(r(true, true) == [-7, 7, 7, 8])
        #expect(r(false, false) == [0, 15, 15, 16])
        #expect(r(false, true) == [0, 14, 14, 16])
    }

    /// Bounds and thresholds are smooth in the bit width: their gradients match central
    /// differences at non-integer bit widths.
    @Test(arguments: [(true, false, false), (true, true, false), (false, false, false), (false, true, false), (true, false, true), (false, false, true)])
    func boundGradientsMatchFiniteDifferences(signed: Bool, narrow: Bool, powerOfTwo: Bool) {
        let spec = IntQuantSpec(signed: signed, narrowRange: narrow, clampSte: false)
        let fns: [(Tensor) -> Tensor] = [spec.minInt, spec.maxInt, { spec.threshold($0, powerOfTwo: powerOfTwo) }]
        for (k, f) in fns.enumerated() {
            for b0 in [Float(2.3), 4.6, 7.1] {
                let b = Tensor(b0, requiresGrad: true)
                let y = f(b)
                y.backward()
                let eps: Float = 1e-2
                let fd = (f(Tensor(b0 + eps)).item() - f(Tensor(b0 - eps)).item()) / (2 * eps)
                let grad = b.grad?.item() ?? 0
                #expect(abs(grad - fd) <= 1e-3 * Swift.max(1, abs(fd)), "function \(k) at b = \(b0): \(grad) vs \(fd)")
            }
        }
    }
}
