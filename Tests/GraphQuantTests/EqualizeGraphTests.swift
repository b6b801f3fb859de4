import Foundation
import Graph
import GraphQuant
import NN
import TensorEngine
import Testing

/// Cross-layer equalization (`EqualizeGraph`): regions, the factor formula, bias shrinkage,
/// iterations, and that the float function survives.
@Suite struct EqualizeGraphTests {
    /// x -> conv1 -> relu -> pool -> dw (depthwise) -> relu -> conv2 -> out
    func convChain(seed: UInt64 = 3) throws -> GraphModule {
        let g = GraphBuilder()
        let x = g.input("x")
        var h = g.call("relu1", ReLU(), g.call("conv1", Conv2d(inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1), x))
        h = g.call("pool", MaxPool2d(kernelSize: 2), h)
        h = g.call("relu2", ReLU(), g.call("dw", Conv2d(inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1, groups: 4), h))
        let model = try g.build(outputs: [g.call("conv2", Conv2d(inChannels: 4, outChannels: 3, kernelSize: 1), h)])
        // Uneven channel ranges, so equalization has something to do.
        let rng = RandomGenerator(seed: seed)
        for (key, spread) in [("conv1.weight", [Float](arrayLiteral: 0.05, 3, 0.5, 8)), ("dw.weight", [0.2, 4, 1, 0.02])] {
            let w = try #require(model.tensor(at: key))
            let per = w.count / 4
            let u = rng.uniform(w.shape, low: -1, high: 1).scalars
            w.assign(Tensor(shape: w.shape, (0..<w.count).map { u[$0] * spread[$0 / per] }))
        }
        return model
    }

    @Test func regionsFollowScaleInvariantNodesAndStopAtTheOutput() throws {
        let regions = EqualizeGraph.regions(of: try convChain())
        #expect(regions.map(\.description) == ["srcs [\"conv1\"] -> sinks [\"dw\"]", "srcs [\"dw\"] -> sinks [\"conv2\"]"])
        // conv2 feeds the graph output: it starts no region.
        #expect(!regions.contains { $0.sourceNames == ["conv2"] })
    }

    /// A residual add joins both branches' sources and sinks in one region; a Sigmoid stops a
    /// region (it is not scale invariant).
    @Test func residualAddJoinsBranchesAndSigmoidBreaks() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let a = g.call("relu0", ReLU(), g.call("conv0", Conv2d(inChannels: 1, outChannels: 3, kernelSize: 1), x))
        let b = g.call("conv1", Conv2d(inChannels: 3, outChannels: 3, kernelSize: 1), a)
        let s = g.op(.add, b, a, name: "add1")
        let c = g.call("conv2", Conv2d(inChannels: 3, outChannels: 3, kernelSize: 1), g.call("relu1", ReLU(), s))
        let model = try g.build(outputs: [g.call("fc", Conv2d(inChannels: 3, outChannels: 2, kernelSize: 1), g.call("sig", Sigmoid(), c))])
        let regions = EqualizeGraph.regions(of: model)
        #expect(regions.map(\.sourceNames) == [["conv0", "conv1"]])
        #expect(regions.map(\.sinkNames) == [["conv1", "conv2"]])
    }

    /// One region by hand: `s = sqrt(r_sink) / sqrt(r_src)` without bias merging; the source's
    /// rows are multiplied by `s`, the sink's columns by `1/s`.
    @Test func factorsFollowTheFormula() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let fc1 = Linear(2, 2), fc2 = Linear(2, 1)
        fc1.weight.assign(Tensor(shape: [2, 2], [4, -1, 0.5, 0.25]))
        fc1.bias!.assign(Tensor([100, -0.1]))
        fc2.weight.assign(Tensor(shape: [1, 2], [1, -9]))
        let h = g.call("relu", ReLU(), g.call("fc1", fc1, x))
        let model = try g.build(outputs: [g.call("out", ReLU(), g.call("fc2", fc2, h))])
        let (regions, iterations) = EqualizeGraph(iterations: 1, mergeBias: false).apply(to: model)
        #expect(regions.count == 1 && iterations == 1)
        let s: [Float] = [Float(1).squareRoot() / Float(4).squareRoot(), Float(9).squareRoot() / Float(0.5).squareRoot()]
        #expect(fc1.weight.scalars == [4 * s[0], -1 * s[0], 0.5 * s[1], 0.25 * s[1]])
        #expect(fc1.bias!.scalars == [100 * s[0], -0.1 * s[1]])
        #expect(fc2.weight.scalars == [1 * (1 / s[0]), -9 * (1 / s[1])])
    }

    /// Vitis AI's shrink factor: a small bias next to larger weights divides by 2; a bias of 20
    /// with median |b|/|w| 20 (the lower middle of 20 and 38) divides by 10; a bias of 40
    /// (median 40 > 30) by 20.
    @Test func biasShrinkageTable() throws {
        let l = Linear(1, 2)
        l.weight.assign(Tensor(shape: [2, 1], [1, 0.5]))
        l.bias!.assign(Tensor([3, 1]))
        let layer = try #require(EqualizableLayer(l))
        #expect(CrossLayerEqualization.sourceRange(layer, mergeBias: true, shrinkage: .vaiq) == [1.5, 0.5])  // max(|w|, |b|/2)
        l.bias!.assign(Tensor([20, 19]))
        #expect(CrossLayerEqualization.sourceRange(layer, mergeBias: true, shrinkage: .vaiq) == [2, 1.9])  // b/10
        l.bias!.assign(Tensor([40, 39]))
        #expect(CrossLayerEqualization.sourceRange(layer, mergeBias: true, shrinkage: .vaiq) == [2, 1.95])  // b/20
        #expect(CrossLayerEqualization.sourceRange(layer, mergeBias: false, shrinkage: .vaiq) == [1, 0.5])
        #expect(CrossLayerEqualization.sourceRange(layer, mergeBias: true, shrinkage: .fixed(4)) == [10, 9.75])
    }

    /// Iterating converges: afterwards each region's source and sink ranges agree (within the
    /// threshold), the float outputs are unchanged up to rounding, and a zero channel is left alone.
    @Test func iterationsConvergeAndPreserveTheFunction() throws {
        let model = try convChain()
        model.eval()
        let x = RandomGenerator(seed: 9).uniform([2, 2, 6, 6], low: -1, high: 1)
        let before = model(x).scalars
        let (regions, iterations) = EqualizeGraph(iterations: 50, mergeBias: false).apply(to: model)
        #expect(iterations > 1 && iterations < 50)
        let after = model(x).scalars
        let m = before.map(abs).max()!
        for (a, b) in zip(after, before) { #expect(abs(a - b) <= 1e-5 * m) }
        for r in regions {
            let src = CrossLayerEqualization.sourceRange(try #require(EqualizableLayer(model.module(at: r.sourceNames[0])!)), mergeBias: false, shrinkage: .vaiq)
            let sinkLayer = try #require(EqualizableLayer(model.module(at: r.sinkNames[0])!))
            let sink = EqualizableLayer.channelMaxAbs(sinkLayer.weight.scalars, shape: sinkLayer.weight.shape, axis: sinkLayer.inputAxis!)
            for (a, b) in zip(src, sink) { #expect(abs(a / b - 1) < 0.11, "\(r): \(src) vs \(sink)") }
        }
        // A dead source channel (all zero) keeps factor 1.
        let dead = try convChain()
        let w = try #require(dead.tensor(at: "conv1.weight"))
        var v = w.scalars
        for i in 0..<(v.count / 4) { v[i] = 0 }
        w.assign(Tensor(shape: w.shape, v))
        try #require(dead.tensor(at: "conv1.bias")).assign(Tensor([0, 0.1, 0.2, 0.3]))
        let first = try #require(EqualizeGraph.regions(of: dead).first)
        let s = try #require(CrossLayerEqualization.equalize(dead, first, mergeBias: true))
        #expect(s[0] == 1 && s[1] != 1)
    }

    /// `preprocessForQuantize` runs it after the BatchNorm merge.
    @Test func preprocessRunsEqualization() throws {
        let plain = try convChain(), equalized = try convChain()
        try preprocessForQuantize(plain)
        try preprocessForQuantize(equalized, options: PreprocessOptions(equalizeIterations: 3))
        #expect(plain.tensor(at: "conv1.weight")!.scalars != equalized.tensor(at: "conv1.weight")!.scalars)
    }
}
