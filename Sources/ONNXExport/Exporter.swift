import Foundation
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

/// What a tensor quantizer does, as far as the export formats care.
enum QuantizerKind {
    /// Integer quantization with round-half-even and clamping to the range's `[minInt, maxInt]`.
    case int(IntRange)
    /// `±scale` by sign (`x >= 0` gives `+scale`).
    case binary
    /// `{-scale, 0, +scale}`, nonzero where `|x| >= threshold · scale`.
    case ternary(threshold: Float)
}

let qonnxDomain = "qonnx.custom_op.general"

/// Walks a model structurally, evaluating each layer in eval mode on the traced example, and
/// emits the ONNX nodes that reproduce it.
final class Exporter {
    let format: ONNXFormat
    let b = GraphBuilder()
    var quantPoints: [ONNXQuantPoint] = []

    init(format: ONNXFormat, dynamicBatch: Bool = false) {
        self.format = format
        b.dynamicBatch = dynamicBatch
    }

    // MARK: Entry

    func run(_ model: Module, examples: [Tensor]) throws -> ONNXExportResult {
        guard !examples.isEmpty else { throw ONNXExportError.badExample(reason: "no example input") }
        let root = describe(model, "")
        let inputs: [Traced] = examples.enumerated().map { i, t in
            Traced(name: b.addInput(examples.count == 1 ? "input" : "input_\(i)", shape: t.shape), value: .float(t))
        }
        let out: Traced
        if let multi = model as? QuantMultiInputLayer {
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
                                 zeroPoint: p.zeroPoint, bitWidth: p.bitWidth, signed: p.signed)
                : p
        }
        b.addOutput("output")

        var model = Onnx_ModelProto()
        model.producerName = "swift-brevitas"
        model.producerVersion = "0.1"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        switch format {
        case .qcdq:
            model.irVersion = 7
            opset.version = 13
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
                                output: out.value.value, outputQuant: out.value.quantTensor, quantPoints: quantPoints)
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

    // MARK: Quantized activations

    func emitActivationLayer(_ l: QuantActivationLayer, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let expected = try forward(l, x, path)
        let prefix = Self.nodePrefix(path)
        var cur = try emitActProxy(l.inputQuant, x, prefix: prefix + "/input_quant", layer: layer + " input_quant")
        cur = try emitActProxy(l.actQuant, cur, prefix: prefix + "/act_quant", layer: layer + " act_quant")
        try checkSame(cur.value.value, expected.value, layer, "output")
        return Traced(name: cur.name, value: expected)
    }

    /// The float activation of an activation proxy, then its quantizer.
    func emitActProxy(_ proxy: ActQuantProxy, _ x: Traced, prefix: String, layer: String) throws -> Traced {
        let y = proxy(x.value)
        var name = x.name
        let shape = y.value.shape
        switch proxy.activation {
        case .identity: break
        case .relu: name = b.node("Relu", [name], name: prefix + "/activation_impl/Relu", type: .float, shape: shape)
        case .sigmoid: name = b.node("Sigmoid", [name], name: prefix + "/activation_impl/Sigmoid", type: .float, shape: shape)
        case .tanh: name = b.node("Tanh", [name], name: prefix + "/activation_impl/Tanh", type: .float, shape: shape)
        case .hardtanh(let lo, let hi):
            let l = b.constant(prefix + "/activation_impl/min_val", scalar: lo)
            let h = b.constant(prefix + "/activation_impl/max_val", scalar: hi)
            name = b.node("Clip", [name, l, h], name: prefix + "/activation_impl/Clip", type: .float, shape: shape)
        }
        guard let tq = proxy.tensorQuant else { return Traced(name: name, value: y) }
        guard let q = y.quantTensor else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "an enabled quantizer returned a plain tensor")
        }
        name = try emitActQuant(name, q, quantizer: tq, prefix: prefix + "/export_handler", layer: layer)
        return Traced(name: name, value: y)
    }

    func quantizerKind(_ tq: Module, _ q: QuantTensor, layer: String) throws -> QuantizerKind {
        switch tq {
        case let r as RescalingIntQuant:
            // QONNX's (signed, narrow, bit width) encoding is Brevitas's: the same `IntRange`
            // (unsigned narrow ranges end at 2^b − 2, as Brevitas's and qonnx's max_int).
            let range = r.intRange
            guard Int(q.bitWidth.item()) == range.bitWidth else {
                throw ONNXExportError.inconsistent(layer: layer, reason: "quantizer bit width \(range.bitWidth) differs from its output's \(q.bitWidth.item())")
            }
            return .int(range)
        case is BinaryQuant: return .binary
        case let t as TernaryQuant: return .ternary(threshold: t.threshold)
        default:
            throw ONNXExportError.unsupportedModule(layer: layer, reason: "unknown tensor quantizer \(tq.typeName)")
        }
    }

    /// Emits the quantization of the float tensor `input` with the metadata of `q`.
    func emitActQuant(_ input: String, _ q: QuantTensor, quantizer: TensorQuantizer, prefix: String, layer: String) throws -> String {
        let kind = try quantizerKind(quantizer, q, layer: layer)
        let shape = q.value.shape
        let out: String
        let bits: Int
        switch (format, kind) {
        case (.qcdq, .int(let range)):
            bits = range.bitWidth
            guard bits <= 8 else {
                throw ONNXExportError.notExpressible(
                    layer: layer, format: format,
                    reason: "\(bits)-bit activations do not fit QuantizeLinear's 8-bit types (int8/uint8); use 8 bits or fewer, or export QONNX")
            }
            let container: ElementType = range.signed ? .int8 : .uint8
            let (scale, zp, attrs) = try qdqParameters(q.scale, q.zeroPoint, rank: shape.count, container: container,
                                                        prefix: prefix, layer: layer, what: "activation")
            var t = b.node("QuantizeLinear", [input, scale, zp], name: prefix + "/QuantizeLinear", attributes: attrs,
                           type: container, shape: shape)
            t = clipIfNarrower(t, range.integerBounds, container: container, prefix: prefix, shape: shape)
            out = b.node("DequantizeLinear", [t, scale, zp], name: prefix + "/DequantizeLinear", attributes: attrs,
                         type: .float, shape: shape)
        case (.qcdq, .binary), (.qcdq, .ternary):
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "\(kindName(kind)) activation quantization has no QuantizeLinear form (QuantizeLinear rounds half to even onto a contiguous integer range); export QONNX")
        case (.qonnx, .int(let range)):
            bits = range.bitWidth
            out = quantNode(input, q.scale, q.zeroPoint, range, roundingMode: "ROUND", prefix: prefix, shape: shape)
        case (.qonnx, .binary):
            bits = 1
            try requireZeroZeroPoint(q, layer: layer, what: "binary")
            let s = b.constant(prefix + "/scale", tensor: q.scale)
            out = b.node("BipolarQuant", [input, s], name: prefix + "/BipolarQuant", domain: qonnxDomain, type: .float, shape: shape)
        case (.qonnx, .ternary(let threshold)):
            bits = 2
            out = try ternaryQuant(input, q, threshold: threshold, prefix: prefix, layer: layer, shape: shape)
        }
        quantPoints.append(ONNXQuantPoint(tensorName: out, layer: layer, value: q.value, scale: q.scale, zeroPoint: q.zeroPoint,
                                          bitWidth: bits, signed: q.signed))
        return out
    }

    func kindName(_ k: QuantizerKind) -> String {
        switch k {
        case .int: return "integer"
        case .binary: return "binary (sign)"
        case .ternary: return "ternary"
        }
    }

    func requireZeroZeroPoint(_ q: QuantTensor, layer: String, what: String) throws {
        guard q.zeroPoint.scalars.allSatisfy({ $0 == 0 }) else {
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "\(what) quantization with a nonzero zero point")
        }
    }

    /// QONNX `Quant(x, scale, zero_point, bit_width)`.
    func quantNode(_ input: String, _ scale: Tensor, _ zeroPoint: Tensor, _ range: IntRange,
                   roundingMode: String, prefix: String, shape: [Int]) -> String {
        let bits = range.bitWidth, signed = range.signed, narrow = range.narrowRange
        let s = b.constant(prefix + "/scale", tensor: scale)
        let z = b.constant(prefix + "/zero_point", tensor: zeroPoint)
        let bw = b.constant(prefix + "/bit_width", scalar: Float(bits))
        return b.node("Quant", [input, s, z, bw], name: prefix + "/Quant", domain: qonnxDomain,
                      attributes: [GraphBuilder.attr("narrow", int: narrow ? 1 : 0),
                                   GraphBuilder.attr("rounding_mode", string: roundingMode),
                                   GraphBuilder.attr("signed", int: signed ? 1 : 0)],
                      type: .float, shape: shape)
    }

    /// Ternary quantization as a 2-bit narrow signed `Quant` with half-up rounding: for
    /// threshold 0.5, `sign(v)·floor(|v| + 0.5)` clamped to [-1, 1] is nonzero exactly where
    /// `|v| >= 0.5` (round-half-even would send `|v| = 0.5` to 0).
    func ternaryQuant(_ input: String, _ q: QuantTensor, threshold: Float, prefix: String, layer: String, shape: [Int]) throws -> String {
        guard threshold == 0.5 else {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "ternary threshold \(threshold) · scale; a Quant op rounds at 0.5 · scale, so only threshold 0.5 is expressible")
        }
        try requireZeroZeroPoint(q, layer: layer, what: "ternary")
        return quantNode(input, q.scale, q.zeroPoint, IntRange(bitWidth: 2, signed: true, narrowRange: true), roundingMode: "HALF_UP",
                         prefix: prefix, shape: shape)
    }

    /// Scale and zero-point initializers of a QuantizeLinear/DequantizeLinear pair: scalars per
    /// tensor; 1-D with an `axis` attribute per channel.
    func qdqParameters(_ scale: Tensor, _ zeroPoint: Tensor, rank: Int, container: ElementType, prefix: String,
                       layer: String, what: String) throws -> (String, String, [Onnx_AttributeProto]) {
        let sAxis = try channelAxis(scale, rank: rank, layer: layer, what: "\(what) scale")
        let zAxis = try channelAxis(zeroPoint, rank: rank, layer: layer, what: "\(what) zero point")
        if let sa = sAxis, let za = zAxis, sa != za {
            throw ONNXExportError.notExpressible(layer: layer, format: format,
                                                 reason: "\(what) scale varies along axis \(sa) but its zero point along axis \(za)")
        }
        let axis = sAxis ?? zAxis
        let n = axis == nil ? 1 : Swift.max(scale.count, zeroPoint.count)
        func expand(_ t: Tensor) -> [Float] { t.count == 1 ? [Float](repeating: t.scalars[0], count: n) : t.scalars }
        let scales = expand(scale), zps = expand(zeroPoint)
        let shape = axis == nil ? [] : [n]
        var codes: [Int64] = []
        for z in zps {
            guard z == z.rounded(), Double(z) >= container.range.min, Double(z) <= container.range.max else {
                throw ONNXExportError.notExpressible(layer: layer, format: format,
                                                     reason: "\(what) zero point \(z) is not an integer of \(container.name)")
            }
            codes.append(Int64(z))
        }
        guard scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "\(what) scale \(scales.prefix(4)) is not positive and finite")
        }
        let s = b.constant(prefix + "/scale", floats: scales, shape: shape)
        let z = b.constant(prefix + "/zero_point", integers: codes, type: container, shape: shape)
        return (s, z, axis.map { [GraphBuilder.attr("axis", int: $0)] } ?? [])
    }

    /// The single axis along which a broadcastable parameter varies (`nil` per tensor).
    func channelAxis(_ t: Tensor, rank: Int, layer: String, what: String) throws -> Int? {
        if t.count == 1 { return nil }
        guard t.rank <= rank else {
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "\(what) of shape \(t.shape) has more dimensions than the tensor (\(rank))")
        }
        let aligned = [Int](repeating: 1, count: rank - t.rank) + t.shape
        let axes = aligned.indices.filter { aligned[$0] != 1 }
        guard axes.count == 1 else {
            throw ONNXExportError.notExpressible(layer: layer, format: format,
                                                 reason: "\(what) of shape \(t.shape) varies along more than one axis; QuantizeLinear takes one axis")
        }
        return axes[0]
    }

    /// `Clip(t, minInt, maxInt)` in the container type when the range is narrower than it.
    func clipIfNarrower(_ t: String, _ bounds: (min: Int64, max: Int64), container: ElementType, prefix: String, shape: [Int]) -> String {
        let (minInt, maxInt) = bounds
        let r = container.range
        if Double(minInt) == r.min && Double(maxInt) == r.max { return t }
        let lo = b.constant(prefix + "/min_int", integers: [minInt], type: container, shape: [])
        let hi = b.constant(prefix + "/max_int", integers: [maxInt], type: container, shape: [])
        return b.node("Clip", [t, lo, hi], name: prefix + "/Clip", type: container, shape: shape)
    }

    /// The integer codes `round(value / scale + zeroPoint)` of a quantized constant, checked to
    /// reproduce `value` exactly as `(code - zeroPoint) · scale` (what DequantizeLinear computes).
    func integerCodes(_ q: QuantTensor, layer: String, what: String) throws -> [Int64] {
        let pre = (q.value / q.scale + q.zeroPoint)
        let codes = pre.rounded()
        let recon = (codes - q.zeroPoint) * q.scale
        try checkSame(recon, q.value, layer, "\(what) codes")
        return codes.scalars.map { Int64($0) }
    }

    // MARK: Weight layers

    func emitWeightLayer(_ l: QuantWeightBiasLayer, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let prefix = Self.nodePrefix(path)
        switch l {
        case is QuantLinear, is QuantConv2d, is QuantConv1d: break
        default: throw ONNXExportError.unsupportedModule(layer: layer, reason: "unknown weight layer \(l.typeName)")
        }
        let expected = try forward(l, x, path)

        let inp = try emitActProxy(l.inputQuant, x, prefix: prefix + "/input_quant", layer: layer + " input_quant")
        let qw = l.quantWeight()
        let wName = try emitWeight(l, qw, path: path, prefix: prefix + "/weight_quant", layer: layer + " weight_quant")
        var bName: String? = nil
        var qbValue: Tensor? = nil
        if let bias = l.bias {
            if l.biasQuant.isQuantEnabled {
                let qb: QuantValue
                do { qb = try l.biasQuant(bias, input: inp.value, weight: qw, layer: l.typeName) } catch {
                    throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
                }
                guard let q = qb.quantTensor else {
                    throw ONNXExportError.inconsistent(layer: layer, reason: "the enabled bias quantizer returned a plain tensor")
                }
                bName = try emitBias(l, q, path: path, prefix: prefix + "/bias_quant", layer: layer + " bias_quant")
                qbValue = q.value
            } else {
                bName = b.constant(Self.join(path, "bias"), tensor: bias)
                qbValue = bias
            }
        }
        // The float op, exactly as the layer computes it.
        let acc: Tensor
        let accName: String
        switch l {
        case let c as QuantConv2d:
            acc = Tensor.conv2d(inp.value.value, weight: qw.value, bias: qbValue, stride: c.stride.pair, padding: c.padding.pair,
                                dilation: c.dilation.pair, groups: c.groups)
            accName = conv(inp.name, wName, bName, kernel: [c.kernelSize.first, c.kernelSize.second],
                           stride: [c.stride.first, c.stride.second], padding: [c.padding.first, c.padding.second],
                           dilation: [c.dilation.first, c.dilation.second], groups: c.groups, prefix: prefix, shape: acc.shape)
        case let c as QuantConv1d:
            acc = Tensor.conv1d(inp.value.value, weight: qw.value, bias: qbValue, stride: c.stride, padding: c.padding,
                                dilation: c.dilation, groups: c.groups)
            accName = conv(inp.name, wName, bName, kernel: [c.kernelSize], stride: [c.stride], padding: [c.padding],
                           dilation: [c.dilation], groups: c.groups, prefix: prefix, shape: acc.shape)
        default:
            acc = Tensor.linear(inp.value.value, weight: qw.value, bias: qbValue)
            accName = linear(inp.name, inputShape: inp.shape, wName, bName, prefix: prefix, shape: acc.shape)
        }
        let out = try emitActProxy(l.outputQuant, Traced(name: accName, value: .float(acc)), prefix: prefix + "/output_quant",
                                   layer: layer + " output_quant")
        try checkSame(out.value.value, expected.value, layer, "output")
        return Traced(name: out.name, value: expected)
    }

    func emitWeight(_ l: QuantWeightBiasLayer, _ qw: QuantValue, path: String, prefix: String, layer: String) throws -> String {
        let key = Self.join(path, "weight")
        guard let q = qw.quantTensor, let tq = l.weightQuant.tensorQuant else {
            return b.constant(key, tensor: l.weight)
        }
        let kind = try quantizerKind(tq, q, layer: layer)
        let shape = l.weight.shape
        switch format {
        case .qcdq:
            let container: ElementType
            let range: (min: Int64, max: Int64)
            switch kind {
            case .int(let intRange):
                let bits = intRange.bitWidth
                guard bits <= 8 else {
                    throw ONNXExportError.notExpressible(
                        layer: layer, format: format,
                        reason: "\(bits)-bit weights do not fit DequantizeLinear's 8-bit types (int8/uint8); use 8 bits or fewer, or export QONNX")
                }
                container = intRange.signed ? .int8 : .uint8
                range = intRange.integerBounds
            case .binary, .ternary:
                // Constant codes -1/+1 (binary) or -1/0/+1 (ternary) are exact in int8.
                container = .int8
                range = (-1, 1)
            }
            let codes = try integerCodes(q, layer: layer, what: "weight")
            let c = b.constant(prefix + "/int_weight", integers: codes, type: container, shape: shape)
            let (s, z, attrs) = try qdqParameters(q.scale, q.zeroPoint, rank: shape.count, container: container,
                                                   prefix: prefix, layer: layer, what: "weight")
            let clipped = clipIfNarrower(c, range, container: container, prefix: prefix, shape: shape)
            return b.node("DequantizeLinear", [clipped, s, z], name: prefix + "/DequantizeLinear", attributes: attrs,
                          type: .float, shape: shape)
        case .qonnx:
            let w = b.constant(key, tensor: l.weight)
            switch kind {
            case .int(let range):
                return quantNode(w, q.scale, q.zeroPoint, range, roundingMode: "ROUND", prefix: prefix, shape: shape)
            case .binary:
                try requireZeroZeroPoint(q, layer: layer, what: "binary")
                let s = b.constant(prefix + "/scale", tensor: q.scale)
                return b.node("BipolarQuant", [w, s], name: prefix + "/BipolarQuant", domain: qonnxDomain, type: .float, shape: shape)
            case .ternary(let t):
                return try ternaryQuant(w, q, threshold: t, prefix: prefix, layer: layer, shape: shape)
            }
        }
    }

    func emitBias(_ l: QuantWeightBiasLayer, _ q: QuantTensor, path: String, prefix: String, layer: String) throws -> String {
        let bits = Int(q.bitWidth.item())
        let shape = l.bias!.shape
        switch format {
        case .qcdq:
            guard bits <= 32 else {
                throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "\(bits)-bit biases exceed int32")
            }
            let container: ElementType = bits <= 8 ? .int8 : .int32
            let codes = try integerCodes(q, layer: layer, what: "bias")
            let c = b.constant(prefix + "/int_bias", integers: codes, type: container, shape: shape)
            let (s, z, attrs) = try qdqParameters(q.scale, q.zeroPoint, rank: shape.count, container: container,
                                                   prefix: prefix, layer: layer, what: "bias")
            return b.node("DequantizeLinear", [c, s, z], name: prefix + "/DequantizeLinear", attributes: attrs,
                          type: .float, shape: shape)
        case .qonnx:
            let bias = b.constant(Self.join(path, "bias"), tensor: l.bias!)
            return quantNode(bias, q.scale, q.zeroPoint, IntRange(bitWidth: bits, signed: true, narrowRange: false),
                             roundingMode: "ROUND", prefix: prefix, shape: shape)
        }
    }

    // MARK: Float ops

    func conv(_ x: String, _ w: String, _ bias: String?, kernel: [Int], stride: [Int], padding: [Int], dilation: [Int],
              groups: Int, prefix: String, shape: [Int]) -> String {
        b.node("Conv", [x, w] + (bias.map { [$0] } ?? []), name: prefix + "/Conv",
               attributes: [GraphBuilder.attr("dilations", ints: dilation), GraphBuilder.attr("group", int: groups),
                            GraphBuilder.attr("kernel_shape", ints: kernel), GraphBuilder.attr("pads", ints: padding + padding),
                            GraphBuilder.attr("strides", ints: stride)],
               type: .float, shape: shape)
    }

    /// `x · Wᵀ + b`: `Gemm(transB=1)` for 2-D inputs, `MatMul(x, Transpose(W)) + b` otherwise.
    func linear(_ x: String, inputShape: [Int], _ w: String, _ bias: String?, prefix: String, shape: [Int]) -> String {
        if inputShape.count == 2 {
            return b.node("Gemm", [x, w] + (bias.map { [$0] } ?? []), name: prefix + "/Gemm",
                          attributes: [GraphBuilder.attr("alpha", float: 1), GraphBuilder.attr("beta", float: 1),
                                       GraphBuilder.attr("transB", int: 1)],
                          type: .float, shape: shape)
        }
        let wShape = b.types[w]!.1
        let wt = b.node("Transpose", [w], name: prefix + "/Transpose", attributes: [GraphBuilder.attr("perm", ints: [1, 0])],
                        type: .float, shape: [wShape[1], wShape[0]])
        let mm = b.node("MatMul", [x, wt], name: prefix + "/MatMul", type: .float, shape: shape)
        guard let bias else { return mm }
        return b.node("Add", [mm, bias], name: prefix + "/Add", type: .float, shape: shape)
    }

    func maxPool(_ x: String, kernel: IntOrPair, stride: IntOrPair, padding: IntOrPair, prefix: String, shape: [Int]) -> String {
        b.node("MaxPool", [x], name: prefix + "/MaxPool",
               attributes: [GraphBuilder.attr("ceil_mode", int: 0), GraphBuilder.attr("kernel_shape", ints: [kernel.first, kernel.second]),
                            GraphBuilder.attr("pads", ints: [padding.first, padding.second, padding.first, padding.second]),
                            GraphBuilder.attr("strides", ints: [stride.first, stride.second])],
               type: .float, shape: shape)
    }

    /// Average pooling with zero padding counted in the divisor (`count_include_pad=1`, as
    /// PyTorch's default and the Swift kernel).
    func avgPool(_ x: String, kernel: IntOrPair, stride: IntOrPair, padding: IntOrPair, prefix: String, shape: [Int]) -> String {
        b.node("AveragePool", [x], name: prefix + "/AveragePool",
               attributes: [GraphBuilder.attr("ceil_mode", int: 0), GraphBuilder.attr("count_include_pad", int: 1),
                            GraphBuilder.attr("kernel_shape", ints: [kernel.first, kernel.second]),
                            GraphBuilder.attr("pads", ints: [padding.first, padding.second, padding.first, padding.second]),
                            GraphBuilder.attr("strides", ints: [stride.first, stride.second])],
               type: .float, shape: shape)
    }

    /// `flatten(startDim...endDim)`: ONNX `Flatten(axis=1)` for the usual `[N, ...] -> [N, -1]`,
    /// otherwise a `Reshape` to the (static) result shape.
    func flatten(_ x: Traced, startDim: Int, endDim: Int, prefix: String, shape: [Int]) -> String {
        let rank = x.shape.count
        let s = startDim < 0 ? startDim + rank : startDim
        let e = endDim < 0 ? endDim + rank : endDim
        if s == 1 && e == rank - 1 {
            return b.node("Flatten", [x.name], name: prefix + "/Flatten", attributes: [GraphBuilder.attr("axis", int: 1)],
                          type: .float, shape: shape)
        }
        // With a dynamic batch, 0 copies the input's batch dimension (Reshape's allowzero = 0).
        let dims = shape.enumerated().map { i, d in Int64(b.dynamicBatch && i == 0 && s >= 1 ? 0 : d) }
        let target = b.constant(prefix + "/shape", integers: dims, type: .int64, shape: [shape.count])
        return b.node("Reshape", [x.name, target], name: prefix + "/Reshape", type: .float, shape: shape)
    }

    /// Adaptive average pooling as a fixed-window `AveragePool` (or `GlobalAveragePool`); only
    /// when the input size is a multiple of the output size, so every window has the same size.
    func adaptiveAvgPool(_ x: Traced, outputSize: IntOrPair, prefix: String, layer: String, shape: [Int]) throws -> String {
        let inH = x.shape[2], inW = x.shape[3]
        let (oH, oW) = outputSize.pair
        if oH == 1 && oW == 1 {
            return b.node("GlobalAveragePool", [x.name], name: prefix + "/GlobalAveragePool", type: .float, shape: shape)
        }
        guard inH % oH == 0 && inW % oW == 0 else {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "adaptive average pooling of \(inH)x\(inW) to \(oH)x\(oW) has windows of different sizes; ONNX AveragePool needs a fixed window (make the input size a multiple of the output size)")
        }
        let k = IntOrPair(inH / oH, inW / oW)
        return avgPool(x.name, kernel: k, stride: k, padding: IntOrPair(0, 0), prefix: prefix, shape: shape)
    }

    // MARK: Truncating average pools

    func emitTruncAvgPool(_ l: TruncAvgPool2d, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let prefix = Self.nodePrefix(path)
        let expected = try forward(l, x, path)
        let pooledShape = expected.value.shape
        let pooledName = avgPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: IntOrPair(0, 0), prefix: prefix, shape: pooledShape)
        guard case .quant(let q) = x.value, let tq = l.truncQuant.tensorQuant else {
            return Traced(name: pooledName, value: expected)
        }
        let pooled = q.avgPool2d(kernelSize: l.kernelSize.pair, stride: l.stride.pair)
        guard let out = l.truncQuant(.quant(pooled)).quantTensor else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "the truncation returned a plain tensor")
        }
        let name = try emitTrunc(pooledName, pooled, out, tq, prefix: prefix + "/trunc_quant/export_handler", layer: layer + " trunc_quant")
        try checkSame(out.value, expected.value, layer, "output")
        return Traced(name: name, value: expected)
    }

    func emitTruncAdaptiveAvgPool(_ l: TruncAdaptiveAvgPool2d, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let prefix = Self.nodePrefix(path)
        let expected = try forward(l, x, path)
        let pooledName = try adaptiveAvgPool(x, outputSize: l.outputSize, prefix: prefix, layer: layer, shape: expected.value.shape)
        guard case .quant(let q) = x.value, let tq = l.truncQuant.tensorQuant else {
            return Traced(name: pooledName, value: expected)
        }
        // As the layer: window k = kh·kw, scale s / k, bit width ceil(log2(maxUint · k)).
        let inH = x.shape[2], inW = x.shape[3]
        let (oH, oW) = l.outputSize.pair
        let k = Float((inH - (oH - 1) * (inH / oH)) * (inW - (oW - 1) * (inW / oW)))
        let v = Tensor.adaptiveAvgPool2d(q.value, outputSize: l.outputSize.pair)
        let maxUint = IntRange(bitWidth: Int(q.bitWidth.item()), signed: false, narrowRange: false).maxInt
        let bw = Float(Foundation.ceil(Foundation.log2(maxUint * Double(k))))
        let pooled = QuantTensor(value: v, scale: q.scale / k, zeroPoint: q.zeroPoint, bitWidth: Tensor(bw), signed: q.signed,
                                 training: q.training)
        guard let out = l.truncQuant(.quant(pooled)).quantTensor else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "the truncation returned a plain tensor")
        }
        let name = try emitTrunc(pooledName, pooled, out, tq, prefix: prefix + "/trunc_quant/export_handler", layer: layer + " trunc_quant")
        try checkSame(out.value, expected.value, layer, "output")
        return Traced(name: name, value: expected)
    }

    /// Truncation of an average-pooled QuantTensor (`pooled`: scale s/k, the window sum's bit
    /// width) to `out` (scale s/k · 2^shift, the output bit width).
    ///
    /// QONNX: `Trunc(x, scale, zero_point, input_bit_width, output_scale, output_bit_width)` as
    /// Brevitas emits it. QCDQ has no truncation op; Brevitas's QCDQ export requantizes with
    /// `QuantizeLinear(output_scale)`, which rounds half to even at the wrong place (it rounds
    /// `sum / 2^shift` with float noise instead of the integer sum, and it cannot floor). This
    /// emits the exact integer arithmetic instead:
    /// `Round(x / s_in) -> Div(2^shift) -> Round|Floor -> Clip -> Cast(int8|uint8) -> DequantizeLinear`
    /// (`Div` and the second rounding only when `2^shift != 1`).
    func emitTrunc(_ input: String, _ pooled: QuantTensor, _ out: QuantTensor, _ tq: TruncIntQuant, prefix: String, layer: String) throws -> String {
        guard pooled.zeroPoint.scalars.allSatisfy({ $0 == 0 }) else {
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "truncation of a tensor with a nonzero zero point (Brevitas does not export it either)")
        }
        let shape = out.value.shape
        let outBits = tq.bitWidthImpl.bits
        let inBits = pooled.bitWidth.item()
        let signed = pooled.signed
        // The truncation scale 2^shift, read off the quantizer's own result (the shift can be
        // negative: a sum narrower than the output is scaled up, as in Brevitas).
        let ratios = Set((out.scale / pooled.scale).scalars)
        guard ratios.count == 1, let truncScale = ratios.first, truncScale > 0,
              Foundation.exp2(Foundation.log2(Double(truncScale)).rounded()) == Double(truncScale) else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "truncation scale \(ratios.sorted().prefix(4)) is not one power of two")
        }
        let name: String
        switch format {
        case .qonnx:
            let s = b.constant(prefix + "/scale", tensor: pooled.scale)
            let z = b.constant(prefix + "/zero_point", tensor: pooled.zeroPoint)
            let ib = b.constant(prefix + "/input_bit_width", scalar: inBits)
            let os = b.constant(prefix + "/output_scale", tensor: out.scale)
            let ob = b.constant(prefix + "/output_bit_width", scalar: Float(outBits))
            name = b.node("Trunc", [input, s, z, ib, os, ob], name: prefix + "/Trunc", domain: qonnxDomain,
                          attributes: [GraphBuilder.attr("narrow", int: 0),
                                       GraphBuilder.attr("rounding_mode", string: tq.rounding == .floor ? "FLOOR" : "ROUND"),
                                       GraphBuilder.attr("signed", int: signed ? 1 : 0)],
                          type: .float, shape: shape)
        case .qcdq:
            guard outBits <= 8 else {
                throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "\(outBits)-bit truncation output does not fit int8/uint8")
            }
            let s = b.constant(prefix + "/scale", tensor: pooled.scale)
            var t = b.node("Div", [input, s], name: prefix + "/Div", type: .float, shape: shape)
            t = b.node("Round", [t], name: prefix + "/Round", type: .float, shape: shape)
            if truncScale != 1 {
                let d = b.constant(prefix + "/trunc_scale", scalar: truncScale)
                t = b.node("Div", [t, d], name: prefix + "/Div", type: .float, shape: shape)
                t = b.node(tq.rounding == .floor ? "Floor" : "Round", [t], name: prefix + (tq.rounding == .floor ? "/Floor" : "/Round"),
                           type: .float, shape: shape)
            }
            let codes = IntRange(bitWidth: outBits, signed: signed, narrowRange: false).bounds
            let loName = b.constant(prefix + "/min_int", scalar: codes.min)
            let hiName = b.constant(prefix + "/max_int", scalar: codes.max)
            t = b.node("Clip", [t, loName, hiName], name: prefix + "/Clip", type: .float, shape: shape)
            let container: ElementType = signed ? .int8 : .uint8
            t = b.node("Cast", [t], name: prefix + "/Cast", attributes: [GraphBuilder.attr("to", int: Int(container.onnx))],
                       type: container, shape: shape)
            let (sc, zp, attrs) = try qdqParameters(out.scale, out.zeroPoint, rank: shape.count, container: container,
                                                     prefix: prefix + "/output", layer: layer, what: "truncation output")
            name = b.node("DequantizeLinear", [t, sc, zp], name: prefix + "/DequantizeLinear", attributes: attrs, type: .float, shape: shape)
        }
        quantPoints.append(ONNXQuantPoint(tensorName: name, layer: layer, value: out.value, scale: out.scale, zeroPoint: out.zeroPoint,
                                          bitWidth: outBits, signed: signed))
        return name
    }

    // MARK: Multi-input layers

    func emitMultiInput(_ l: QuantMultiInputLayer, _ xs: [Traced], path: String) throws -> Traced {
        let layer = describe(l, path)
        let prefix = Self.nodePrefix(path)
        if l is QuantEltwiseAdd && xs.count != 2 {
            // At the root the inputs are the examples; inside a composite, its dataflow's values.
            throw path.isEmpty
                ? ONNXExportError.badExample(reason: "\(layer) takes 2 inputs, \(xs.count) examples given")
                : ONNXExportError.unsupportedModule(layer: layer, reason: "takes 2 inputs, the enclosing dataflow applies it to \(xs.count)")
        }
        let expected: QuantValue
        do { expected = try l.forward(xs.map(\.value)) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        let inputQuant: ActQuantProxy, outputQuant: ActQuantProxy
        switch l {
        case let a as QuantEltwiseAdd: (inputQuant, outputQuant) = (a.inputQuant, a.outputQuant)
        case let c as QuantCat: (inputQuant, outputQuant) = (c.inputQuant, c.outputQuant)
        default: throw ONNXExportError.unsupportedModule(layer: layer, reason: "unknown multi-input layer \(l.typeName)")
        }
        let qs = try xs.map { try emitActProxy(inputQuant, $0, prefix: prefix + "/input_quant", layer: layer + " input_quant") }
        let joined: Traced
        switch l {
        case is QuantEltwiseAdd:
            let v = qs[0].value.value + qs[1].value.value
            joined = Traced(name: b.node("Add", [qs[0].name, qs[1].name], name: prefix + "/Add", type: .float, shape: v.shape), value: .float(v))
        default:
            let dim = (l as! QuantCat).dim
            let v = Tensor.cat(qs.map(\.value.value), dim: dim)
            let axis = dim < 0 ? dim + v.rank : dim
            joined = Traced(name: b.node("Concat", qs.map(\.name), name: prefix + "/Concat", attributes: [GraphBuilder.attr("axis", int: axis)],
                                         type: .float, shape: v.shape), value: .float(v))
        }
        let out = try emitActProxy(outputQuant, joined, prefix: prefix + "/output_quant", layer: layer + " output_quant")
        try checkSame(out.value.value, expected.value, layer, "output")
        return Traced(name: out.name, value: expected)
    }

    // MARK: Float (NN) layers

    static let floatTypes: Set<ObjectIdentifier> = [
        ObjectIdentifier(Sequential.self), ObjectIdentifier(Linear.self), ObjectIdentifier(Conv2d.self),
        ObjectIdentifier(Conv1d.self), ObjectIdentifier(ReLU.self), ObjectIdentifier(Sigmoid.self),
        ObjectIdentifier(Tanh.self), ObjectIdentifier(HardTanh.self), ObjectIdentifier(Flatten.self),
        ObjectIdentifier(MaxPool2d.self), ObjectIdentifier(AvgPool2d.self), ObjectIdentifier(AdaptiveAvgPool2d.self),
        ObjectIdentifier(Identity.self), ObjectIdentifier(BatchNorm1d.self), ObjectIdentifier(BatchNorm2d.self),
    ]

    func emitFloat(_ m: Module, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(m, path)
        let prefix = Self.nodePrefix(path)
        let xv = x.value.value
        func out(_ name: String, _ v: Tensor) -> Traced { Traced(name: name, value: .float(v)) }
        // The float layers are open classes: a subclass may compute something else, so only the
        // exact library types are translated.
        guard Self.floatTypes.contains(ObjectIdentifier(type(of: m))) else {
            throw ONNXExportError.unsupportedModule(
                layer: layer, reason: "no ONNX translation for the float layer \(m.typeName) (only the library's own Linear, Conv1d/2d, BatchNorm1d/2d, ReLU, Sigmoid, Tanh, HardTanh, Flatten, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Identity and Sequential, not subclasses)")
        }
        switch m {
        case let s as Sequential:
            var cur = x
            for (i, l) in s.layers.enumerated() { cur = try emitFloat(l, cur, path: Self.join(path, s.children[i].name)) }
            return cur
        case let l as Linear:
            let v = l(xv)
            let w = b.constant(Self.join(path, "weight"), tensor: l.weight)
            let bias = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
            return out(linear(x.name, inputShape: x.shape, w, bias, prefix: prefix, shape: v.shape), v)
        case let l as Conv2d:
            let v = l(xv)
            let w = b.constant(Self.join(path, "weight"), tensor: l.weight)
            let bias = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
            return out(conv(x.name, w, bias, kernel: [l.kernelSize.first, l.kernelSize.second], stride: [l.stride.first, l.stride.second],
                            padding: [l.padding.first, l.padding.second], dilation: [l.dilation.first, l.dilation.second],
                            groups: l.groups, prefix: prefix, shape: v.shape), v)
        case let l as Conv1d:
            let v = l(xv)
            let w = b.constant(Self.join(path, "weight"), tensor: l.weight)
            let bias = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
            return out(conv(x.name, w, bias, kernel: [l.kernelSize], stride: [l.stride], padding: [l.padding], dilation: [l.dilation],
                            groups: l.groups, prefix: prefix, shape: v.shape), v)
        case let l as ReLU:
            let v = l(xv)
            return out(b.node("Relu", [x.name], name: prefix + "/Relu", type: .float, shape: v.shape), v)
        case let l as Sigmoid:
            let v = l(xv)
            return out(b.node("Sigmoid", [x.name], name: prefix + "/Sigmoid", type: .float, shape: v.shape), v)
        case let l as Tanh:
            let v = l(xv)
            return out(b.node("Tanh", [x.name], name: prefix + "/Tanh", type: .float, shape: v.shape), v)
        case let l as HardTanh:
            let v = l(xv)
            let lo = b.constant(prefix + "/min_val", scalar: l.minValue)
            let hi = b.constant(prefix + "/max_val", scalar: l.maxValue)
            return out(b.node("Clip", [x.name, lo, hi], name: prefix + "/Clip", type: .float, shape: v.shape), v)
        case let l as Flatten:
            let v = l(xv)
            return out(flatten(x, startDim: l.startDim, endDim: l.endDim, prefix: prefix, shape: v.shape), v)
        case let l as MaxPool2d:
            let v = l(xv)
            return out(maxPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: l.padding, prefix: prefix, shape: v.shape), v)
        case let l as AvgPool2d:
            let v = l(xv)
            return out(avgPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: l.padding, prefix: prefix, shape: v.shape), v)
        case let l as AdaptiveAvgPool2d:
            let v = l(xv)
            return out(try adaptiveAvgPool(x, outputSize: l.outputSize, prefix: prefix, layer: layer, shape: v.shape), v)
        case let l as BatchNorm:
            // Eval-mode BatchNormalization with the running statistics.
            guard let mean = l.runningMean, let variance = l.runningVar else {
                throw ONNXExportError.notExpressible(
                    layer: layer, format: format,
                    reason: "a BatchNorm without running statistics (trackRunningStats: false) normalises with each batch's statistics, which an inference graph cannot express")
            }
            let v = l(xv)
            let c = l.numFeatures
            let scale = l.weight.map { b.constant(Self.join(path, "weight"), tensor: $0) }
                ?? b.constant(prefix + "/scale", floats: [Float](repeating: 1, count: c), shape: [c])
            let shift = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
                ?? b.constant(prefix + "/shift", floats: [Float](repeating: 0, count: c), shape: [c])
            let m = b.constant(Self.join(path, "running_mean"), tensor: mean)
            let va = b.constant(Self.join(path, "running_var"), tensor: variance)
            return out(b.node("BatchNormalization", [x.name, scale, shift, m, va], name: prefix + "/BatchNormalization",
                              attributes: [GraphBuilder.attr("epsilon", float: l.eps)], type: .float, shape: v.shape), v)
        case is Identity:
            return x
        default:
            throw ONNXExportError.unsupportedModule(layer: layer, reason: "no ONNX translation for the float layer \(m.typeName)")
        }
    }
}
