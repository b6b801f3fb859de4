import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import TensorEngine

/// `QuantUpsample` (and `QuantUpsamplingNearest2d` / `QuantUpsamplingBilinear2d`) as `Resize`
/// by the layer's scale factor (`scales` `[1, 1, f, f]`) or to its size (`sizes`):
///
/// | mode | Resize attributes | then |
/// |---|---|---|
/// | nearest | `mode=nearest`, `coordinate_transformation_mode=asymmetric`, `nearest_mode=floor` (torch's `floor(o · in/out)`) | nothing: the values keep the input's grid and metadata |
/// | bilinear | `mode=linear`, `align_corners` or `pytorch_half_pixel` | the requantization onto the input's grid, `round(y / s) · s`: `QuantizeLinear -> DequantizeLinear` (QCDQ) or `Quant` (QONNX) with the input's scale, zero point and bit width |
extension Exporter {
    func emitUpsample(_ l: QuantUpsample, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let expected = try forward(l, x, path)
        let prefix = Self.nodePrefix(path)
        let shape = expected.value.shape
        var attrs: [Onnx_AttributeProto]
        switch l.mode {
        case .nearest:
            attrs = [GraphBuilder.attr("coordinate_transformation_mode", string: "asymmetric"),
                     GraphBuilder.attr("mode", string: "nearest"), GraphBuilder.attr("nearest_mode", string: "floor")]
        case .bilinear:
            attrs = [GraphBuilder.attr("coordinate_transformation_mode", string: l.alignCorners ? "align_corners" : "pytorch_half_pixel"),
                     GraphBuilder.attr("mode", string: "linear")]
        }
        // A scale factor goes in as `scales` (as torch exports `scale_factor`): the runtime then
        // maps output o to (o + 0.5)/f − 0.5 (bilinear) or o/f (nearest) with torch's factor,
        // where `sizes` would make it use in/out (5 → 7 by 1.5: 0.714 instead of 1/1.5).
        let target: [String]
        switch l.target {
        case .scaleFactor(let fh, let fw):
            target = ["", b.constant(prefix + "/scales", floats: [1, 1, Float(fh), Float(fw)], shape: [4])]
        case .size:
            target = ["", "", b.constant(prefix + "/sizes", integers: shape.map(Int64.init), type: .int64, shape: [shape.count])]
        }
        let resized = b.node("Resize", [x.name] + target, name: prefix + "/Resize", attributes: attrs, type: .float, shape: shape)
        guard l.mode == .bilinear, let q = x.value.quantTensor, let out = expected.quantTensor else {
            return Traced(name: resized, value: expected)
        }
        // The requantization onto the input's grid (no clamp: a bilinear mix stays in range).
        let range = IntRange(bitWidth: Int(q.bitWidth.item()), signed: q.signed, narrowRange: false)
        let name: String
        switch format {
        case .qcdq:
            guard range.bitWidth <= 8 else {
                throw ONNXExportError.notExpressible(layer: layer, format: format,
                                                     reason: "requantizing onto a \(range.bitWidth)-bit grid needs more than QuantizeLinear's 8 bits; export QONNX")
            }
            let container: ElementType = range.signed ? .int8 : .uint8
            let (s, z, a) = try qdqParameters(out.scale, out.zeroPoint, rank: shape.count, container: container,
                                              prefix: prefix + "/requant", layer: layer, what: "requantization")
            let c = b.node("QuantizeLinear", [resized, s, z], name: prefix + "/QuantizeLinear", attributes: a, type: container, shape: shape)
            name = b.node("DequantizeLinear", [c, s, z], name: prefix + "/DequantizeLinear", attributes: a, type: .float, shape: shape)
        case .qonnx:
            name = quantNode(resized, out.scale, out.zeroPoint, range, roundingMode: "ROUND", prefix: prefix + "/requant", shape: shape)
        }
        quantPoints.append(ONNXQuantPoint(tensorName: name, layer: layer + " requantization", value: out.value, scale: out.scale,
                                          zeroPoint: out.zeroPoint, bitWidth: range.bitWidth, signed: range.signed))
        return Traced(name: name, value: expected)
    }
}
