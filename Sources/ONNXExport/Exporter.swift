import Foundation
import GraphQuant
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// A tensor of the graph under construction with the value Swift computes for it.
struct Traced {
    var name: String
    var value: QuantValue
    var shape: [Int] { value.value.shape }
}

let qonnxDomain = "qonnx.custom_op.general"

/// Walks a model structurally, evaluating each layer in eval mode on the traced example, and
/// emits the ONNX nodes that reproduce it.
final class Exporter {
    let format: ONNXFormat
    let b = GraphBuilder()
    var quantPoints: [ONNXQuantPoint] = []
    /// The QCDQ opset: 13, raised to 19 when an 8-bit float type (QuantizeLinear /
    /// DequantizeLinear with a float8 zero point) appears.
    var qcdqOpset = 13

    init(format: ONNXFormat, dynamicBatch: Bool = false) {
        self.format = format
        b.dynamicBatch = dynamicBatch
    }

    // MARK: Entry

    func run(_ model: Module, examples: [Tensor]) throws -> ONNXExportResult {
        guard !examples.isEmpty else { throw ONNXExportError.badExample(reason: "no example input") }
        let root = describe(model, "")
        let graph = model as? QuantGraphModule
        if let graph, graph.inputNames.count != examples.count {
            throw ONNXExportError.badExample(reason: "the graph takes \(graph.inputNames.count) inputs (\(graph.inputNames)), \(examples.count) examples given")
        }
        let inputs: [Traced] = examples.enumerated().map { i, t in
            let name = graph?.inputNames[i] ?? (examples.count == 1 ? "input" : "input_\(i)")
            // An embedding's indices are int64, as in Brevitas's graphs.
            return Traced(name: b.addInput(name, shape: t.shape, type: model is QuantEmbedding ? .int64 : .float), value: .float(t))
        }
        let out: Traced
        // Further graph outputs after "output" (a QuantLSTM's h_n and c_n).
        var extra: [(name: String, traced: Traced)] = []
        if let graph {
            out = try emitGraph(graph, inputs)
        } else if let lstm = model as? QuantLSTM {
            guard inputs.count == 1 else {
                throw ONNXExportError.badExample(reason: "\(root) takes one input sequence, \(inputs.count) examples given")
            }
            let r = try emitLSTM(lstm, inputs[0], path: "")
            out = r.output
            extra = [("h_n", r.hidden), ("c_n", r.cell)]
        } else if let multi = model as? QuantMultiInputLayer {
            out = try emitMultiInput(multi, inputs, path: "")
        } else {
            guard inputs.count == 1 else {
                throw ONNXExportError.badExample(reason: "\(root) takes one input, \(inputs.count) examples given")
            }
            out = try emit(model, inputs[0], path: "")
        }
        var outName = out.name
        if !b.isNodeOutput(outName) {
            // The graph output must be produced by a node (it is an input or a constant here).
            outName = b.node("Identity", [outName], name: "/Identity", type: .float, shape: out.shape)
        }
        b.rename(outName, to: "output")
        quantPoints = quantPoints.map { p in
            p.tensorName == outName
                ? ONNXQuantPoint(tensorName: "output", layer: p.layer, value: p.value, scale: p.scale,
                                 zeroPoint: p.zeroPoint, bitWidth: p.bitWidth, signed: p.signed, minifloat: p.minifloat)
                : p
        }
        b.addOutput("output")
        for e in extra {
            precondition(b.isNodeOutput(e.traced.name) && e.traced.name != outName, "Exporter: extra output \(e.name) must be a distinct node output")
            b.rename(e.traced.name, to: e.name)
            b.addOutput(e.name)
        }

        var model = Onnx_ModelProto()
        model.producerName = "swift-brevitas"
        model.producerVersion = "0.1"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        switch format {
        case .qcdq:
            // IR version 9 introduced the float8 types.
            model.irVersion = qcdqOpset >= 19 ? 9 : 7
            opset.version = Int64(qcdqOpset)
            model.opsetImport = [opset]
        case .qonnx:
            model.irVersion = 9
            opset.version = 20
            var q = Onnx_OperatorSetIdProto()
            q.domain = qonnxDomain
            q.version = 2
            model.opsetImport = [opset, q]
        }
        model.graph = b.graph(name: "swift_brevitas_\(format.rawValue)")
        let data: Data
        do { data = try model.serializedData() } catch {
            throw ONNXExportError.inconsistent(layer: root, reason: "protobuf serialization failed: \(error)")
        }
        return ONNXExportResult(data: data, format: format, inputNames: inputs.map(\.name), outputName: "output",
                                output: out.value.value, outputQuant: out.value.quantTensor, quantPoints: quantPoints,
                                additionalOutputs: extra.map { (name: $0.name, value: $0.traced.value.value) })
    }

    // MARK: Naming

    /// `'features.1' (QuantReLU)`, or `model (QuantReLU)` for the root.
    func describe(_ m: Module, _ path: String) -> String {
        path.isEmpty ? "model (\(m.typeName))" : "'\(path)' (\(m.typeName))"
    }

    static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : path + "." + name }

    /// Node-name prefix in Brevitas's style: `/features/1`.
    static func nodePrefix(_ path: String) -> String {
        path.isEmpty ? "" : "/" + path.replacingOccurrences(of: ".", with: "/")
    }

    // MARK: Dispatch

    func emit(_ m: Module, _ x: Traced, path: String) throws -> Traced {
        switch m {
        case let s as QuantSequential:
            var cur = x
            for (i, l) in s.layers.enumerated() { cur = try emit(l, cur, path: Self.join(path, s.children[i].name)) }
            return cur
        case let c as ONNXComposite: return try emitComposite(c, x, path: path)
        case let l as QuantActivationLayer: return try emitActivationLayer(l, x, path: path)
        case let l as QuantWeightBiasLayer: return try emitWeightLayer(l, x, path: path)
        case let l as QuantMaxPool2d:
            let expected = try forward(l, x, path)
            let name = maxPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: l.padding,
                               prefix: Self.nodePrefix(path), shape: expected.value.shape)
            return Traced(name: name, value: expected)
        case let l as QuantAvgPool2d:
            let expected = try forward(l, x, path)
            let name = avgPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: l.padding,
                               prefix: Self.nodePrefix(path), shape: expected.value.shape)
            return Traced(name: name, value: expected)
        case let l as QuantEmbedding: return try emitEmbedding(l, x, path: path)
        case let l as QuantUpsample: return try emitUpsample(l, x, path: path)
        case is QuantRNN:
            throw ONNXExportError.notExpressible(
                layer: describe(m, path), format: format,
                reason: "a QuantRNN has no ONNX form: Brevitas 0.13.4 has no export handler for it in QCDQ or QONNX (a QuantLSTM exports to QONNX as QuantLSTMCell)")
        case is QuantLSTM:
            throw ONNXExportError.unsupportedModule(
                layer: describe(m, path),
                reason: "a QuantLSTM exports as the whole model (graph outputs: the sequence, h_n and c_n), not inside another layer")
        case let l as TruncAvgPool2d: return try emitTruncAvgPool(l, x, path: path)
        case let l as TruncAdaptiveAvgPool2d: return try emitTruncAdaptiveAvgPool(l, x, path: path)
        case let l as QuantFlatten:
            let expected = try forward(l, x, path)
            let name = flatten(x, startDim: l.startDim, endDim: l.endDim, prefix: Self.nodePrefix(path),
                               shape: expected.value.shape)
            return Traced(name: name, value: expected)
        case let l as FloatLayer:
            let expected = try forward(l, x, path)
            let out = try emitFloat(l.layer, Traced(name: x.name, value: .float(x.value.value)), path: path)
            try checkSame(out.value.value, expected.value, describe(l, path), "float layer")
            return Traced(name: out.name, value: expected)
        case is QuantMultiInputLayer:
            throw ONNXExportError.unsupportedModule(
                layer: describe(m, path),
                reason: "a multi-input layer can only be exported as the whole model (pass one example per input) or inside a layer that adopts ONNXComposite")
        default:
            if m is Layer { return try emitFloat(m, x, path: path) }
            throw ONNXExportError.unsupportedModule(
                layer: describe(m, path),
                reason: "no ONNX translation for \(m.typeName) (a layer made of exportable submodules can adopt ONNXComposite)")
        }
    }

    func forward(_ l: QuantLayer, _ x: Traced, _ path: String) throws -> QuantValue {
        do { return try l.forward(x.value) } catch {
            throw ONNXExportError.forwardFailed(layer: describe(l, path), message: "\(error)")
        }
    }

    /// The exporter replays each layer from its parts; the replay must agree exactly with the
    /// layer's own forward, or the graph would not be the model.
    func checkSame(_ a: Tensor, _ b: Tensor, _ layer: String, _ what: String) throws {
        guard a.shape == b.shape else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "\(what): replay shape \(a.shape) differs from the layer's forward \(b.shape)")
        }
        // Equal as floats (so -0 and +0 agree, as they do for every consumer), NaN where NaN.
        let pa = a.storage.pointer, pb = b.storage.pointer
        for i in 0..<a.count where !(pa[i] == pb[i] || (pa[i].isNaN && pb[i].isNaN)) {
            throw ONNXExportError.inconsistent(
                layer: layer, reason: "\(what): replayed value \(pa[i]) differs from the layer's forward \(pb[i]) at element \(i)")
        }
    }
}
