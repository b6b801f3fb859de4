import Foundation
import Graph
import GraphQuant
import NN
@testable import PTQ
import QuantCore
import QuantNN
import Quantizers
import TensorEngine
import TestSupport
import Testing

/// Learned rounding (AdaRound) against Brevitas 0.13.4's own modules
/// (`Tests/Fixtures/learned_round/make_learned_round.py` wrote `learned_round.json`), finite
/// differences, and the stage on a small quantized graph.
@Suite struct LearnedRoundTests {
    let fixture: Fixture

    init() throws { fixture = try Fixture("learned_round", "learned_round") }

    /// `LearnedRoundHardSigmoid` forward (training mode), backward of `sum(h·g)` and eval-mode
    /// hardening, on values that cover both clamps, the exact ends (±ln 11) and 0.
    @Test func hardSigmoidMatchesBrevitas() {
        let c = fixture["hard_sigmoid"]
        let v = c.t("v").detach()
        v.requiresGrad = true
        let hs = LearnedRoundHardSigmoid()
        let h = hs(v)
        expectClose(h, c.t("h"), rtol: 1e-6, atol: 1e-7, "h")
        (h * c.t("g")).sum().backward()
        expectClose(v.grad, c.t("grad_v"), rtol: 1e-5, atol: 1e-7, "grad v")
        #expect(hs.hardened(v).scalars == c.t("hardened").scalars)
    }

    /// The fused backward equals central finite differences of the forward (away from the kinks
    /// at h = 0 and h = 1, where the one-sided slopes differ).
    @Test func hardSigmoidGradientByFiniteDifferences() {
        let hs = LearnedRoundHardSigmoid()
        let values: [Float] = [-4, -2.2, -1, -0.3, 0, 0.4, 1.3, 2.2, 4]
        let v = Tensor(shape: [values.count], values, requiresGrad: true)
        hs(v).sum().backward()
        let g = v.grad!.scalars
        let eps: Float = 1e-2
        for (i, x) in values.enumerated() {
            let up = Double(hs(Tensor([x + eps])).item()), down = Double(hs(Tensor([x - eps])).item())
            let fd = (up - down) / Double(2 * eps)
            #expect(abs(Double(g[i]) - fd) <= 2e-4, "v = \(x): analytic \(g[i]), finite difference \(fd)")
        }
        // Outside the stretched range the offset is clamped: no gradient.
        #expect(g[0] == 0 && g[8] == 0)
    }

    /// `v` starts where `h(v)` is the fractional part of `w/s` (Brevitas
    /// `learned_round_value_init_non_linear`), so the soft-rounded weight is the float weight.
    @Test func initialValueIsTheFraction() throws {
        let c = fixture["conv"]
        let (codes, fraction) = LearnedRound.floorCodes(c.t("weight"), scale: c.t("scale"), zeroPoint: Tensor(Float(0)))
        let hs = LearnedRoundHardSigmoid()
        let v = hs.initialValue(fraction: fraction)
        expectClose(v, c.t("init_value"), rtol: 1e-5, atol: 1e-5, "init value")
        let w = LearnedRound.fakeQuantize(floorCodes: codes, rounding: hs(v), scale: c.t("scale"), zeroPoint: Tensor(Float(0)),
                                          range: IntRange(bitWidth: 4, signed: true, narrowRange: false))
        // Inside the range the soft weight is the float weight; the largest |w| of each channel
        // (code 8 at 4 bits) is clamped to 7.
        let clipped = c.t("weight").scalars.enumerated().filter { i, x in x / c.t("scale").scalars[i / 18] >= 7 }.map(\.offset)
        for (i, (a, b)) in zip(w.scalars, c.t("weight").scalars).enumerated() where !clipped.contains(i) {
            #expect(abs(a - b) <= 1e-6, "weight \(i): \(a) vs \(b)")
        }
    }

    /// The annealing exponent of the regulariser at the schedule's corners.
    @Test func temperatureDecayMatchesBrevitas() {
        let c = fixture["decay"]
        let decay = LinearTempDecay(tMax: 1000, relStartDecay: 0.2, startB: 20, endB: 2)
        for (t, b) in zip(c.ints("t"), c.doubles("b")) {
            #expect(abs(decay(t) - b) <= 1e-12, "b(\(t)) = \(decay(t)), Brevitas \(b)")
        }
        // Hand values: the decay is linear from 20 at t = 200 to 2 at t = 1000.
        #expect(decay(600) == 11 && decay(200) == 20 && decay(1000) == 2 && decay(5000) == 2)
    }

    /// `RoundRegularisationLoss` with its defaults: 0 before call 200, then
    /// `0.01·Σ(1 − |2(h − 0.5)|^b)`, and its gradient through the hard sigmoid.
    @Test func regulariserMatchesBrevitas() {
        let c = fixture["conv"]
        let hs = LearnedRoundHardSigmoid()
        let v = c.t("init_value").detach()
        v.requiresGrad = true
        var reg = RoundRegularisation()
        let probes = Dictionary(uniqueKeysWithValues: (c.json["regulariser"] as! [[String: Any]]).map { (($0["call"] as! NSNumber).intValue, Fixture($0)) })
        for call in 1...1001 {
            v.grad = nil
            let (loss, _) = reg.loss(hs(v))
            guard let p = probes[call] else { continue }
            #expect(abs(Double(loss.item()) - p.double("loss")) <= 1e-6 * max(1, p.double("loss")), "call \(call): \(loss.item()) vs \(p.double("loss"))")
            if p.has("grad_value") {
                loss.backward()
                expectClose(v.grad, p.t("grad_value"), rtol: 1e-4, atol: 1e-8, "regulariser gradient at call \(call)")
            } else {
                #expect(call < 200 && loss.item() == 0)
            }
        }
    }

    /// The penalty by hand: h = 0, 1 cost nothing, h = 0.5 costs `weight`, and at b = 2 the
    /// term is `1 − (2h − 1)²`; its gradient by finite differences.
    @Test func penaltyByHandAndFiniteDifferences() {
        let h = Tensor(shape: [5], [0, 1, 0.5, 0.25, 0.8], requiresGrad: true)
        let loss = RoundRegularisation.penalty(h, b: 2, weight: 0.1)
        let expected = 0.1 * (0 + 0 + 1 + (1 - 0.25) + (1 - 0.36))
        #expect(abs(Double(loss.item()) - expected) <= 1e-6)
        loss.backward()
        let g = h.grad!.scalars
        let eps: Float = 1e-3
        for i in 0..<5 where i != 2 {
            var up = h.scalars, down = h.scalars
            up[i] += eps
            down[i] -= eps
            let fd = (Double(RoundRegularisation.penalty(Tensor(shape: [5], up), b: 2, weight: 0.1).item())
                - Double(RoundRegularisation.penalty(Tensor(shape: [5], down), b: 2, weight: 0.1).item())) / Double(2 * eps)
            #expect(abs(Double(g[i]) - fd) <= 1e-3, "h[\(i)]: analytic \(g[i]), finite difference \(fd)")
        }
        #expect(g[2] == 0)   // torch's abs has gradient 0 at 0
    }

    /// The QuantConv2d of the fixture, with its weight, bias and Brevitas's 4-bit per-channel
    /// weight quantizer (narrow_range False, scale taken once from the weight).
    func conv() throws -> QuantConv2d {
        let c = fixture["conv"]
        let wq = WeightQuant.int8WeightPerChannelFloat.with(\.bitWidth, 4).with(\.narrowRange, false).with(\.scalingImplType, .parameterFromStats)
        let l = try QuantConv2d(2, 3, kernelSize: 3, padding: 1, bias: true, weightQuant: wq)
        l.weight.assign(c.t("weight"))
        l.bias!.assign(c.t("bias"))
        l.eval()
        return l
    }

    /// 300 Adam steps of the trainer's loss (`round_reg` + `mse(reduction='none').sum(1).mean()`)
    /// on one cached example give Brevitas's loss trace, final parameters, and hardened weight.
    @Test func trainingMatchesBrevitas() throws {
        let c = fixture["conv"]
        let l = try conv()
        expectClose(l.quantWeight().value, c.t("quant_weight_nearest"), rtol: 0, atol: 0, "nearest weight")
        let tq = try LearnedRoundLayers.checkedQuantizer(l, "conv")
        let options = LearnedRoundOptions(iterations: c.int("steps"), learningRate: Float(c.double("lr")), batchSize: 1)
        var trainer = try LearnedRoundTrainer(layer: l, quantizer: tq, name: "conv", options: options)
        expectClose(trainer.value, c.t("init_value"), rtol: 1e-5, atol: 1e-5, "init value")
        let cache = LearnedRoundCache(inputs: c.t("x"), inputQuant: nil, targets: c.t("target"))
        var losses: [Double] = []
        var reported: [Int] = []
        try trainer.train(cache) { i, loss in reported.append(i); losses.append(loss) }
        #expect(reported == Array(stride(from: 50, through: 300, by: 50)))
        let expected = c.doubles("losses")
        for (k, i) in reported.enumerated() {
            let e = expected[i - 1]
            #expect(abs(losses[k] - e) <= 1e-3 * e + 1e-7, "loss at step \(i): \(losses[k]) vs Brevitas \(e)")
        }
        #expect(abs(trainer.initialLoss - expected[0]) <= 1e-4 * expected[0])
        expectClose(trainer.value, c.t("final_value"), rtol: 2e-3, atol: 2e-3, "final v")
        let report = try trainer.harden()
        expectClose(l.weight, c.t("hardened_weight"), rtol: 0, atol: 0, "hardened weight")
        expectClose(l.quantWeight().value, c.t("hardened_weight"), rtol: 0, atol: 0, "requantized hardened weight")
        expectClose(try l(c.t("x")), c.t("hardened_output"), rtol: 1e-5, atol: 1e-6, "hardened output")
        let flipped = zip(c.t("hardened_weight").scalars, c.t("quant_weight_nearest").scalars).filter { $0 != $1 }.count
        #expect(report.weights == 54 && report.flipped == flipped && flipped > 0)
    }

    /// The block loss: squared error summed over channels, averaged over batch and positions
    /// (the fixture's soft output at initialisation is the layer's float output up to clamping).
    @Test func outputLossMatchesBrevitas() throws {
        let c = fixture["conv"]
        let loss = LearnedRoundTrainer.outputLoss(c.t("soft_output"), c.t("target"), .regularisedMSE)
        #expect(abs(Double(loss.item()) - c.double("mse_initial")) <= 1e-5 * c.double("mse_initial"))
        let a = Tensor(shape: [2, 2], [1, 2, 3, 4]), b = Tensor(shape: [2, 2], [0, 0, 0, 0])
        #expect(LearnedRoundTrainer.outputLoss(a, b, .regularisedMSE).item() == Float(1 + 4 + 9 + 16) / 2)
        #expect(LearnedRoundTrainer.outputLoss(a, b, .mse).item() == Float(1 + 4 + 9 + 16) / 4)
    }

    // MARK: The stage on a graph

    /// x -> conv -> relu -> flatten -> fc, float.
    func model() throws -> GraphModule {
        let gen = RandomGenerator(seed: 11)
        let g = GraphBuilder()
        let x = g.input("x")
        var h = g.call("relu", ReLU(), g.call("conv", Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, generator: gen), x))
        h = g.call("flatten", Flatten(), h)
        let m = try g.build(outputs: [g.call("fc", Linear(inFeatures: 4 * 16, outFeatures: 3, generator: gen), h)])
        m.eval()
        return m
    }

    func maps() -> QuantizeMaps {
        var maps = QuantizeMaps.default
        maps.setWeightBitWidth(3)
        maps.setPerChannelWeights()
        for (k, r) in maps.computeLayerMap {
            if let r { maps.computeLayerMap[k] = r.with("weight_narrow_range", .bool(false)).with("weight_scaling_impl_type", .string("parameter_from_stats")) }
        }
        return maps
    }

    /// On a `quantize()` graph: every weight ends on its quantizer's grid, each code is the
    /// floor or the ceiling of `w/s`, the float weights come back in the result, and a second
    /// run with the same seed gives the same weights.
    @Test func graphStageHardensOntoTheGrid() throws {
        let batches = (0..<3).map { RandomGenerator(seed: UInt64(20 + $0)).uniform([8, 1, 4, 4], low: 0, high: 1) }
        func run() throws -> (QuantGraphModule, LearnedRoundResult, [String: Tensor]) {
            let q = try quantize(try model(), maps: maps())
            try calibrate(q, batches: batches)
            var before: [String: Tensor] = [:]
            for n in ["conv", "fc"] { before[n] = (q.module(at: n) as! QuantWeightBiasLayer).weight.copy() }
            var seen: [String] = []
            let r = try learnedRoundMode(q, batches: batches, options: LearnedRoundOptions(iterations: 120, learningRate: 0.05)) { p in
                if seen.last != p.layer { seen.append(p.layer) }
            }
            #expect(seen == ["conv", "fc"])
            return (q, r, before)
        }
        let (q, r, before) = try run()
        #expect(r.layers.map(\.layer) == ["conv", "fc"])
        for name in ["conv", "fc"] {
            let l = q.module(at: name) as! QuantWeightBiasLayer
            let qt = l.quantWeight().quantTensor!
            #expect(qt.value.scalars == l.weight.scalars, "\(name): weight off the grid")
            #expect(r.floatWeights[ObjectIdentifier(l)]!.scalars == before[name]!.scalars)
            let ws = (before[name]! / qt.scale).scalars, codes = (l.weight / qt.scale).rounded().scalars
            for (c, x) in zip(codes, ws) {
                #expect(c == Foundation.floor(x) || c == Foundation.floor(x) + 1 || c == 3 || c == -4, "code \(c) for w/s = \(x)")
            }
        }
        let (q2, _, _) = try run()
        for name in ["conv", "fc"] {
            #expect((q.module(at: name) as! QuantWeightBiasLayer).weight.scalars == (q2.module(at: name) as! QuantWeightBiasLayer).weight.scalars)
        }
    }

    /// A weight scale recomputed from the weight at every call (scaling_impl_type stats) cannot
    /// keep a learned rounding stored in the weight: refused, naming the layer, before any change.
    @Test func refusesWeightDependentScales() throws {
        var m = QuantizeMaps.default
        m.setWeightBitWidth(4)
        let q = try quantize(try model(), maps: m)
        let batches = [RandomGenerator(seed: 3).uniform([4, 1, 4, 4])]
        try calibrate(q, batches: batches)
        let w = (q.module(at: "conv") as! QuantWeightBiasLayer).weight.copy()
        #expect {
            try learnedRoundMode(q, batches: batches, options: LearnedRoundOptions(iterations: 5))
        } throws: { e in
            "\(e)".contains("layer conv") && "\(e)".contains("recomputed from the weight") && "\(e)".contains("parameter_from_stats")
        }
        #expect((q.module(at: "conv") as! QuantWeightBiasLayer).weight.scalars == w.scalars)
    }

    /// Bad options are reported with the flag names, all at once.
    @Test func optionProblems() {
        var o = LearnedRoundOptions(iterations: 0, learningRate: -1, batchSize: 0)
        #expect(o.problems().count == 3)
        o = LearnedRoundOptions(iterations: 10, linearLearningRateDecay: true)
        #expect(o.learningRate(at: 0) == 1e-3 && abs(o.learningRate(at: 5) - 5e-4) < 1e-9)
    }
}
