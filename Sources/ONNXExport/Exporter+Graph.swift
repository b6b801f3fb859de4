import Foundation
import Graph
import GraphQuant
import NN
import ONNXProto
import QuantNN
import TensorEngine

/// Graph-quantized models (`QuantGraphModule`, from `GraphQuant.quantize` of an imported ONNX
/// model or a `GraphBuilder` graph): the graph is replayed node by node.
///
/// ```swift
/// let q = try quantize(preprocessForQuantize(try ONNXImporter.load(url, inputShapes: ["input": x.shape])))
/// try calibrate(q, batches: calib)
/// try exportONNX(q, example: x, format: .qcdq, dynamicBatch: true, to: URL(fileURLWithPath: "model.qcdq.onnx"))
/// try exportONNX(q, example: x, format: .qonnx, dynamicBatch: true, to: URL(fileURLWithPath: "model.qonnx.onnx"))
/// ```
///
/// | node | ONNX |
/// |---|---|
/// | quantized layer (QuantIdentity/ReLU/Sigmoid requantizers, QuantConv1d/2d, QuantLinear, ...) | as the layer exports on its own (QCDQ or QONNX quantizers, `Conv`, `Gemm`) |
/// | float module (MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, BatchNorm, ReLU, ...) | its float op on the dequantized value; Dropout and Identity vanish |
/// | `add`, `sub`, `mul`, `div`, `pow`, `matmul` | `Add`, `Sub`, `Mul`, `Div`, `Pow`, `MatMul` (residual adds read the shared quantizer's outputs) |
/// | `cat` | `Concat` |
/// | `flatten`, `reshape`, `permute`, `squeeze`, `unsqueeze` | `Flatten`/`Reshape`, `Reshape` (batch copied with 0 under a dynamic batch), `Transpose`, `Squeeze`, `Unsqueeze` |
/// | pointwise ops, `softmax`, `mean`, `amax`, `clamp`, `slice`, `gather`, `pad`, `expand`, `interpolate` | their ONNX ops (`Slice`, `Gather`, `Pad`, `Expand`, `Resize`) |
/// | `hardswish`, `gelu`, `layer_norm` | QONNX (opset 20): `HardSwish`, `Gelu`, `LayerNormalization`; QCDQ (opset 13): their decomposition |
/// | ConvTranspose2d (float) | `ConvTranspose` |
/// | `get_attr`, constants | initializers |
///
/// The graph's input names become the ONNX inputs' names (one example per graph input, in
/// ``GraphModule/inputNames`` order); the one graph output is `output`. The graph's own value of
/// every node (``QuantGraphModule/value(of:inputs:)``) travels with it; a module node's replay
/// (quantizers, convolutions, pools) must equal it exactly, or the export stops with
/// ``ONNXExportError/inconsistent(layer:reason:)``; functional ops are single ONNX ops (or a
/// short decomposition) that the runtime tests check. An op with no translation is an
/// ``ONNXExportError/unsupportedModule(layer:reason:)`` naming the node.
extension Exporter {
    func emitGraph(_ g: QuantGraphModule, _ inputs: [Traced]) throws -> Traced {
        guard g.outputNames.count == 1 else {
            throw ONNXExportError.unsupportedModule(
                layer: describe(g, ""), reason: "the graph returns \(g.outputNames.count) values (\(g.outputNames)); the export writes graphs with one output")
        }
        var values: [String: Traced] = [:]
        for (name, x) in zip(g.inputNames, inputs) { values[name] = x }
        for node in g.nodes {
            let args = node.inputs.map { values[$0]! }
            let layer = "node '\(node.name)' (\(node.op.modulePathDescription ?? node.op.baseName))"
            let expected: QuantValue
            do { expected = try g.value(of: node, inputs: args.map(\.value)) } catch {
                throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
            }
            let out = try emitNode(node, args, in: g, layer: layer, expected: expected)
            try checkSame(out.value.value, expected.value, layer, "output")
            values[node.name] = Traced(name: out.name, value: expected)
        }
        let out = values[g.outputNames[0]]!
        return g.returnsPlainTensors ? Traced(name: out.name, value: .float(out.value.value)) : out
    }

    /// The ONNX nodes of one graph node; the returned value is the replay's (checked by the caller).
    func emitNode(_ node: GraphNode, _ args: [Traced], in g: QuantGraphModule, layer: String, expected: QuantValue) throws -> Traced {
        let prefix = "/" + node.name.replacingOccurrences(of: ".", with: "/")
        let shape = expected.value.shape
        func float(_ opType: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> Traced {
            Traced(name: b.node(opType, inputs, name: prefix + "/" + opType, attributes: attributes, type: .float, shape: shape), value: expected)
        }
        func int64s(_ what: String, _ v: [Int]) -> String {
            b.constant(prefix + "/" + what, integers: v.map(Int64.init), type: .int64, shape: [v.count])
        }
        let names = args.map(\.name)
        let rank = args.first?.shape.count ?? 0
        func axis(_ a: Int, _ r: Int = rank) -> Int { a < 0 ? a + r : a }
        switch node.op {
        case .module(let path):
            guard let m = g.module(at: path) else { preconditionFailure("Exporter: node '\(node.name)' calls '\(path)', which is not registered") }
            switch m {
            case let q as QuantLayer: return try emit(q, args[0], path: path)
            case is Dropout, is Identity: return args[0]
            case let l as ConvTranspose2d:
                let w = b.constant(Exporter.join(path, "weight"), tensor: l.weight)
                let bias = l.bias.map { b.constant(Exporter.join(path, "bias"), tensor: $0) }
                let (p, op) = (l.padding, l.outputPadding)
                return Traced(name: b.node("ConvTranspose", [names[0], w] + (bias.map { [$0] } ?? []), name: Self.nodePrefix(path) + "/ConvTranspose",
                                           attributes: [GraphBuilder.attr("dilations", ints: [l.dilation.first, l.dilation.second]),
                                                        GraphBuilder.attr("group", int: l.groups),
                                                        GraphBuilder.attr("kernel_shape", ints: [l.kernelSize.first, l.kernelSize.second]),
                                                        GraphBuilder.attr("output_padding", ints: [op.first, op.second]),
                                                        GraphBuilder.attr("pads", ints: [p.first, p.second, p.first, p.second]),
                                                        GraphBuilder.attr("strides", ints: [l.stride.first, l.stride.second])],
                                           type: .float, shape: shape), value: expected)
            default: return try emitFloat(m, Traced(name: args[0].name, value: .float(args[0].value.value)), path: path)
            }
        case .parameter(let key):
            guard let t = g.tensor(at: key) else { preconditionFailure("Exporter: node '\(node.name)' reads '\(key)', which is not registered") }
            return Traced(name: b.constant(key, tensor: t), value: expected)
        case .constant(let t):
            return Traced(name: b.constant(prefix + "/value", tensor: t), value: expected)
        case .identity:
            return args[0]
        case .add: return float("Add", names)
        case .sub: return float("Sub", names)
        case .mul: return float("Mul", names)
        case .div: return float("Div", names)
        case .pow: return float("Pow", names)
        case .matmul: return float("MatMul", names)
        case .neg: return float("Neg", names)
        case .abs: return float("Abs", names)
        case .sqrt: return float("Sqrt", names)
        case .exp: return float("Exp", names)
        case .log: return float("Log", names)
        case .erf: return float("Erf", names)
        case .relu: return float("Relu", names)
        case .sigmoid: return float("Sigmoid", names)
        case .tanh: return float("Tanh", names)
        case .leakyRelu(let s): return float("LeakyRelu", names, [GraphBuilder.attr("alpha", float: s)])
        case .elu(let a): return float("Elu", names, [GraphBuilder.attr("alpha", float: a)])
        case .hardSigmoid(let a, let c):
            return float("HardSigmoid", names, [GraphBuilder.attr("alpha", float: a), GraphBuilder.attr("beta", float: c)])
        case .clamp(let lo, let hi):
            let l = lo.map { b.constant(prefix + "/min", scalar: $0) } ?? ""
            let h = hi.map { b.constant(prefix + "/max", scalar: $0) } ?? ""
            return float("Clip", hi == nil ? [names[0], l] : [names[0], l, h])
        case .hardSwish:
            // HardSwish is an opset-14 op: QCDQ (opset 13) writes x · HardSigmoid(x, 1/6, 1/2).
            if format == .qonnx { return float("HardSwish", names) }
            let gate = b.node("HardSigmoid", names, name: prefix + "/HardSigmoid",
                              attributes: [GraphBuilder.attr("alpha", float: 1 / 6), GraphBuilder.attr("beta", float: 0.5)], type: .float, shape: shape)
            return float("Mul", [names[0], gate])
        case .gelu(let tanh):
            if format == .qonnx { return float("Gelu", names, [GraphBuilder.attr("approximate", string: tanh ? "tanh" : "none")]) }
            guard !tanh else {
                throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "the tanh approximation of GELU has no opset-13 op (export to QONNX, opset 20, which has Gelu)")
            }
            // x/2 · (1 + erf(x/√2)), opset 13.
            let scaled = b.node("Mul", [names[0], b.constant(prefix + "/rsqrt2", scalar: Float(0.5.squareRoot()))], name: prefix + "/Mul", type: .float, shape: shape)
            let e = b.node("Erf", [scaled], name: prefix + "/Erf", type: .float, shape: shape)
            let one = b.node("Add", [e, b.constant(prefix + "/one", scalar: 1)], name: prefix + "/Add", type: .float, shape: shape)
            let half = b.node("Mul", [names[0], b.constant(prefix + "/half", scalar: 0.5)], name: prefix + "/Mul", type: .float, shape: shape)
            return float("Mul", [half, one])
        case .layerNorm(let a, let eps):
            let axes = Array(axis(a)..<rank)
            if format == .qonnx {
                let c = shape[axis(a)...].reduce(1, *)
                let w = args.count > 1 ? names[1] : b.constant(prefix + "/scale", floats: [Float](repeating: 1, count: c), shape: Array(shape[axis(a)...]))
                let bias = args.count > 2 ? [names[2]] : []
                return float("LayerNormalization", [names[0], w] + bias,
                             [GraphBuilder.attr("axis", int: axis(a)), GraphBuilder.attr("epsilon", float: eps)])
            }
            // Opset 13 has no LayerNormalization: (x − mean) / sqrt(mean((x − mean)²) + eps) · w + b.
            let reduced = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            let mean = b.node("ReduceMean", [names[0]], name: prefix + "/ReduceMean", attributes: [GraphBuilder.attr("axes", ints: axes)], type: .float, shape: reduced)
            let d = b.node("Sub", [names[0], mean], name: prefix + "/Sub", type: .float, shape: shape)
            let sq = b.node("Mul", [d, d], name: prefix + "/Mul", type: .float, shape: shape)
            let v = b.node("ReduceMean", [sq], name: prefix + "/ReduceMean", attributes: [GraphBuilder.attr("axes", ints: axes)], type: .float, shape: reduced)
            let sd = b.node("Sqrt", [b.node("Add", [v, b.constant(prefix + "/epsilon", scalar: eps)], name: prefix + "/Add", type: .float, shape: reduced)],
                            name: prefix + "/Sqrt", type: .float, shape: reduced)
            var y = b.node("Div", [d, sd], name: prefix + "/Div", type: .float, shape: shape)
            if args.count > 1 { y = b.node("Mul", [y, names[1]], name: prefix + "/Mul", type: .float, shape: shape) }
            if args.count > 2 { y = b.node("Add", [y, names[2]], name: prefix + "/Add", type: .float, shape: shape) }
            return Traced(name: y, value: expected)
        case .slice(let a, let start, let end, let step):
            return float("Slice", [names[0], int64s("starts", [start]), int64s("ends", [end]), int64s("axes", [axis(a)]), int64s("steps", [step])])
        case .gather(let a, let indices, let indicesShape):
            let idx = b.constant(prefix + "/indices", integers: indices.map(Int64.init), type: .int64, shape: indicesShape)
            return float("Gather", [names[0], idx], [GraphBuilder.attr("axis", int: axis(a))])
        case .pad(let begins, let ends, let value):
            return float("Pad", [names[0], int64s("pads", begins + ends), b.constant(prefix + "/value", scalar: value)],
                         [GraphBuilder.attr("mode", string: "constant")])
        case .expand(let target):
            // Under a dynamic batch a 1 in the batch dimension keeps the input's batch.
            var dims = target
            if b.dynamicBatch, !dims.isEmpty { dims[0] = 1 }
            return float("Expand", [names[0], int64s("shape", dims)])
        case .resize(let sizes, let mode, let transform, let nearest, let scales):
            var attributes = [GraphBuilder.attr("mode", string: mode.rawValue),
                              GraphBuilder.attr("coordinate_transformation_mode", string: transform.rawValue)]
            if mode == .nearest { attributes.append(GraphBuilder.attr("nearest_mode", string: nearest.rawValue)) }
            // Scales (not sizes) keep the batch free; they are the model's own when it gave them.
            let factors = scales ?? zip(sizes, args[0].shape).map { Float($0) / Float($1) }
            guard scales != nil || !b.dynamicBatch || zip(sizes, args[0].shape).allSatisfy({ $0 % $1 == 0 }) else {
                throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "a resize of \(args[0].shape) to \(sizes) by non-integer factors needs fixed sizes (export without a dynamic batch)")
            }
            if b.dynamicBatch {
                return float("Resize", [names[0], "", b.constant(prefix + "/scales", floats: factors, shape: [factors.count])], attributes)
            }
            return float("Resize", [names[0], "", "", int64s("sizes", sizes)], attributes)
        case .softmax(let a): return float("Softmax", names, [GraphBuilder.attr("axis", int: axis(a))])
        case .logSoftmax(let a): return float("LogSoftmax", names, [GraphBuilder.attr("axis", int: axis(a))])
        case .mean(let axes, let keep), .amax(let axes, let keep), .sum(let axes, let keep):
            let opType: String
            switch node.op {
            case .mean: opType = "ReduceMean"
            case .amax: opType = "ReduceMax"
            default: opType = "ReduceSum"
            }
            guard !axes.isEmpty else { return args[0] }
            let normalized = axes.map { axis($0) }
            let keepAttr = GraphBuilder.attr("keepdims", int: keep ? 1 : 0)
            // ReduceSum takes its axes as an input from opset 13, ReduceMean and ReduceMax from 18.
            if opType == "ReduceSum" || format == .qonnx {
                return float(opType, [names[0], int64s("axes", normalized)], [keepAttr])
            }
            return float(opType, names, [GraphBuilder.attr("axes", ints: normalized), keepAttr])
        case .concat(let a):
            return float("Concat", names, [GraphBuilder.attr("axis", int: axis(a))])
        case .flatten(let s, let e):
            return Traced(name: flatten(args[0], startDim: s, endDim: e, prefix: prefix, shape: shape), value: expected)
        case .reshape:
            return Traced(name: try reshape(args[0], to: shape, prefix: prefix, layer: layer), value: expected)
        case .permute(let p):
            return float("Transpose", names, [GraphBuilder.attr("perm", ints: p.map { axis($0) })])
        case .squeeze(let axes):
            return float("Squeeze", [names[0], int64s("axes", axes.map { axis($0) })])
        case .unsqueeze(let axes):
            return float("Unsqueeze", [names[0], int64s("axes", axes.map { axis($0, rank + axes.count) })])
        default:
            throw ONNXExportError.unsupportedModule(
                layer: layer,
                reason: "no ONNX translation for the graph op \(node.op) (the export knows quantized and float layers, arithmetic, concatenation, shape ops, pointwise activations, softmax and reductions)")
        }
    }

    /// `Reshape` to the static `shape`; under a dynamic batch the batch dimension is copied (0)
    /// when the reshape keeps it, and refused when it mixes it with other dimensions.
    func reshape(_ x: Traced, to shape: [Int], prefix: String, layer: String) throws -> String {
        var dims = shape.map(Int64.init)
        if b.dynamicBatch {
            guard let n = x.shape.first, shape.first == n else {
                throw ONNXExportError.notExpressible(
                    layer: layer, format: format,
                    reason: "the reshape of \(x.shape) to \(shape) does not keep the batch dimension first, so the graph cannot take any batch size (export without a dynamic batch)")
            }
            dims[0] = 0
        }
        let target = b.constant(prefix + "/shape", integers: dims, type: .int64, shape: [shape.count])
        return b.node("Reshape", [x.name, target], name: prefix + "/Reshape", type: .float, shape: shape)
    }
}

extension GraphOp {
    /// The module path of a module node, for error messages.
    var modulePathDescription: String? {
        if case .module(let path) = self { return "calls \(path)" }
        return nil
    }
}
