import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// What a tensor quantizer does, as far as the export formats care.
enum QuantizerKind {
    /// Integer quantization with round-half-even and clamping to the range's `[minInt, maxInt]`.
    case int(IntRange)
    /// `±scale` by sign (`x >= 0` gives `+scale`).
    case binary
    /// `{-scale, 0, +scale}`, nonzero where `|x| >= threshold · scale`.
    case ternary(threshold: Float)
    /// Minifloat quantization (`FloatQuant`, zero point 0) in the given format.
    case minifloat(MinifloatFormat)
}

/// Tensor quantizers as ONNX nodes: QCDQ (QuantizeLinear, Clip, DequantizeLinear) or QONNX (Quant, BipolarQuant).
extension Exporter {
    func quantizerKind(_ tq: Module, _ q: QuantTensor, layer: String) throws -> QuantizerKind {
        switch tq {
        case let r as RescalingIntQuant where r.group != nil:
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "group-wise (\(q.kind.rawValue), group size \(r.group!.groupSize)) quantization has no \(format) form here (Brevitas fails on it too); export a per-tensor or per-channel quantizer")
        case let f as FloatQuant where f.group != nil:
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "group-wise minifloat (\(q.kind.rawValue) \(f.format), group size \(f.group!.groupSize)) quantization has no \(format) form (Brevitas fails on it too); export a per-tensor or per-channel quantizer")
        case let f as FloatQuant:
            try requireZeroZeroPoint(q, layer: layer, what: "minifloat")
            return .minifloat(f.format)
        case let r as RescalingIntQuant:
            // QONNX's (signed, narrow, bit width) encoding is Brevitas's: the same `IntRange`
            // (unsigned narrow ranges end at 2^b − 2, as Brevitas's and qonnx's max_int).
            let range = r.intRange
            guard Int(q.bitWidth.item()) == range.bitWidth else {
                throw ONNXExportError.inconsistent(layer: layer, reason: "quantizer bit width \(range.bitWidth) differs from its output's \(q.bitWidth.item())")
            }
            return .int(range)
        case let a as AccumulatorAwareWeightQuant:
            // A2Q / A2Q+: narrow signed integers (zero point 0) on the post-clipping scale.
            let range = IntRange(bitWidth: a.bitWidth, signed: true, narrowRange: true)
            guard Int(q.bitWidth.item()) == range.bitWidth else {
                throw ONNXExportError.inconsistent(layer: layer, reason: "quantizer bit width \(range.bitWidth) differs from its output's \(q.bitWidth.item())")
            }
            try requireZeroZeroPoint(q, layer: layer, what: "accumulator-aware")
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
        case (.qcdq, .minifloat(let f)):
            bits = f.bitWidth
            out = try float8QDQ(input, q, f, prefix: prefix, layer: layer, shape: shape)
        case (.qonnx, .minifloat(let f)):
            bits = f.bitWidth
            out = floatQuantNode(input, q.scale, f, prefix: prefix, shape: shape)
        }
        var minifloat: MinifloatFormat? = nil
        if case .minifloat(let f) = kind { minifloat = f }
        quantPoints.append(ONNXQuantPoint(tensorName: out, layer: layer, value: q.value, scale: q.scale, zeroPoint: q.zeroPoint,
                                          bitWidth: bits, signed: q.signed, minifloat: minifloat))
        return out
    }

    func kindName(_ k: QuantizerKind) -> String {
        switch k {
        case .int: return "integer"
        case .binary: return "binary (sign)"
        case .ternary: return "ternary"
        case .minifloat(let f): return "minifloat \(f)"
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
}
