import ONNXProto
import QuantCore

/// The four 8-bit float types of ONNX (opset 19, IR version 9) and the minifloat formats they
/// hold exactly (Brevitas `FloatQMixin.signed_dtype`: OCP e4m3/e5m2, FNUZ e4m3/e5m2).
///
/// | ONNX type | Brevitas format | bias | max | NaN | inf | -0 |
/// |---|---|---|---|---|---|---|
/// | `FLOAT8E4M3FN` | OCP e4m3 (NaN `111`) | 7 | 448 | `S.1111.111` | none | yes |
/// | `FLOAT8E5M2` | OCP e5m2 (inf `00`, NaN `01 10 11`) | 15 | 57344 | `S.11111.{01,10,11}` | `S.11111.00` | yes |
/// | `FLOAT8E4M3FNUZ` | FNUZ e4m3 | 8 | 240 | `1.0000.000` | none | no |
/// | `FLOAT8E5M2FNUZ` | FNUZ e5m2 | 16 | 57344 | `1.00000.00` | none | no |
///
/// Every other minifloat (FP6, FP4, other biases or reserved codes) has no ONNX element type.
///
/// ```swift
/// let t = Float8Type(.ocp(exponentBitWidth: 4, mantissaBitWidth: 3))!   // .e4m3fn
/// t.encode(1.125)     // 0x39: sign 0, exponent 0111, mantissa 001
/// t.encode(-0.001953125)   // 0x81: the smallest subnormal 2^-9, negative
/// ```
enum Float8Type: Equatable {
    case e4m3fn, e4m3fnuz, e5m2, e5m2fnuz

    /// The ONNX type holding `format` exactly (same grid, range and special values), or `nil`.
    init?(_ format: MinifloatFormat) {
        let e = format.exponentBitWidth, m = format.mantissaBitWidth
        guard (e == 4 && m == 3) || (e == 5 && m == 2) else { return nil }
        let ocp = MinifloatFormat.ocpCodes(exponentBitWidth: e, mantissaBitWidth: m)
        if format.exponentBias == (1 << (e - 1)) - 1 && format.infValues == ocp.inf && format.nanValues == ocp.nan {
            self = e == 4 ? .e4m3fn : .e5m2
        } else if format.exponentBias == 1 << (e - 1) && format.infValues == nil && format.nanValues == nil && format.saturating {
            self = e == 4 ? .e4m3fnuz : .e5m2fnuz
        } else {
            return nil
        }
    }

    var dataType: Onnx_TensorProto.DataType {
        switch self {
        case .e4m3fn: return .float8E4M3Fn
        case .e4m3fnuz: return .float8E4M3Fnuz
        case .e5m2: return .float8E5M2
        case .e5m2fnuz: return .float8E5M2Fnuz
        }
    }

    var name: String {
        switch self {
        case .e4m3fn: return "FLOAT8E4M3FN"
        case .e4m3fnuz: return "FLOAT8E4M3FNUZ"
        case .e5m2: return "FLOAT8E5M2"
        case .e5m2fnuz: return "FLOAT8E5M2FNUZ"
        }
    }

    var mantissaBits: Int { self == .e4m3fn || self == .e4m3fnuz ? 3 : 2 }
    var bias: Int {
        switch self {
        case .e4m3fn: return 7
        case .e5m2: return 15
        case .e4m3fnuz: return 8
        case .e5m2fnuz: return 16
        }
    }
    var isFNUZ: Bool { self == .e4m3fnuz || self == .e5m2fnuz }

    /// The byte of `v`, a value on the type's grid (as the minifloat quantizer produces it, with
    /// the scale divided out): `sign·2^7 | E·2^m | f`, subnormals with `E = 0`. NaN maps to the
    /// type's NaN, ±inf to the e5m2 inf code; FNUZ types have no −0 (it becomes 0x00).
    /// Returns `nil` for a value off the grid or out of range (the caller reports it).
    func encode(_ v: Float) -> UInt8? {
        let m = mantissaBits, b = bias
        if v.isNaN { return isFNUZ ? 0x80 : 0x7F }
        let sign: UInt8 = v.sign == .minus ? 0x80 : 0
        if v.isInfinite { return self == .e5m2 ? sign | 0x7C : nil }
        if v == 0 { return isFNUZ ? 0 : sign }
        let a = Swift.abs(v)
        let e = Int(a.exponent)
        let code: Int
        if e < 1 - b {
            let f = a / Float(sign: .plus, exponent: 1 - b - m, significand: 1)
            guard f == f.rounded(), f >= 1, f < Float(1 << m) else { return nil }
            code = Int(f)
        } else {
            let f = (a.significand - 1) * Float(1 << m)
            guard f == f.rounded() else { return nil }
            code = ((e + b) << m) | Int(f)
        }
        guard code <= 0x7F else { return nil }
        if self == .e4m3fn && code == 0x7F { return nil }
        if self == .e5m2 && code >= 0x7C { return nil }
        return sign | UInt8(code)
    }
}
