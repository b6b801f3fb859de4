import NN
import Testing
import TensorEngine

/// A user module written the documented way: stored properties plus explicit registration, a
/// buffer, a non-persistent buffer, a counter saved as extra state and a custom repr.
final class Block: Module, Layer {
    let conv: Linear
    let act = ReLU()
    let scale: Tensor
    let runningMax = Tensor(0)
    let scratch = Tensor.zeros([2])
    var counter = 0
    var modeChanges: [Bool] = []

    init(_ features: Int) {
        conv = Linear(features, features)
        scale = Tensor(shape: [1], [1])
        super.init()
        registerModule("conv", conv)
        registerModule("act", act)
        registerParameter("scale", scale)
        registerBuffer("running_max", runningMax)
        registerBuffer("scratch", scratch, persistent: false)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        counter += 1
        return act(conv(x)) * scale
    }

    override func extraState() -> StateDict { ["counter": Tensor(Float(counter))] }
    override func loadExtraState(_ state: StateDict) {
        if let c = state["counter"] { counter = Int(c.item()) }
    }
    override func didSetTraining(_ training: Bool) { modeChanges.append(training) }
    override var extraRepr: String { "features=\(conv.inFeatures)" }
}

@Suite struct ModuleTests {
    func model() -> Sequential {
        Sequential(named: ["features": Sequential(Block(3), Identity(), Block(3)), "head": Linear(3, 2)])
    }

    @Test func stateDictKeysAreDottedInPyTorchOrder() {
        let m = model()
        #expect(m.stateDict().keys == [
            "features.0.scale", "features.0.running_max", "features.0.counter",
            "features.0.conv.weight", "features.0.conv.bias",
            "features.2.scale", "features.2.running_max", "features.2.counter",
            "features.2.conv.weight", "features.2.conv.bias",
            "head.weight", "head.bias",
        ])
        #expect(m.namedParameters().map(\.name) == [
            "features.0.scale", "features.0.conv.weight", "features.0.conv.bias",
            "features.2.scale", "features.2.conv.weight", "features.2.conv.bias", "head.weight", "head.bias",
        ])
        #expect(m.namedBuffers().map(\.name) == [
            "features.0.running_max", "features.0.scratch", "features.2.running_max", "features.2.scratch",
        ])
        #expect(m.parameters().allSatisfy { $0.requiresGrad })
        #expect(m.children.map(\.name) == ["features", "head"])
        #expect(m.tensor(at: "features.2.conv.bias") === (m.module(at: "features.2") as! Block).conv.bias)
        #expect(m.module(at: "features.9") == nil)
    }

    @Test func trainAndEvalReachEveryChild() {
        let m = model()
        #expect(m.modules().count == 10)
        m.eval()
        #expect(m.modules().allSatisfy { !$0.training })
        m.train()
        #expect(m.modules().allSatisfy { $0.training })
        m.module(at: "features")!.train(false)
        #expect(m.training && m.module(at: "head")!.training)
        #expect(!m.module(at: "features.0.act")!.training)
        #expect((m.module(at: "features.0") as! Block).modeChanges == [false, true, false])
    }

    @Test func descriptionIsPyTorchLike() {
        let m = model()
        #expect(m.description == """
            Sequential(
              (features): Sequential(
                (0): Block(
                  features=3
                  (conv): Linear(in_features=3, out_features=3, bias=True)
                  (act): ReLU()
                )
                (1): Identity()
                (2): Block(
                  features=3
                  (conv): Linear(in_features=3, out_features=3, bias=True)
                  (act): ReLU()
                )
              )
              (head): Linear(in_features=3, out_features=2, bias=True)
            )
            """)
        #expect(HardTanh().description == "HardTanh(min_val=-1.0, max_val=1.0)")
        #expect(Flatten().description == "Flatten(start_dim=1, end_dim=-1)")
    }

    @Test func zeroGradClearsEveryParameter() {
        let m = model()
        let y = m(Tensor.ones([2, 3])).sum()
        y.backward()
        #expect(m.parameters().allSatisfy { $0.grad != nil })
        m.zeroGrad()
        #expect(m.parameters().allSatisfy { $0.grad == nil })
    }

    @Test func sharedParametersAreListedOnce() {
        let fc = Linear(2, 2)
        let m = Sequential(fc, ReLU(), fc)
        #expect(m.parameters().count == 2)
        #expect(m.stateDict().keys == ["0.weight", "0.bias", "2.weight", "2.bias"])
    }

    @Test func setModuleSwapsADescendantInPlace() {
        let m = model()
        m.setModule(Linear(3, 3, bias: false), at: "features.1")
        #expect(m.module(at: "features.1") is Linear)
        #expect(m.stateDict().keys.contains("features.1.weight"))
        #expect(m.module(at: "features")!.children.map(\.name) == ["0", "1", "2"])
        #expect(m(Tensor.ones([2, 3])).shape == [2, 2])
    }

    @Test func sequentialIndexingAndReplacement() {
        let m = Sequential(Linear(4, 3), ReLU())
        m[1] = Sigmoid()
        m.append(Linear(3, 1))
        #expect(m.count == 3)
        #expect(m[1] is Sigmoid)
        #expect(m.stateDict().keys == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(m(Tensor.zeros([5, 4])).shape == [5, 1])
    }

    @Test func stateDictRoundTripRestoresValuesAndExtraState() throws {
        let a = model(), b = model()
        let block = a.module(at: "features.0") as! Block
        _ = block(Tensor.ones([1, 3]))
        _ = block(Tensor.ones([1, 3]))
        try b.loadStateDict(a.stateDict())
        for (key, t) in a.stateDict() { #expect(b.stateDict()[key]!.scalars == t.scalars, "\(key)") }
        #expect((b.module(at: "features.0") as! Block).counter == 2)
        #expect((b.module(at: "features.2") as! Block).counter == 0)
    }

    @Test func loadReportsEveryProblemAtOnceAndChangesNothing() throws {
        let m = model()
        let before = m.stateDict().entries.map { ($0.key, $0.tensor.copy()) }
        var sd = model().stateDict()
        sd["features.0.conv.weight"] = Tensor.zeros([3, 4])
        sd["head.bias"] = Tensor.zeros([3])
        sd["features.2.running_max"] = nil
        sd["extra.weight"] = Tensor.zeros([1])
        let error = try #require(throws: StateDictError.self) { try m.loadStateDict(sd) }
        #expect(error.missingKeys == ["features.2.running_max"])
        #expect(error.unexpectedKeys == ["extra.weight"])
        #expect(error.shapeMismatches == [
            .init(key: "features.0.conv.weight", expected: [3, 3], found: [3, 4]),
            .init(key: "head.bias", expected: [2], found: [3]),
        ])
        #expect(error.description.contains("size mismatch for 'head.bias'"))
        for (key, t) in before { #expect(m.stateDict()[key]!.scalars == t.scalars, "\(key) changed") }

        // Non-strict: shapes still checked, missing and unexpected keys reported, not thrown.
        #expect(throws: StateDictError.self) { try m.loadStateDict(sd, strict: false) }
        sd["features.0.conv.weight"] = Tensor.zeros([3, 3])
        sd["head.bias"] = Tensor.zeros([2])
        let report = try m.loadStateDict(sd, strict: false)
        #expect(report.missingKeys == ["features.2.running_max"])
        #expect(report.unexpectedKeys == ["extra.weight"])
        #expect(m.tensor(at: "head.bias")!.scalars == [0, 0])
        #expect(m.tensor(at: "features.2.running_max")!.scalars == before.first { $0.0 == "features.2.running_max" }!.1.scalars)
    }

    @Test func stateDictSharesStorageAndLoadCopiesInPlace() throws {
        let fc = Linear(2, 2)
        let weight = fc.weight
        #expect(fc.stateDict()["weight"]!.storage === fc.weight.storage)
        try fc.loadStateDict(["weight": Tensor(shape: [2, 2], [1, 2, 3, 4]), "bias": Tensor([5, 6])])
        #expect(fc.weight === weight)
        #expect(fc.weight.scalars == [1, 2, 3, 4])
        #expect(fc.weight.requiresGrad && fc.weight.isLeaf)
    }
}
