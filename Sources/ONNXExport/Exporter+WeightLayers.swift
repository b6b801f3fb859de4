import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// Quantized convolutions and linear layers: weight, bias and the float op between them.
extension Exporter {
    func emitWeightLayer(_ l: QuantWeightBiasLayer, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let prefix = Self.nodePrefix(path)
        switch l {
        case is QuantLinear, is QuantConv2d, is QuantConv1d, is QuantConv3d, is QuantConvTranspose1d, is QuantConvTranspose2d,
             is QuantScaleBias: break
        default: throw ONNXExportError.unsupportedModule(layer: layer, reason: "unknown weight layer \(l.typeName)")
        }
        let expected = try forward(l, x, path)

        let inp = try emitActProxy(l.inputQuant, x, prefix: prefix + "/input_quant", layer: layer + " input_quant")
        // The weight as the layer quantizes it for this input (A2Q/A2Q+ bound it by the input's
        // bit width and sign; other quantizers ignore the input).
        let qw: QuantValue
        do { qw = try l.weightQuant(l.weight, input: inp.value, layer: l.typeName) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        let wName = try emitWeight(l.weight, l.weightQuant, qw, path: path, prefix: prefix + "/weight_quant", layer: layer + " weight_quant")
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
        case let c as QuantConv3d:
            func t(_ v: [Int]) -> (Int, Int, Int) { (v[0], v[1], v[2]) }
            acc = Tensor.conv3d(inp.value.value, weight: qw.value, bias: qbValue, stride: t(c.stride), padding: t(c.padding),
                                dilation: t(c.dilation), groups: c.groups)
            accName = conv(inp.name, wName, bName, kernel: c.kernelSize, stride: c.stride, padding: c.padding,
                           dilation: c.dilation, groups: c.groups, prefix: prefix, shape: acc.shape)
        case let c as QuantConvTranspose2d:
            acc = Tensor.convTranspose2d(inp.value.value, weight: qw.value, bias: qbValue, stride: c.stride.pair, padding: c.padding.pair,
                                         outputPadding: c.outputPadding.pair, dilation: c.dilation.pair, groups: c.groups)
            accName = convTranspose(inp.name, wName, bName, kernel: [c.kernelSize.first, c.kernelSize.second],
                                    stride: [c.stride.first, c.stride.second], padding: [c.padding.first, c.padding.second],
                                    outputPadding: [c.outputPadding.first, c.outputPadding.second],
                                    dilation: [c.dilation.first, c.dilation.second], groups: c.groups, prefix: prefix, shape: acc.shape)
        case let c as QuantConvTranspose1d:
            acc = Tensor.convTranspose1d(inp.value.value, weight: qw.value, bias: qbValue, stride: c.stride, padding: c.padding,
                                         outputPadding: c.outputPadding, dilation: c.dilation, groups: c.groups)
            accName = convTranspose(inp.name, wName, bName, kernel: [c.kernelSize], stride: [c.stride], padding: [c.padding],
                                    outputPadding: [c.outputPadding], dilation: [c.dilation], groups: c.groups, prefix: prefix,
                                    shape: acc.shape)
        case is QuantScaleBias:
            (acc, accName) = scaleBias(inp, qw.value, wName, qbValue, bName, prefix: prefix)
        default:
            acc = Tensor.linear(inp.value.value, weight: qw.value, bias: qbValue)
            accName = linear(inp.name, inputShape: inp.shape, wName, bName, prefix: prefix, shape: acc.shape)
        }
        let out = try emitActProxy(l.outputQuant, Traced(name: accName, value: .float(acc)), prefix: prefix + "/output_quant",
                                   layer: layer + " output_quant")
        try checkSame(out.value.value, expected.value, layer, "output")
        return Traced(name: out.name, value: expected)
    }

    /// A layer's weight: the float initializer when its quantizer is disabled, else the
    /// quantized weight in the format's form.
    ///
    /// Accumulator-aware weights (A2Q / A2Q+) are integers `q = clamp(round_toward_zero(V/pre))`
    /// times the post-clipping scale `s` (narrow 8-bit, zero point 0). QCDQ stores `q` and `s`
    /// exactly as Brevitas does. QONNX has no op for the pre-scale and the rounding toward zero,
    /// so the `Quant(w, s, 0, 8, narrow)` node takes the already quantized weight `q·s` (on its
    /// own grid, so the node returns it unchanged): the graph computes the layer. Brevitas's
    /// QONNX file feeds the float weight to the same node, which rounds `W/s` to nearest instead,
    /// so its graph differs from its own layer by up to about one output step (README-layers).
    func emitWeight(_ weight: Tensor, _ proxy: WeightQuantProxy, _ qw: QuantValue, path: String, prefix: String,
                    layer: String) throws -> String {
        let key = Self.join(path, "weight")
        guard let q = qw.quantTensor, let tq = (proxy.tensorQuant as Module?) ?? proxy.accumulatorAware else {
            return b.constant(key, tensor: weight)
        }
        let kind = try quantizerKind(tq, q, layer: layer)
        let shape = weight.shape
        if case .minifloat(let f) = kind {
            switch format {
            case .qcdq: return try float8Constant(q, f, prefix: prefix, layer: layer, what: "weight")
            case .qonnx: return floatQuantNode(b.constant(key, tensor: weight), q.scale, f, prefix: prefix, shape: shape)
            }
        }
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
            case .minifloat:
                preconditionFailure("minifloat weights are exported above")
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
            let w = b.constant(key, tensor: proxy.accumulatorAware == nil ? weight : q.value)
            switch kind {
            case .int(let range):
                return quantNode(w, q.scale, q.zeroPoint, range, roundingMode: "ROUND", prefix: prefix, shape: shape)
            case .binary:
                try requireZeroZeroPoint(q, layer: layer, what: "binary")
                let s = b.constant(prefix + "/scale", tensor: q.scale)
                return b.node("BipolarQuant", [w, s], name: prefix + "/BipolarQuant", domain: qonnxDomain, type: .float, shape: shape)
            case .ternary(let t):
                return try ternaryQuant(w, q, threshold: t, prefix: prefix, layer: layer, shape: shape)
            case .minifloat:
                preconditionFailure("minifloat weights are exported above")
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
}
