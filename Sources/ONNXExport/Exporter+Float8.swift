import Foundation
import ONNXProto
import QuantCore
import QuantNN
import TensorEngine

/// Minifloat quantizers as ONNX nodes (Brevitas `StdFloatQCDQCastONNX*Handler`,
/// `BrevitasFloatQuantProxyHandler`):
///
/// | | QCDQ (opset 19, IR 9) | QONNX |
/// |---|---|---|
/// | activation | `QuantizeLinear(x, s, zp: float8 0) -> DequantizeLinear` (`saturate=0` when the format does not saturate) | `FloatQuant(x, s, e, m, bias, max)` |
/// | weight | float8 codes `-> DequantizeLinear` (axis 0 per channel) | float weight `-> FloatQuant` |
///
/// QuantizeLinear to a float8 type computes `cast(x / s)` with round-half-even on the mantissa
/// and, saturating, clamps to `±max`: the minifloat quantizer's `q(x / s) · s` for every finite
/// input. (An infinite input is the one difference: Brevitas's quantizer gives NaN, the cast
/// `±max` when saturating.) Only the OCP and FNUZ FP8 formats have an ONNX type; other
/// minifloats (FP6, FP4) export to QONNX only.
extension Exporter {
    func float8Type(_ f: MinifloatFormat, layer: String) throws -> Float8Type {
        guard let t = Float8Type(f) else {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "minifloat \(f) has no ONNX element type (QCDQ holds only OCP e4m3/e5m2 and FNUZ e4m3/e5m2: FLOAT8E4M3FN, FLOAT8E5M2, FLOAT8E4M3FNUZ, FLOAT8E5M2FNUZ); export QONNX (FloatQuant)")
        }
        qcdqOpset = Swift.max(qcdqOpset, 19)
        return t
    }

    /// Scale and float8 zero-point (all +0) initializers with the `axis` attribute when per channel.
    func float8Parameters(_ scale: Tensor, rank: Int, type t: Float8Type, prefix: String, layer: String,
                          what: String) throws -> (String, String, [Onnx_AttributeProto]) {
        let axis = try channelAxis(scale, rank: rank, layer: layer, what: "\(what) scale")
        let scales = scale.scalars
        guard scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "\(what) scale \(scales.prefix(4)) is not positive and finite")
        }
        let shape = axis == nil ? [] : [scales.count]
        let s = b.constant(prefix + "/scale", floats: scales, shape: shape)
        let z = b.constant(prefix + "/zero_point", bytes: [UInt8](repeating: 0, count: scales.count), type: t, shape: shape)
        return (s, z, axis.map { [GraphBuilder.attr("axis", int: $0)] } ?? [])
    }

    /// `QuantizeLinear -> DequantizeLinear` through the float8 type of `f`.
    func float8QDQ(_ input: String, _ q: QuantTensor, _ f: MinifloatFormat, prefix: String, layer: String, shape: [Int]) throws -> String {
        let t = try float8Type(f, layer: layer)
        let (s, z, attrs) = try float8Parameters(q.scale, rank: shape.count, type: t, prefix: prefix, layer: layer, what: "activation")
        let qAttrs = attrs + (f.saturating ? [] : [GraphBuilder.attr("saturate", int: 0)])
        let codes = b.node("QuantizeLinear", [input, s, z], name: prefix + "/QuantizeLinear", attributes: qAttrs,
                           type: .float8(t), shape: shape)
        return b.node("DequantizeLinear", [codes, s, z], name: prefix + "/DequantizeLinear", attributes: attrs,
                      type: .float, shape: shape)
    }

    /// A quantized constant (a weight) as float8 codes `-> DequantizeLinear`. The codes are
    /// `value / scale` snapped to the format's grid, checked to give back `value` exactly.
    func float8Constant(_ q: QuantTensor, _ f: MinifloatFormat, prefix: String, layer: String, what: String) throws -> String {
        let t = try float8Type(f, layer: layer)
        let shape = q.value.shape
        let y = (q.value / q.scale).contiguous()
        var bytes = [UInt8](repeating: 0, count: y.count)
        var snapped = [Float](repeating: 0, count: y.count)
        let p = y.storage.pointer
        for i in 0..<y.count {
            let v = Self.snapToGrid(p[i], f)
            guard let code = t.encode(v) else {
                throw ONNXExportError.inconsistent(layer: layer, reason: "\(what) value \(p[i]) (unscaled) is not a \(t.name) code")
            }
            bytes[i] = code
            snapped[i] = v
        }
        try checkSame(Tensor(shape: shape, snapped) * q.scale, q.value, layer, "\(what) float8 codes")
        let c = b.constant(prefix + "/float8_\(what)", bytes: bytes, type: t, shape: shape)
        let (s, z, attrs) = try float8Parameters(q.scale, rank: shape.count, type: t, prefix: prefix, layer: layer, what: what)
        return b.node("DequantizeLinear", [c, s, z], name: prefix + "/DequantizeLinear", attributes: attrs, type: .float, shape: shape)
    }

    /// The nearest point of `f`'s grid (round half to even on the mantissa), for values that are
    /// a grid point up to the rounding of `value / scale`. Non-finite values pass through.
    static func snapToGrid(_ y: Float, _ f: MinifloatFormat) -> Float {
        guard y.isFinite, y != 0 else { return y }
        let step = f.step(at: y)
        return (y / step).rounded(.toNearestOrEven) * step
    }

    /// QONNX `FloatQuant(x, scale, exponent_bit_width, mantissa_bit_width, exponent_bias,
    /// max_val)` with Brevitas's attributes (`has_subnormal` is always 1: Brevitas's minifloats
    /// have subnormals).
    func floatQuantNode(_ input: String, _ scale: Tensor, _ f: MinifloatFormat, prefix: String, shape: [Int]) -> String {
        let s = b.constant(prefix + "/scale", tensor: scale)
        let e = b.constant(prefix + "/exponent_bit_width", scalar: Float(f.exponentBitWidth))
        let m = b.constant(prefix + "/mantissa_bit_width", scalar: Float(f.mantissaBitWidth))
        let bias = b.constant(prefix + "/exponent_bias", scalar: Float(f.exponentBias))
        let maxVal = b.constant(prefix + "/max_val", scalar: f.maxValue)
        return b.node("FloatQuant", [input, s, e, m, bias, maxVal], name: prefix + "/FloatQuant", domain: qonnxDomain,
                      attributes: [GraphBuilder.attr("has_inf", int: f.infValues == nil ? 0 : 1),
                                   GraphBuilder.attr("has_nan", int: f.nanValues == nil ? 0 : 1),
                                   GraphBuilder.attr("has_subnormal", int: 1),
                                   GraphBuilder.attr("rounding_mode", string: "ROUND"),
                                   GraphBuilder.attr("saturation", int: f.saturating ? 1 : 0)],
                      type: .float, shape: shape)
    }
}
