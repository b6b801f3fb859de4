import TensorEngine

/// Why a NumPy `.npy` file could not be read or written: the file and the problem.
///
/// ```
/// x.npy: the header describes 2 x 3 float32 values (24 bytes) but 20 data bytes follow it
/// ```
public struct NumPyError: FileError, Equatable {
    /// What is wrong with the file.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        /// The file could not be opened, read, written or renamed (the system's message).
        case io(String)
        /// The file does not start with the `\x93NUMPY` magic string.
        case notNumPy
        /// The format version is not 1.0, 2.0 or 3.0.
        case unsupportedVersion(major: Int, minor: Int)
        /// The file ends inside the preamble or the header.
        case truncatedHeader(needed: Int, available: Int)
        /// The header is not the Python dictionary literal the format prescribes.
        case invalidHeader(String)
        /// The dtype is big-endian (`>f4`); only little-endian files are read.
        case bigEndian(descr: String)
        /// The array holds Python objects (`|O`): they cannot be read without running Python.
        case objectArray
        /// The dtype is not one of the supported ones (structured arrays included).
        case unsupportedDType(descr: String)
        /// The array is stored in Fortran (column-major) order.
        case fortranOrder
        /// A dimension is negative.
        case negativeDimension(shape: [Int])
        /// The bytes after the header are not the number the header describes.
        case sizeMismatch(shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
        /// An integer value does not fit a `Float` exactly (beyond 2²⁴), so it cannot become a tensor.
        case valueNotRepresentable(dtype: String, value: String)
        /// The header asks for more than ``InputLimits`` allows (header bytes, rank, elements).
        case limit(InputLimitExceeded)

        /// What is wrong, in words (the error adds the file).
        public var description: String {
            let supported = NumPyDType.allCases.map(\.descr).joined(separator: ", ")
            switch self {
            case .io(let message): return message
            case .notNumPy: return "not a NumPy .npy file (it does not start with \\x93NUMPY)"
            case .unsupportedVersion(let major, let minor):
                return "format version \(major).\(minor) is not supported (1.0, 2.0 and 3.0 are)"
            case .truncatedHeader(let needed, let available):
                return "truncated: the header needs \(needed) bytes, the file has \(available)"
            case .invalidHeader(let reason): return "invalid header: \(reason)"
            case .bigEndian(let descr):
                return "dtype '\(descr)' is big-endian; save it little-endian (numpy: a.astype(a.dtype.newbyteorder('<')))"
            case .objectArray:
                return "the array holds Python objects (dtype '|O'); save a numeric array (float32, float64, int64, int32, uint8)"
            case .unsupportedDType(let descr): return "dtype '\(descr)' is not supported; supported: \(supported)"
            case .fortranOrder:
                return "the array is stored in Fortran order; save it in C order (numpy: np.ascontiguousarray(a))"
            case .negativeDimension(let shape): return "the shape \(shape) has a negative dimension"
            case .sizeMismatch(let shape, let dtype, let expected, let actual):
                return "the header describes shape \(shape) of \(dtype) (\(expected) bytes) but \(actual) data bytes follow it"
            case .valueNotRepresentable(let dtype, let value):
                return "the \(dtype) value \(value) cannot be represented exactly as a Float32 tensor element"
            case .limit(let exceeded): return "the header \(exceeded)"
            }
        }
    }

    /// The path of the file.
    public var file: String
    /// What is wrong.
    public var problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }
}
