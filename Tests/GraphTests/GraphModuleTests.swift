import Foundation
import Graph
import NN
import TensorEngine
import Testing

/// A residual block written with the builder: conv -> bn -> relu, plus a 1x1 shortcut, added.
func residualGraph(smooth: Bool = false) throws -> GraphModule {
    RandomGenerator.manualSeed(3)
    let g = GraphBuilder()
    let x = g.input("x")
    let c = g.call("block.conv", Conv2d(2, 3, kernelSize: 3, padding: 1), x)
    let b = g.call("block.bn", BatchNorm2d(3), c)
    let r = g.call("relu", smooth ? Tanh() : ReLU(), b)
    let s = g.call("shortcut", Conv2d(2, 3, kernelSize: 1, bias: false), x)
    let a = g.op(.add, r, s)
    let f = g.op(.flatten(startDim: 1, endDim: -1), a)
    return try g.build(outputs: [g.call("fc", Linear(3 * 4 * 4, 2), f)])
}

@Suite struct GraphModuleTests {
    @Test func forwardIsTheHandWrittenComputation() throws {
        let model = try residualGraph()
        model.eval()
        let x = RandomGenerator(seed: 1).normal([2, 2, 4, 4])
        let conv = model.module(at: "block.conv") as! Conv2d, bn = model.module(at: "block.bn") as! BatchNorm2d
        let short = model.module(at: "shortcut") as! Conv2d, fc = model.module(at: "fc") as! Linear
        let expected = fc((bn(conv(x)).relu() + short(x)).flatten(startDim: 1))
        #expect(model.module(at: "relu") is ReLU)
        #expect(model(x).isEqual(to: expected))
    }

    @Test func stateDictKeysComeFromThePaths() throws {
        let model = try residualGraph()
        #expect(model.stateDict().keys == [
            "block.conv.weight", "block.conv.bias", "block.bn.weight", "block.bn.bias", "block.bn.running_mean",
            "block.bn.running_var", "block.bn.num_batches_tracked", "shortcut.weight", "fc.weight", "fc.bias",
        ])
        #expect(model.nodes.map(\.name) == ["block.conv", "block.bn", "relu", "shortcut", "add", "flatten", "fc"])
    }

    @Test func printsModulesThenGraph() throws {
        let text = try residualGraph().description
        #expect(text.hasPrefix("GraphModule(\n  (block): Module(\n    (conv): Conv2d(2, 3, kernel_size=(3, 3)"))
        #expect(text.hasSuffix("""
            graph(x):
              block.conv = block.conv(x)
              block.bn = block.bn(block.conv)
              relu = relu(block.bn)
              shortcut = shortcut(x)
              add = add(relu, shortcut)
              flatten = flatten[start_dim=1, end_dim=-1](add)
              fc = fc(flatten)
              return fc
            """))
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        // Tanh instead of ReLU: a finite difference that crosses a ReLU kink is not a derivative.
        let model = try residualGraph(smooth: true)
        model.eval()
        let x = RandomGenerator(seed: 2).normal([1, 2, 4, 4])
        let probe = Tensor([0.7, -1.3])
        let loss = { (model(x) * probe).sum() }
        model.zeroGrad()
        loss().backward()
        for (key, p) in model.namedParameters() {
            let analytic = p.grad!.scalars
            for i in stride(from: 0, to: p.count, by: max(1, p.count / 7)) {
                let orig = p.storage.pointer[i]
                p.storage.pointer[i] = orig + 1e-2
                let up = Autograd.noGrad { loss().item() }
                p.storage.pointer[i] = orig - 1e-2
                let down = Autograd.noGrad { loss().item() }
                p.storage.pointer[i] = orig
                let numeric = (up - down) / 2e-2
                #expect(abs(numeric - analytic[i]) <= 2e-2 * max(1, abs(numeric)), "\(key)[\(i)]: \(numeric) vs \(analytic[i])")
            }
        }
    }

    @Test func passesCanReplaceInsertQueryAndRemove() throws {
        let model = try residualGraph()
        model.eval()
        let x = RandomGenerator(seed: 4).normal([1, 2, 4, 4])
        let before = model(x)
        #expect(model.users(of: "x").map(\.name) == ["block.conv", "shortcut"])
        #expect(model.users(of: "add").map(\.name) == ["flatten"])
        // Insert an identity after the add: its readers move to the new node.
        model.insert(GraphNode("add_quant", .module("add_quant"), ["add"]), after: "add")
        model.addModule(Identity(), at: "add_quant")
        try model.validate()
        #expect(model.users(of: "add").map(\.name) == ["add_quant"])
        #expect(model.users(of: "add_quant").map(\.name) == ["flatten"])
        // Insert a node before fc on its input only.
        model.addModule(Identity(), at: "fc_input_quant")
        model.insert(GraphNode("fc_input_quant", .module("fc_input_quant"), ["flatten"]), before: "fc", replacing: "flatten")
        try model.validate()
        #expect(model.node(named: "fc")!.inputs == ["fc_input_quant"])
        #expect(model(x).isEqual(to: before))
        // Replace a module: every node calling the path uses the new one.
        model.replaceModule(at: "relu", with: ReLU6())
        #expect(model.module(at: "relu") is ReLU6)
        // Remove the BatchNorm node (as a BN merge would) and rewire its readers to the conv.
        model.removeNode("block.bn", replacingUsesWith: "block.conv")
        try model.validate()
        #expect(model.node(named: "relu")!.inputs == ["block.conv"])
        #expect(model.outputNames == ["fc"])
        // Inserting after a graph input puts the node first.
        model.addModule(Identity(), at: "x_quant")
        model.insert(GraphNode("x_quant", .module("x_quant"), ["x"]), after: "x")
        #expect(model.nodes.first?.name == "x_quant" && model.users(of: "x").map(\.name) == ["x_quant"])
        try model.validate()
    }

    @Test func validationNamesTheProblem() throws {
        let g = GraphModule(inputs: ["x"], nodes: [GraphNode("y", .relu, ["z"])], outputs: ["y"])
        #expect(throws: GraphError(.undefinedInput(node: "y", input: "z"))) { try g.validate() }
        g.setNodes([GraphNode("y", .module("missing"), ["x"])], outputs: ["y"])
        #expect(throws: GraphError(.missingModule(node: "y", path: "missing"))) { try g.validate() }
        g.setNodes([GraphNode("y", .add, ["x"])], outputs: ["y"])
        #expect(throws: GraphError(.arity(node: "y", op: "add", expected: "2", got: 1))) { try g.validate() }
        g.setNodes([GraphNode("x", .relu, ["x"])], outputs: ["x"])
        #expect(throws: GraphError(.duplicateValue("x"))) { try g.validate() }
        g.setNodes([GraphNode("y", .relu, ["x"])], outputs: ["w"])
        #expect(throws: GraphError(.undefinedOutput("w"))) { try g.validate() }
        g.setNodes([GraphNode("p", .parameter("a.b"), [])], outputs: ["p"])
        #expect(throws: GraphError(.missingTensor(node: "p", key: "a.b"))) { try g.validate() }
    }

    @Test func parametersAndFXNumbering() throws {
        let g = GraphBuilder()
        let x = g.input("x")
        let w = g.parameter("encoder.scale", Tensor([2, 3]))
        let a = g.op(.mul, x, w)
        let b = g.op(.mul, a, g.constant(Tensor(0.5)))
        let model = try g.build(outputs: [g.op(.add, b, x)])
        #expect(model.nodes.map(\.name) == ["encoder.scale", "mul", "const", "mul_1", "add"])
        #expect(model.stateDict().keys == ["encoder.scale"])
        #expect(model.parameters().count == 1)
        #expect(model(Tensor([1, 1])).scalars == [2, 2.5])
    }

    @Test(arguments: [
        (GraphOp.slice(axis: 0, start: 1, end: 100, step: 2), [1, 3, 5]),
        (GraphOp.slice(axis: 0, start: -2, end: Int.max, step: 1), [5, 6]),
        (GraphOp.slice(axis: 0, start: -1, end: Int.min, step: -3), [6, 3, 0]),
        (GraphOp.gather(axis: 0, indices: [-1, 0], indicesShape: [2]), [6, 0]),
        (GraphOp.pad(begins: [2], ends: [-5], value: 9), [9, 9, 0, 1]),
        (GraphOp.resize(sizes: [3], mode: .nearest, transform: .asymmetric, nearest: .floor), [0, 2, 4]),
        (GraphOp.resize(sizes: [14], mode: .nearest, transform: .asymmetric, nearest: .floor), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]),
    ])
    func shapeOpsFollowONNX(_ op: GraphOp, _ expected: [Float]) {
        #expect(op.apply([Tensor([0, 1, 2, 3, 4, 5, 6])]).scalars == expected)
    }

    @Test func linearResizeIsHalfPixelInterpolation() {
        // torch.nn.functional.interpolate([0, 1, 2, 3], size=8, mode='linear', align_corners=False)
        let y = GraphOp.resize(sizes: [1, 8], mode: .linear, transform: .halfPixel, nearest: .floor).apply([Tensor(shape: [1, 4], [0, 1, 2, 3])])
        #expect(y.scalars == [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])
    }
}
