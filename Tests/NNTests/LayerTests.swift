import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// The fixture's MLP written as a user module: its state-dict keys are the fixture's.
final class FixtureMLP: Module, Layer {
    let fc1 = Linear(8, 5), fc2 = Linear(5, 3)
    override init() {
        super.init()
        registerModule("fc1", fc1)
        registerModule("fc2", fc2)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
}

/// Loads `weight`/`bias` from a fixture into `layer`, runs it on a leaf copy of `x`, back-propagates
/// the fixture's `g` and compares output and gradients.
func checkLayer(
    _ layer: some Layer, _ f: Fixture, _ name: String, rtol: Float = 1e-4, atol: Float = 1e-5,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var sd: StateDict = ["weight": f.t("weight")]
    if let b = f.tensor("bias") { sd["bias"] = b }
    try layer.loadStateDict(sd)
    let x = leaf(f.t("x"))
    let out = layer(x)
    out.backward(f.t("g"))
    expectClose(out, f.t("out"), rtol: rtol, atol: atol, "\(name) out", sourceLocation: sourceLocation)
    expectClose(x.grad, f.t("grad_x"), rtol: rtol, atol: atol, "\(name) grad_x", sourceLocation: sourceLocation)
    expectClose(layer.tensor(at: "weight")?.grad, f.t("grad_weight"), rtol: rtol, atol: atol, "\(name) grad_weight", sourceLocation: sourceLocation)
    expectClose(layer.tensor(at: "bias")?.grad, f.tensor("grad_bias"), rtol: rtol, atol: atol, "\(name) grad_bias", sourceLocation: sourceLocation)
}

@Suite struct LayerTests {
    @Test func linearMatchesPyTorch() throws {
        for c in try Fixture("engine", "linear").cases() {
            let w = c.t("weight")
            try checkLayer(Linear(w.shape[1], w.shape[0], bias: c.has("bias")), c, c.string("name"))
        }
    }

    @Test func mlpForwardAndGradientsMatchPyTorch() throws {
        let f = try Fixture("nn", "mlp")
        let model = FixtureMLP()
        try model.loadStateDict(StateDict(f["params"].json.keys.sorted().map { ($0, f["params"].t($0)) }))
        let x = leaf(f.t("x"))
        expectClose(model.fc1(x), f.t("hidden_pre_relu"), "hidden")
        let out = model(x)
        expectClose(out, f.t("out"), "out")
        out.backward(f.t("g"))
        expectClose(x.grad, f.t("grad_x"), "grad_x")
        for (name, p) in model.namedParameters() { expectClose(p.grad, f["grads"].t(name), name) }
    }

    static let conv2dCases = [
        "conv2d_basic", "conv2d_stride2_pad1", "conv2d_dilation2", "conv2d_groups2", "conv2d_kernel2x3_bias",
        "conv2d_nobias", "conv2d_asymmetric", "conv2d_depthwise",
    ]

    @Test(arguments: conv2dCases)
    func conv2dMatchesPyTorch(_ name: String) throws {
        let f = try Fixture("engine", name)
        let config = f["config"], w = f.t("weight")
        let groups = config.int("groups")
        func pair(_ key: String) -> IntOrPair {
            let v = (config.json[key] as! [NSNumber]).map(\.intValue)
            return IntOrPair(v[0], v[1])
        }
        let conv = Conv2d(
            inChannels: w.shape[1] * groups, outChannels: w.shape[0], kernelSize: IntOrPair(w.shape[2], w.shape[3]),
            stride: pair("stride"), padding: pair("padding"), dilation: pair("dilation"), groups: groups,
            bias: f.has("bias"))
        try checkLayer(conv, f, name, rtol: 1e-4, atol: 1e-4)
    }

    @Test(arguments: ["conv1d_basic", "conv1d_stride2_pad1_dil2_nobias"])
    func conv1dMatchesPyTorch(_ name: String) throws {
        let f = try Fixture("engine", name)
        let config = f["config"], w = f.t("weight")
        func first(_ key: String) -> Int { (config.json[key] as! [NSNumber])[0].intValue }
        let groups = config.int("groups")
        let conv = Conv1d(
            inChannels: w.shape[1] * groups, outChannels: w.shape[0], kernelSize: w.shape[2], stride: first("stride"),
            padding: first("padding"), dilation: first("dilation"), groups: groups, bias: f.has("bias"))
        try checkLayer(conv, f, name, rtol: 1e-4, atol: 1e-4)
    }

    @Test func defaultInitialisationIsPyTorchs() {
        let generator = RandomGenerator(seed: 3)
        for (layer, fanIn) in [
            (Linear(inFeatures: 200, outFeatures: 100, generator: generator) as Module, 200),
            (Conv2d(inChannels: 8, outChannels: 64, kernelSize: 3, groups: 2, generator: generator), 36),
            (Conv1d(inChannels: 6, outChannels: 40, kernelSize: 5, generator: generator), 30),
        ] {
            let bound = 1 / Float(fanIn).squareRoot()
            for (name, p) in layer.namedParameters() {
                let v = p.scalars
                #expect(v.allSatisfy { abs($0) <= bound }, "\(layer.typeName).\(name) exceeds ±\(bound)")
                if name == "weight" {
                    // Uniform on ±bound: standard deviation bound/√3.
                    let std = (v.map { $0 * $0 }.reduce(0, +) / Float(v.count)).squareRoot()
                    #expect(abs(std - bound / Float(3).squareRoot()) < 0.05 * bound, "\(layer.typeName) std \(std)")
                }
            }
        }
        let a = Linear(inFeatures: 3, outFeatures: 2, generator: RandomGenerator(seed: 9))
        let b = Linear(inFeatures: 3, outFeatures: 2, generator: RandomGenerator(seed: 9))
        #expect(a.weight.isEqual(to: b.weight) && a.bias!.isEqual(to: b.bias!), "seeded initialisation is reproducible")
        // The shared helper draws the weight, then the bias, and the layers use it.
        let g = RandomGenerator(seed: 5)
        let (w, bias) = DefaultInitialization.weightAndBias(weightShape: [4, 3, 2, 2], bias: true, generator: RandomGenerator(seed: 5))
        let bound = 1 / Float(3 * 2 * 2).squareRoot()
        #expect(w.isEqual(to: g.kaimingUniform([4, 3, 2, 2])) && bias!.isEqual(to: g.uniform([4], low: -bound, high: bound)))
        let conv = Conv2d(inChannels: 3, outChannels: 4, kernelSize: 2, generator: RandomGenerator(seed: 5))
        #expect(conv.weight.isEqual(to: w) && conv.bias!.isEqual(to: bias!))
        #expect(DefaultInitialization.weightAndBias(weightShape: [2, 3], bias: false, generator: g).bias == nil)
    }

    @Test func layerDescriptionsMatchPyTorch() {
        #expect(Conv2d(1, 8, kernelSize: 3).description == "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1))")
        #expect(Conv2d(4, 8, kernelSize: [2, 3], stride: 2, padding: 1, dilation: 2, groups: 2, bias: false).description
            == "Conv2d(4, 8, kernel_size=(2, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=2, bias=False)")
        #expect(Conv1d(3, 4, kernelSize: 3, padding: 1).description == "Conv1d(3, 4, kernel_size=(3,), stride=(1,), padding=(1,))")
        #expect(Linear(4, 2, bias: false).description == "Linear(in_features=4, out_features=2, bias=False)")
        #expect(ReLU().description == "ReLU()")
    }

    @Test func activationsAndShapes() {
        let x = leaf(Tensor([-2, -0.5, 0, 0.5, 2]))
        #expect(HardTanh()(x).scalars == [-1, -0.5, 0, 0.5, 1])
        HardTanh(minValue: -1, maxValue: 1)(x).sum().backward()
        #expect(x.grad!.scalars == [0, 1, 1, 1, 0])
        #expect(ReLU()(x).scalars == [0, 0, 0, 0.5, 2])
        expectClose(Sigmoid()(Tensor([0])), Tensor([0.5]))
        expectClose(Tanh()(Tensor([0.5])), Tensor([Float(0.46211716)]))
        #expect(Identity()(x) === x)
        #expect(Flatten()(Tensor.zeros([2, 3, 4, 5])).shape == [2, 60])
        #expect(Flatten(startDim: 0, endDim: 1)(Tensor.zeros([2, 3, 4])).shape == [6, 4])
    }
}

@Suite struct PoolingLayerTests {
    func pair(_ f: Fixture, _ key: String) -> IntOrPair {
        let v = (f.json[key] as! [NSNumber]).map(\.intValue)
        return IntOrPair(v[0], v[1])
    }

    func check(_ layer: some Layer, _ c: Fixture, sourceLocation: SourceLocation = #_sourceLocation) {
        let x = leaf(c.t("x"))
        let out = layer(x)
        out.backward(c.t("g"))
        expectClose(out, c.t("out"), "\(c.string("name")) out", sourceLocation: sourceLocation)
        expectClose(x.grad, c.t("grad_x"), "\(c.string("name")) grad_x", sourceLocation: sourceLocation)
    }

    @Test func maxPoolMatchesPyTorch() throws {
        for c in try Fixture("engine", "maxpool2d").cases() {
            check(MaxPool2d(kernelSize: pair(c, "kernel"), stride: pair(c, "stride"), padding: pair(c, "padding")), c)
        }
    }

    @Test func avgPoolMatchesPyTorch() throws {
        for c in try Fixture("engine", "avgpool2d").cases() {
            check(AvgPool2d(kernelSize: pair(c, "kernel"), stride: pair(c, "stride"), padding: pair(c, "padding"),
                            countIncludePad: c.json["count_include_pad"] as! Bool), c)
        }
    }

    @Test func adaptiveAvgPoolMatchesPyTorch() throws {
        for c in try Fixture("engine", "adaptive_avgpool2d").cases() {
            check(AdaptiveAvgPool2d(outputSize: pair(c, "output_size")), c)
        }
    }

    @Test func descriptions() {
        #expect(MaxPool2d(kernelSize: 2).description == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
        #expect(AvgPool2d(kernelSize: [2, 3], stride: 1).description == "AvgPool2d(kernel_size=(2, 3), stride=1, padding=0)")
        #expect(AvgPool2d(kernelSize: 3, padding: 1, countIncludePad: false).description
            == "AvgPool2d(kernel_size=3, stride=3, padding=1, count_include_pad=False)")
        #expect(MaxPool2d(kernelSize: 3, stride: 1, dilation: 2).description
            == "MaxPool2d(kernel_size=3, stride=1, padding=0, dilation=2, ceil_mode=False)")
        #expect(AdaptiveAvgPool2d(outputSize: [1, 1]).description == "AdaptiveAvgPool2d(output_size=(1, 1))")
    }
}

@Suite struct NormalizationAndLossTests {
    @Test func batchNorm2dTrainAndEvalMatchPyTorch() throws {
        let f = try Fixture("engine", "batchnorm2d")
        let train = f["train"], evalCase = f["eval"]
        let bn = BatchNorm2d(numFeatures: 3, eps: Float(f.double("eps")), momentum: Float(f.double("momentum")))
        try bn.loadStateDict([
            "weight": train.t("weight"), "bias": train.t("bias"), "running_mean": train.t("running_mean_before"),
            "running_var": train.t("running_var_before"), "num_batches_tracked": Tensor(0),
        ])
        let x = leaf(train.t("x"))
        let out = bn(x)
        out.backward(train.t("g"))
        expectClose(out, train.t("out"), "train out")
        expectClose(x.grad, train.t("grad_x"), rtol: 1e-3, atol: 1e-4, "train grad_x")
        expectClose(bn.weight!.grad, train.t("grad_weight"), rtol: 1e-3, atol: 1e-4, "train grad_weight")
        expectClose(bn.bias!.grad, train.t("grad_bias"), rtol: 1e-3, atol: 1e-4, "train grad_bias")
        expectClose(bn.runningMean, train.t("running_mean_after"), "running_mean")
        expectClose(bn.runningVar, train.t("running_var_after"), "running_var")
        #expect(bn.numBatchesTracked!.item() == 1)

        bn.eval()
        bn.zeroGrad()
        let xe = leaf(evalCase.t("x"))
        let outE = bn(xe)
        outE.backward(evalCase.t("g"))
        expectClose(outE, evalCase.t("out"), "eval out")
        expectClose(xe.grad, evalCase.t("grad_x"), "eval grad_x")
        expectClose(bn.weight!.grad, evalCase.t("grad_weight"), rtol: 1e-3, atol: 1e-4, "eval grad_weight")
        #expect(bn.numBatchesTracked!.item() == 1, "eval does not count batches")
        expectClose(bn.runningMean, train.t("running_mean_after"), "eval leaves running stats")
    }

    @Test func batchNormVariants() throws {
        let bn = BatchNorm1d(numFeatures: 2, momentum: nil, affine: false)
        #expect(bn.stateDict().keys == ["running_mean", "running_var", "num_batches_tracked"])
        _ = bn(Tensor(shape: [2, 2], [0, 0, 2, 4]))
        _ = bn(Tensor(shape: [2, 2], [4, 0, 6, 0]))
        // Cumulative average of the batch means (1, 2) and (5, 0).
        #expect(bn.runningMean!.scalars == [3, 1])
        let untracked = BatchNorm2d(numFeatures: 1, trackRunningStats: false)
        untracked.eval()
        #expect(untracked.stateDict().keys == ["weight", "bias"])
        expectClose(untracked(Tensor(shape: [1, 1, 1, 2], [1, 3])), Tensor(shape: [1, 1, 1, 2], [-1, 1]), atol: 1e-4)
        #expect(BatchNorm2d(16).description == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
        #expect(BatchNorm1d(numFeatures: 4, momentum: nil).description
            == "BatchNorm1d(4, eps=1e-05, momentum=None, affine=True, track_running_stats=True)")
    }

    @Test func dropoutFollowsTheTrainingFlag() {
        let x = Tensor.ones([1000])
        let drop = Dropout(p: 0.25, generator: RandomGenerator(seed: 1))
        let y = drop(x).scalars
        #expect(Set(y) == [0, Float(4) / 3])
        #expect(abs(Float(y.filter { $0 == 0 }.count) / 1000 - 0.25) < 0.05)
        #expect(Dropout(p: 0.25, generator: RandomGenerator(seed: 1))(x).scalars == y, "seeded masks repeat")
        let model = Sequential(Linear(4, 4), Dropout())
        model.eval()
        let input = Tensor.ones([2, 4])
        #expect(model(input).isEqual(to: model[0](input)))
        #expect(Dropout(p: 0.1).description == "Dropout(p=0.1, inplace=False)")
    }

    @Test func crossEntropyMatchesPyTorch() throws {
        let f = try Fixture("engine", "cross_entropy")
        let targets = f.ints("targets")
        for (reduction, key) in [(LossReduction.mean, "mean"), (.sum, "sum")] {
            let logits = leaf(f.t("logits"))
            let loss = CrossEntropyLoss(reduction: reduction)(logits, targets)
            loss.backward()
            expectClose(loss, f[key].t("loss"), key)
            expectClose(logits.grad, f[key].t("grad_logits"), key)
        }
        let mlp = try Fixture("nn", "mlp")
        let model = FixtureMLP()
        try model.loadStateDict(StateDict(mlp["params"].json.keys.sorted().map { ($0, mlp["params"].t($0)) }))
        let loss = CrossEntropyLoss()(model(mlp.t("x")), mlp.ints("ce_targets"))
        loss.backward()
        expectClose(loss, mlp.t("ce_loss"), "mlp ce")
        for (name, p) in model.namedParameters() { expectClose(p.grad, mlp["ce_grads"].t(name), name) }
    }

    @Test func mseMatchesPyTorch() throws {
        let f = try Fixture("engine", "mse_loss")
        for (reduction, key) in [(LossReduction.mean, "mean"), (.sum, "sum")] {
            let input = leaf(f.t("input")), target = leaf(f.t("target"))
            let loss = MSELoss(reduction: reduction)(input, target)
            loss.backward()
            expectClose(loss, f[key].t("loss"), key)
            expectClose(input.grad, f[key].t("grad_input"), key)
            expectClose(target.grad, f[key].t("grad_target"), key)
        }
    }
}
