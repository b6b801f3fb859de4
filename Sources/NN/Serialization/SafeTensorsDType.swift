/// Element types of the safetensors format that this library reads; every one is converted to
/// `Float` on load. Files are written as `F32`.
///
/// | dtype | conversion |
/// |---|---|
/// | `F32` | exact |
/// | `F16`, `BF16` | exact |
/// | `F64` | rounded to nearest, as `torch.Tensor.float()` |
/// | `I8`, `U8`, `I16`, `U16`, `I32`, `I64`, `BOOL` | exact; integers beyond ±2²⁴ are an error |
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i8 = "I8", u8 = "U8", i16 = "I16", u16 = "U16", i32 = "I32", i64 = "I64", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .i8, .u8, .bool: 1
        case .f16, .bf16, .i16, .u16: 2
        case .f32, .i32: 4
        case .f64, .i64: 8
        }
    }

    /// Converts `count` little-endian elements at `source` into `destination`; returns the index
    /// of the first integer that `Float` cannot hold exactly, if any.
    func decode(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) -> Int? {
        @inline(__always) func load<T: FixedWidthInteger>(_ type: T.Type, _ i: Int) -> T {
            T(littleEndian: source.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
        }
        func integers<T: FixedWidthInteger>(_ type: T.Type) -> Int? {
            for i in 0..<count {
                guard let v = Float(exactly: load(T.self, i)) else { return i }
                destination[i] = v
            }
            return nil
        }
        switch self {
        case .f32:
            for i in 0..<count { destination[i] = Float(bitPattern: load(UInt32.self, i)) }
        case .f64:
            for i in 0..<count { destination[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
        case .bf16:
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(load(UInt16.self, i)) << 16) }
        case .f16:
            for i in 0..<count { destination[i] = Self.halfToFloat(load(UInt16.self, i)) }
        case .bool:
            for i in 0..<count { destination[i] = load(UInt8.self, i) != 0 ? 1 : 0 }
        case .i8: return integers(Int8.self)
        case .u8: return integers(UInt8.self)
        case .i16: return integers(Int16.self)
        case .u16: return integers(UInt16.self)
        case .i32: return integers(Int32.self)
        case .i64: return integers(Int64.self)
        }
        return nil
    }

    /// The integer at element `index`, for an error message.
    func describeElement(_ source: UnsafeRawPointer, at index: Int) -> String {
        let offset = index * size
        switch self {
        case .i32: return String(Int32(littleEndian: source.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        case .i64: return String(Int64(littleEndian: source.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
        default: return "element \(index)"
        }
    }

    /// IEEE half precision to single (bit manipulation; `Float16` is unavailable on Intel macOS).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1f
        let mantissa = UInt32(h & 0x3ff)
        switch exponent {
        case 0:
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return Float(bitPattern: sign | magnitude.bitPattern)
        case 31:
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
        }
    }
}
