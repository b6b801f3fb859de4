import Foundation
import Testing
import TestSupport
import NN
import TensorEngine
@testable import Quantizers
@testable import QuantNN

/// Activation quantizers with `scaling_stats_op='min_max'` (Brevitas `AbsMinMax`: the range
/// `max(x) − min(min(x), 0)`), replayed against `min_max_act.json` (written by
/// `Tests/Fixtures/quant/make_min_max_act.py` with Brevitas 0.13.4): statistics collection, the
/// learned scale after it, and eval.
@Suite struct MinMaxActivationTests {
    func replay(_ layer: QuantLayer, _ name: String) throws {
        let c = try Fixture("quant", "min_max_act").case(name)
        layer.train()
        for (i, rec) in (c["calls"] as! [[String: Any]]).enumerated() {
            let x = Fixture.t(rec["x"])
            x.requiresGrad = true
            let q = try layer.quant(x)
            (q.value * Fixture.t(rec["g"])).sum().backward()
            let what = "\(name) call \(i)"
            expectClose(q.value, Fixture.t(rec["y"]), "\(what) output")
            expectClose(q.scale, Fixture.t(rec["scale"]), "\(what) scale")
            expectClose(x.grad, Fixture.t(rec["grad_x"]), "\(what) grad x")
            let value = layer.parameters().first { $0.count == 1 }
            if let expected = rec["grad_value"], !(expected is NSNull) {
                expectClose(value?.grad, Fixture.t(expected), "\(what) scale-parameter gradient")
            }
            layer.zeroGrad()
        }
        layer.eval()
        let e = c["eval"] as! [String: Any]
        let q = try Autograd.noGrad { try layer.quant(Fixture.t(e["x"])) }
        expectClose(q.value, Fixture.t(e["y"]), "\(name) eval output")
        expectClose(q.scale, Fixture.t(e["scale"]), "\(name) eval scale")
    }

    @Test func signedIdentity() throws {
        let layer = try QuantIdentity(
            actQuant: .int8ActPerTensorFloat.with(\.scalingStatsOp, .minMax).with(\.collectStatsSteps, 3),
            returnQuantTensor: true)
        try replay(layer, "identity_int8_min_max")
    }

    @Test func unsignedReLU() throws {
        let layer = try QuantReLU(
            actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.scalingStatsOp, .minMax).with(\.collectStatsSteps, 2),
            returnQuantTensor: true)
        try replay(layer, "relu_uint4_min_max")
    }

    @Test func percentileSettingsWithMinMaxAreErrors() {
        let q = ActQuant.int8ActPerTensorFloat.with(\.scalingStatsOp, .minMax).with(\.highPercentileQ, 99.9)
        #expect(throws: QuantConfigError.self) { try q.validate(context: "QuantIdentity") }
        let low = ActQuant.uint8ActPerTensorFloat.with(\.lowPercentileQ, 1)
        #expect(throws: QuantConfigError.self) { try low.validate(context: "QuantReLU") }
        // ... but the shifted preset's zero point reads low_percentile_q
        #expect(throws: Never.self) { try ActQuant.shiftedUint8ActPerTensorFloat.with(\.lowPercentileQ, 1).validate(context: "QuantIdentity") }
    }
}
