import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// Average pools whose window sum is requantized by a TruncIntQuant (QONNX Trunc, or its QCDQ form).
extension Exporter {
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
}
