import Foundation
import Graph
import GraphQuant
import NN
import PTQ
import QuantNN
import TensorEngine
import Testing

/// Activation equalization (SmoothQuant-style), layerwise and over graph regions.
@Suite struct ActivationEqualizationTests {
    /// x -> fc1 -> relu -> fc2 -> relu -> fc3
    func mlp() throws -> GraphModule {
        let g = GraphBuilder()
        let x = g.input("x")
        var h = g.call("relu1", ReLU(), g.call("fc1", Linear(3, 4), x))
        h = g.call("relu2", ReLU(), g.call("fc2", Linear(4, 4), h))
        let model = try g.build(outputs: [g.call("fc3", Linear(4, 2), h)])
        model.eval()
        return model
    }

    let batches = [Tensor(shape: [2, 3], [1, -2, 0.5, 0.25, 0.5, -4]), Tensor(shape: [2, 3], [-3, 0, 0.1, 0, 1, 0])]

    /// Layerwise: `s = r^(1-alpha) / a^alpha` from the input maxima over both batches and the
    /// weight's column maxima; the layer is wrapped behind `x · s` and its columns divided by `s`.
    @Test func layerwiseFactorsAndWrapper() throws {
        let model = try mlp()
        let w = model.tensor(at: "fc1.weight")!.scalars
        let x = RandomGenerator(seed: 4).uniform([5, 3], low: -2, high: 2)
        let before = model(x).scalars
        let alpha = 0.35
        let report = try activationEqualization(model, batches: batches, alpha: alpha, scope: .layerwise)
        #expect(report.equalized.count == 3 && report.skipped.isEmpty)
        let e = try #require(model.module(at: "fc1") as? EqualizedModule)
        let a: [Float] = [3, 2, 4]
        let r = (0..<3).map { c in (0..<4).map { abs(w[$0 * 3 + c]) }.max()! }
        let s = (0..<3).map { c in Foundation.pow(r[c], Float(1 - alpha)) / Foundation.pow(a[c], Float(alpha)) }
        #expect(e.scale.weight.scalars == s)
        #expect(e.scale.channelAxis == -1)
        #expect(model.tensor(at: "fc1.layer.weight")!.scalars == (0..<12).map { w[$0] * (1 / s[$0 % 3]) })
        let after = model(x).scalars
        let m = before.map(abs).max()!
        for (p, q) in zip(after, before) { #expect(abs(p - q) <= 1e-5 * m) }
    }

    /// The `w4a8+act_eq` quirk: Brevitas's FX `quantize` matches layers by class, so the
    /// wrappers hide them and no weight is quantized; `layerwiseQuantize` reaches inside.
    @Test func fxQuantizeLeavesWrappedLayersFloat() throws {
        let fx = try mlp()
        try preprocessForQuantize(fx)
        _ = try activationEqualization(fx, batches: batches, alpha: 0.5)
        let q = try quantize(fx)
        try calibrate(q, batches: batches)
        let keys = try q.quantizationPoints(on: batches[0]).map(\.key)
        #expect(keys == ["output of relu1", "output of relu2", "output of x"])
        #expect(q.module(at: "fc1.layer") is Linear)
        let lw = try mlp()
        _ = try activationEqualization(lw, batches: batches, alpha: 0.5)
        let ql = try layerwiseQuantize(lw)
        #expect(ql.module(at: "fc1.layer") is QuantLinear)
        try calibrate(ql, batches: batches)
        #expect(try ql.quantizationPoints(on: batches[0]).filter { $0.key.hasPrefix("weight of") }.allSatisfy { $0.calls == 1 })
    }

    /// Graph regions: the factor folds into the source's rows and bias, the sink's columns are
    /// divided by it, no wrapper is added, and the function is unchanged.
    @Test func graphScopeFoldsIntoTheSource() throws {
        let model = try mlp()
        let w1 = model.tensor(at: "fc1.weight")!.scalars, b1 = model.tensor(at: "fc1.bias")!.scalars
        let x = RandomGenerator(seed: 5).uniform([5, 3], low: -2, high: 2)
        let before = model(x).scalars
        let report = try activationEqualization(model, batches: batches, alpha: 0.5, scope: .graph)
        #expect(report.equalized.map(\.region.sourceNames) == [["fc1"], ["fc2"]])
        #expect(model.module(at: "fc1") is Linear)
        let s = report.equalized[0].factors
        #expect(model.tensor(at: "fc1.weight")!.scalars == (0..<12).map { w1[$0] * s[$0 / 3] })
        #expect(model.tensor(at: "fc1.bias")!.scalars == (0..<4).map { b1[$0] * s[$0] })
        let after = model(x).scalars
        let m = before.map(abs).max()!
        for (p, q) in zip(after, before) { #expect(abs(p - q) <= 1e-5 * m) }
    }

    /// A conv feeding a Linear through a flatten has no common channel axis: left alone.
    @Test func convToLinearRegionIsSkipped() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let h = g.op(.flatten(startDim: 1, endDim: -1), g.call("relu", ReLU(), g.call("conv", Conv2d(inChannels: 1, outChannels: 2, kernelSize: 1), x)))
        let model = try g.build(outputs: [g.call("fc", Linear(2, 3), h)])
        model.eval()
        let report = try activationEqualization(model, batches: [RandomGenerator(seed: 1).uniform([2, 1, 1, 1], low: -1, high: 1)], scope: .graph)
        #expect(report.equalized.isEmpty && report.skipped.count == 1)
    }

    /// The structure for loading a saved state: the same wrappers, multipliers 1, the function
    /// unchanged; loading the equalized state gives the equalized model.
    @Test func wrappersForLoading() throws {
        let saved = try mlp()
        _ = try activationEqualization(saved, batches: batches, alpha: 0.5)
        let fresh = try mlp()
        let x = RandomGenerator(seed: 6).uniform([4, 3], low: -1, high: 1)
        let before = fresh(x).scalars
        #expect(wrapForActivationEqualization(fresh) == ["fc1", "fc2", "fc3"])
        #expect(fresh(x).scalars == before)
        #expect(fresh.namedParameters().map(\.name) == saved.namedParameters().map(\.name))
        for (k, t) in saved.namedParameters() { fresh.tensor(at: k)!.assign(t) }
        #expect(fresh(x).scalars == saved(x).scalars)
    }

    @Test func badOptionsAreErrors() throws {
        #expect(throws: PTQError.invalidOption("activation equalization alpha 1.5: use a value in [0, 1] (SmoothQuant uses 0.5)")) {
            try activationEqualization(try mlp(), batches: batches, alpha: 1.5)
        }
        #expect(throws: PTQError.invalidOption("activation equalization needs at least one calibration batch")) {
            try activationEqualization(try mlp(), batches: [])
        }
    }
}
