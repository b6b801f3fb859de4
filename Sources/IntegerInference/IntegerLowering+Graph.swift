import Foundation
import Graph
import GraphQuant
import NN
import QuantNN
import TensorEngine

extension IntegerLowering {
    /// The program of a graph-quantized model (`GraphQuant.quantize` of an imported or built
    /// graph, calibrated) for inputs of one example's shape `inputShape` (e.g. `[3, 16, 16]`).
    /// Puts the graph in eval mode.
    ///
    /// The nodes are lowered in graph order; the program's checkpoints are named after the nodes
    /// (`x_quant`, `layer1.0.conv1`, `add_1_quant`), so ``Verification/run(graph:program:inputs:arithmetic:batchSize:)``
    /// compares each with the graph's own value for it.
    ///
    /// | node | integer form |
    /// |---|---|
    /// | quantized layer (requantizer, QuantReLU, QuantConv2d, QuantLinear, ...) | as in a hand-built model |
    /// | `add` (operands on the shared quantizer's scale) | `add` of codes, zero points summed |
    /// | `cat` along the channels (operands on one grid) | `concat` |
    /// | MaxPool2d | max pool on codes |
    /// | AvgPool2d (no padding), AdaptiveAvgPool2d (equal windows), `mean` over H and W | window sums on the grid `s / k` |
    /// | Flatten, `flatten` / `reshape` keeping the batch first | reshape |
    /// | ReLU (float module or op) | `max(x, z)` on codes |
    /// | BatchNorm (not merged) | folded into the next requantization |
    /// | Dropout, Identity | nothing |
    ///
    /// Anything else (a sigmoid or another float op between quantizers, operands on different
    /// scales, a padded average pool) is an ``IntegerLoweringError`` naming the node and what to change.
    ///
    /// ```swift
    /// let program = try IntegerLowering.lower(q, inputShape: [3, 16, 16])
    /// let v = try Verification.run(graph: q, program: program, inputs: x)
    /// print(v.summary)          // "16 of 16 predictions agree; ... integer codes agree"
    /// ```
    public static func lower(_ graph: QuantGraphModule, inputShape: [Int]) throws -> IntegerProgram {
        graph.eval()
        guard graph.inputNames.count == 1, graph.outputNames.count == 1 else {
            throw IntegerLoweringError.notExpressible(
                layer: "graph", reason: "it has \(graph.inputNames.count) inputs and \(graph.outputNames.count) outputs",
                fix: "the integer program takes one input and returns one output")
        }
        let b = Builder()
        b.values.append(.float(shape: inputShape))
        var values: [String: Symbolic] = [graph.inputNames[0]: .float(shape: inputShape)]
        for node in graph.nodes {
            values[node.name] = try b.lowerNode(node, node.inputs.map { values[$0]! }, in: graph)
        }
        return try b.program(output: values[graph.outputNames[0]]!, model: graph.outputNames[0])
    }
}

extension IntegerLowering.Builder {
    /// Lowers one node of a quantized graph (its name is the layer name of its steps, errors and checkpoint).
    func lowerNode(_ node: GraphNode, _ args: [IntegerLowering.Symbolic], in g: QuantGraphModule) throws -> IntegerLowering.Symbolic {
        let name = node.name
        if case .module(let path) = node.op {
            guard let m = g.module(at: path) else { preconditionFailure("IntegerLowering: node '\(name)' calls '\(path)', which is not registered") }
            if m is QuantLayer { return values[try lower(m, args[0], path: name)] }
        }
        let first = steps.count
        let out: IntegerLowering.Symbolic
        var type = node.op.baseName
        switch node.op {
        case .module(let path):
            let m = g.module(at: path)!
            type = m.typeName
            out = try lowerFloatModule(m, args[0], name: name)
        case .add:
            let a = try codes(args[0], layer: name, what: "its first operand")
            let b = try codes(args[1], layer: name, what: "its second operand")
            out = .slot(try addCodes(a, b, layer: name, fix: "quantize both operands with one quantizer (GraphQuant.quantize aligns residual adds on a shared one)"))
        case .concat(let axis):
            var slots: [Int] = [], grids: [IntegerGrid] = []
            for (i, x) in args.enumerated() {
                let (s, gr) = try codes(x, layer: name, what: "its operand \(i)")
                slots.append(s)
                grids.append(gr)
            }
            out = .slot(try concatCodes(slots, grids, dim: axis, layer: name, fix: "quantize the operands with one quantizer (GraphQuant.quantize shares one across a concatenation)"))
        case .flatten(let s, let e):
            let shape = shape(of: args[0])
            let rank = shape.count + 1
            let (start, end) = (s < 0 ? s + rank : s, e < 0 ? e + rank : e)
            guard start == 1, end == rank - 1 else {
                throw IntegerLoweringError.notExpressible(layer: name, reason: "it flattens dimensions \(s)...\(e), not all but the batch",
                                                          fix: "flatten from dimension 1 to the end")
            }
            out = try reshape(args[0], to: [shape.reduce(1, *)], layer: name)
        case .reshape(let target):
            out = try reshape(args[0], to: try perExampleShape(target, of: shape(of: args[0]), layer: name), layer: name)
        case .identity:
            return args[0]
        case .relu:
            out = try clampAtZeroPoint(args[0], layer: name)
        case .mean(let axes, let keep):
            let shape = shape(of: args[0])
            guard shape.count == 3, axes.map({ $0 < 0 ? $0 + 4 : $0 }) == [2, 3] else {
                throw IntegerLoweringError.notExpressible(layer: name, reason: "it averages over the dimensions \(axes) of a per-example shape \(shape); only the spatial mean of [C, H, W] has an integer form",
                                                          fix: "average over dimensions 2 and 3 (a global average pool)")
            }
            let pooled = try sumPool(args[0], IntegerOp.Pool2d(kernel: (shape[1], shape[2]), stride: (shape[1], shape[2])), layer: name)
            out = keep ? pooled : try reshape(pooled, to: [shape[0]], layer: name)
        case .sigmoid, .tanh, .exp, .log, .sqrt, .erf, .gelu, .softmax, .logSoftmax, .hardSwish, .hardSigmoid, .elu, .leakyRelu:
            throw IntegerLoweringError.notExpressible(
                layer: name, reason: "its \(node.op.baseName) is not linear, so it cannot act on integer codes",
                fix: "replace it by a ReLU, or end the integer part of the model before it")
        default:
            throw IntegerLoweringError.unsupportedLayer(
                layer: name, type: node.op.description,
                fix: "the integer program of a graph knows quantized layers, residual adds and concatenations on one quantizer, pools, flatten/reshape, ReLU and the spatial mean")
        }
        if case .slot(let s) = out, s > first {
            checkpoints.append(.init(layer: name, type: type, slot: s, steps: first..<steps.count))
        }
        return out
    }

    /// A float module of a quantized graph, as the graph evaluates it on codes.
    func lowerFloatModule(_ m: Module, _ x: IntegerLowering.Symbolic, name: String) throws -> IntegerLowering.Symbolic {
        switch m {
        case let p as MaxPool2d:
            guard p.dilation.first == 1 && p.dilation.second == 1 else {
                throw IntegerLoweringError.notExpressible(layer: name, reason: "its dilation is \(p.dilation.pair)", fix: "use dilation 1")
            }
            let window = IntegerOp.Pool2d(kernel: p.kernelSize.pair, stride: p.stride.pair, padding: p.padding.pair)
            return try pool(x, window, path: name, what: "max pool") { s, _ in (.maxPool2d(window), self.value(of: s)) }
        case let p as AvgPool2d:
            guard p.padding.first == 0 && p.padding.second == 0 else {
                throw IntegerLoweringError.notExpressible(layer: name, reason: "a padded average pool divides border windows by fewer elements",
                                                          fix: "use padding 0")
            }
            return try sumPool(x, IntegerOp.Pool2d(kernel: p.kernelSize.pair, stride: p.stride.pair), layer: name)
        case let p as AdaptiveAvgPool2d:
            let shape = shape(of: x)
            let (oh, ow) = p.outputSize.pair
            guard shape.count == 3, shape[1] % oh == 0, shape[2] % ow == 0 else {
                throw IntegerLoweringError.notExpressible(
                    layer: name, reason: "adaptive pooling of the per-example shape \(shape) to \(oh)x\(ow) uses windows of different sizes",
                    fix: "choose an output size that divides the input size")
            }
            let k = (shape[1] / oh, shape[2] / ow)
            return try sumPool(x, IntegerOp.Pool2d(kernel: k, stride: k), layer: name)
        case let f as Flatten:
            let shape = shape(of: x)
            let rank = shape.count + 1
            let end = f.endDim < 0 ? f.endDim + rank : f.endDim
            guard f.startDim == 1, end == rank - 1 else {
                throw IntegerLoweringError.notExpressible(layer: name, reason: "it flattens dimensions \(f.startDim)...\(f.endDim), not all but the batch",
                                                          fix: "flatten from dimension 1 to the end")
            }
            return try reshape(x, to: [shape.reduce(1, *)], layer: name)
        case is ReLU:
            return try clampAtZeroPoint(x, layer: name)
        case is Sigmoid, is Tanh:
            throw IntegerLoweringError.notExpressible(
                layer: name, reason: "a float \(m.typeName) between quantizers is not linear, so it cannot act on integer codes",
                fix: "quantize it (QuantSigmoid is still not linear: end the integer part of the model before it) or replace it by a ReLU")
        default:
            return try lowerFloat(m, x, path: name)
        }
    }

    /// Window sums of codes with zero point 0: exact on the grid `s / k`, `k` the window size.
    func sumPool(_ x: IntegerLowering.Symbolic, _ window: IntegerOp.Pool2d, layer: String) throws -> IntegerLowering.Symbolic {
        try pool(x, window, path: layer, what: "average pool") { _, g in
            let k = Int64(window.kernelH * window.kernelW)
            let bits = IntegerGrid.bits(min: g.min * k, max: g.max * k)
            return (.sumPool2d(window), .codes(IntegerGrid(scale: g.scale / Double(k), zeroPoint: 0, min: g.min * k, max: g.max * k,
                                                           bitWidth: bits, signed: g.signed)))
        }
    }

    /// `max(x, z)` on codes with zero point `z` (a ReLU with no quantizer of its own).
    func clampAtZeroPoint(_ x: IntegerLowering.Symbolic, layer: String) throws -> IntegerLowering.Symbolic {
        let (s, g) = try codes(x, layer: layer, what: "its input")
        var grid = g
        grid.min = Swift.max(g.min, g.zeroPoint)
        return .slot(emit(layer, .clampMin(g.zeroPoint), [s], shape: shape(of: s), .codes(grid)))
    }

    /// The same elements in the per-example shape `shape`.
    func reshape(_ x: IntegerLowering.Symbolic, to shape: [Int], layer: String) throws -> IntegerLowering.Symbolic {
        switch x {
        case .float: return .float(shape: shape)
        case .slot(let s): return .slot(emit(layer, .reshape, [s], shape: shape, value(of: s)))
        case .affine(_, _, _, let by):
            throw IntegerLoweringError.notExpressible(layer: layer, reason: "it reshapes the float output of \(by)",
                                                      fix: "put a quantizer between \(by) and the reshape")
        }
    }

    /// The per-example shape of a reshape to `target` (batch first: `-1` or the traced batch
    /// size, which the ONNX importer folds in), for a per-example input shape `input`.
    func perExampleShape(_ target: [Int], of input: [Int], layer: String) throws -> [Int] {
        let count = input.reduce(1, *)
        var rest = Array(target.dropFirst())
        let known = rest.filter { $0 != -1 }.reduce(1, *)
        if let i = rest.firstIndex(of: -1), known > 0, count % known == 0 { rest[i] = count / known }
        guard !target.isEmpty, rest.allSatisfy({ $0 >= 0 }), rest.reduce(1, *) == count else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its target shape \(target) does not keep the batch first for examples of shape \(input)",
                fix: "reshape to [batch, ...] (e.g. a flatten from dimension 1)")
        }
        return rest
    }

    /// The sum of two code tensors on one scale: grid zero point `z_a + z_b`, range the sum of the ranges.
    func addCodes(_ a: (Int, IntegerGrid), _ b: (Int, IntegerGrid), layer: String, fix: String) throws -> Int {
        let (sa, ga) = a, (sb, gb) = b
        guard ga.scale == gb.scale else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its operands have different scales (\(ga.scale) and \(gb.scale)), so their codes cannot be added", fix: fix)
        }
        guard shape(of: sa) == shape(of: sb) else {
            throw IntegerLoweringError.notExpressible(layer: layer, reason: "its operands have the shapes \(shape(of: sa)) and \(shape(of: sb)) (broadcasting)",
                                                      fix: "add operands of one shape")
        }
        let grid = IntegerGrid(scale: ga.scale, zeroPoint: ga.zeroPoint + gb.zeroPoint, min: ga.min + gb.min, max: ga.max + gb.max,
                               bitWidth: Swift.max(ga.bitWidth, gb.bitWidth) + 1, signed: ga.signed || gb.signed)
        return emit(layer, .add, [sa, sb], shape: shape(of: sa), .codes(grid))
    }

    /// Codes on one grid concatenated along the channels (`dim` 1 of `[N, C, ...]`).
    func concatCodes(_ slots: [Int], _ grids: [IntegerGrid], dim: Int, layer: String, fix: String) throws -> Int {
        let d = dim < 0 ? dim + shape(of: slots[0]).count + 1 : dim
        guard d == 1, grids.allSatisfy({ $0.scale == grids[0].scale && $0.zeroPoint == grids[0].zeroPoint }) else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: d == 1 ? "its operands are on different grids" : "it concatenates along dimension \(dim), not the channels",
                fix: d == 1 ? fix : "concatenate along dimension 1")
        }
        var shape = shape(of: slots[0])
        guard slots.allSatisfy({ self.shape(of: $0).dropFirst() == shape.dropFirst() }) else {
            throw IntegerLoweringError.notExpressible(layer: layer, reason: "its operands differ in more than the channels (\(slots.map { self.shape(of: $0) }))",
                                                      fix: "concatenate tensors of one spatial size")
        }
        shape[0] = slots.map { self.shape(of: $0)[0] }.reduce(0, +)
        let grid = IntegerGrid(scale: grids[0].scale, zeroPoint: grids[0].zeroPoint,
                               min: grids.map(\.min).min()!, max: grids.map(\.max).max()!,
                               bitWidth: grids.map(\.bitWidth).max()!, signed: grids.contains { $0.signed })
        return emit(layer, .concat, slots, shape: shape, .codes(grid))
    }
}
