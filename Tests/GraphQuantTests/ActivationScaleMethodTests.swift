import Foundation
import Graph
@testable import GraphQuant
import NN
import QuantNN
import TensorEngine
import TestSupport
import Testing

/// `act_param_method` ('stats' with `act_quant_percentile`, 'mse') against Brevitas 0.13.4's PTQ
/// flow on a small CNN (`Tests/Fixtures/act_scales/make_act_scales.py`): the calibrated scale of
/// every activation quantizer (exactly, to float rounding) and the quantized model's output.
@Suite struct ActivationScaleMethodTests {
    let fixture: Fixture

    init() throws { fixture = try Fixture("act_scales", "act_scales") }

    /// x -> conv(1->4, 3x3, pad 1) -> relu -> maxpool 2 -> flatten -> fc(64->10), the fixture's weights.
    func model() throws -> GraphModule {
        let conv = Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1)
        conv.weight.assign(fixture.t("conv_weight"))
        conv.bias!.assign(fixture.t("conv_bias"))
        let fc = Linear(inFeatures: 64, outFeatures: 10)
        fc.weight.assign(fixture.t("fc_weight"))
        fc.bias!.assign(fixture.t("fc_bias"))
        let g = GraphBuilder()
        let x = g.input("x")
        var h = g.call("relu", ReLU(), g.call("conv", conv, x))
        h = g.op(.flatten(startDim: 1, endDim: -1), g.call("pool", MaxPool2d(kernelSize: 2), h), name: "flatten")   // torch.flatten
        let m = try g.build(outputs: [g.call("fc", fc, h)])
        m.eval()
        return m
    }

    /// ptq_common's maps: 8-bit per-channel full-range weights with the scale taken once, and the
    /// configuration's activations.
    static func maps(actBits: Int, method: ActivationScaleMethod, percentile: Double?) -> QuantizeMaps {
        var maps = QuantizeMaps.default
        maps.setPerChannelWeights()
        for (k, r) in maps.computeLayerMap {
            if let r { maps.computeLayerMap[k] = r.with("weight_narrow_range", .bool(false)).with("weight_scaling_impl_type", .string("parameter_from_stats")) }
        }
        maps.setActivationBitWidth(actBits)
        maps.setActivationScaleMethod(method)
        if method == .stats, let percentile { maps.setActivationPercentile(percentile) }
        return maps
    }

    @Test func calibratedScalesMatchBrevitas() throws {
        let batches = fixture.tensors("batches")
        for c in fixture.cases("configs") {
            let method = try #require(ActivationScaleMethod(rawValue: c.string("act_param_method")))
            let q = try quantize(try model(), maps: Self.maps(actBits: c.int("act_bits"), method: method, percentile: c.double("act_quant_percentile")))
            try calibrate(q, batches: batches)
            let points = Dictionary(uniqueKeysWithValues: try q.quantizationPoints(on: batches[0]).map { ($0.key, $0) })
            let scales = c.case("scales")
            for (role, key) in [("input", "output of x"), ("relu", "output of relu"), ("output", "output of fc")] {
                let expected = Float((scales[role] as! NSNumber).doubleValue)
                let got = try #require(points[key]?.scale?.item(), "\(c.string("name")): no point '\(key)' in \(points.keys.sorted())")
                #expect(abs(got - expected) <= 2e-6 * expected, "\(c.string("name")) \(role): \(got) vs Brevitas \(expected)")
            }
            expectClose(try q.output(batches[0]), c.t("output"), rtol: 1e-5, atol: 1e-6, "\(c.string("name")) output")
        }
    }

    /// The maps `create_quant_maps` builds: MSE quantizers unsigned where the default was
    /// unsigned; the percentile only on percentile quantizers (not on ReLU6's learned range).
    @Test func mapsTakeTheMethodAndPercentile() {
        var m = QuantizeMaps.default
        m.setActivationScaleMethod(.mse)
        #expect(m.quantActMap["torch.nn.ReLU"]??.kwargs["act_quant"] == .quantizer("Int8ActPerTensorFloatMSE"))
        #expect(m.quantActMap["torch.nn.ReLU"]??.kwargs["signed"] == .bool(false))
        #expect(m.signedIdentity.kwargs["act_quant"] == .quantizer("Int8ActPerTensorFloatMSE") && m.signedIdentity.kwargs["signed"] == nil)
        #expect(m.unsignedIdentity.kwargs["signed"] == .bool(false))
        #expect(m.quantActMap["torch.nn.ReLU6"]??.kwargs["act_quant"] == .quantizer("Uint8ActPerTensorFloatMaxInit"))
        var p = QuantizeMaps.default
        p.setActivationPercentile(99.9)
        #expect(p.quantActMap["torch.nn.ReLU"]??.kwargs["high_percentile_q"] == .number(99.9))
        #expect(p.quantActMap["torch.nn.ReLU6"]??.kwargs["high_percentile_q"] == nil)
        let lw = QuantizeMaps.layerwiseMap(QuantizeMaps.defaultLayerwiseMap, method: .stats, percentile: 99)
        #expect(lw["torch.nn.Conv2d"]??.kwargs["input_high_percentile_q"] == .number(99))
        let lwm = QuantizeMaps.layerwiseMap(QuantizeMaps.defaultLayerwiseMap, method: .mse, percentile: 99)
        #expect(lwm["torch.nn.Linear"]??.kwargs["input_quant"] == .quantizer("Int8ActPerTensorFloatMSE") && lwm["torch.nn.Linear"]??.kwargs["input_high_percentile_q"] == nil)
    }
}
