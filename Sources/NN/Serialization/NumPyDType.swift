/// The element types of `.npy` files this library reads and writes, all little-endian.
///
/// | case | NumPy `descr` | bytes |
/// |---|---|---|
/// | `float32` | `<f4` | 4 |
/// | `float64` | `<f8` | 8 |
/// | `int64` | `<i8` | 8 |
/// | `int32` | `<i4` | 4 |
/// | `uint8` | `\|u1` | 1 |
public enum NumPyDType: String, CaseIterable, Sendable {
    case float32, float64, int64, int32, uint8

    /// The `descr` string NumPy writes for this type.
    public var descr: String {
        switch self {
        case .float32: "<f4"
        case .float64: "<f8"
        case .int64: "<i8"
        case .int32: "<i4"
        case .uint8: "|u1"
        }
    }

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64: 8
        case .uint8: 1
        }
    }

    /// The type of a `descr` string, or the problem with it. A byte-order mark of `<`, `=` (this
    /// library runs on little-endian machines only) or, for one-byte types, `|` is accepted.
    static func parse(_ descr: String) -> Result<NumPyDType, NumPyError.Problem> {
        guard let order = descr.first else { return .failure(.unsupportedDType(descr: descr)) }
        let code = descr.dropFirst()
        if code.hasPrefix("O") { return .failure(.objectArray) }
        let type: NumPyDType? = switch code {
        case "f4": .float32
        case "f8": .float64
        case "i8": .int64
        case "i4": .int32
        case "u1": .uint8
        default: nil
        }
        guard let type else { return .failure(.unsupportedDType(descr: descr)) }
        switch order {
        case "<", "=": return .success(type)
        case "|" where type.byteSize == 1: return .success(type)
        case ">" where type.byteSize == 1: return .success(type)
        case ">": return .failure(.bigEndian(descr: descr))
        default: return .failure(.unsupportedDType(descr: descr))
        }
    }
}
