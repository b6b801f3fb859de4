import TensorEngine

/// Why a safetensors file could not be read or written: the file and the problem.
///
/// ```
/// model.safetensors: truncated: the header needs 480 bytes after the 8-byte length, the file has 100
/// ```
public struct SafeTensorsError: FileError, Equatable {
    /// What is wrong with the file.
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// The file could not be opened, read, written or renamed (the system's message).
        case io(String)
        /// Shorter than the 8-byte header length.
        case fileTooSmall(size: Int)
        /// The declared header length exceeds the 100 MB limit of the format.
        case headerTooLarge(length: UInt64, limit: Int)
        /// The declared header length runs past the end of the file.
        case truncatedHeader(length: UInt64, available: Int)
        /// The header is not a UTF-8 JSON object of the expected form.
        case invalidHeader(String)
        /// A tensor's dtype is not one this library reads (or writes).
        case unsupportedDType(tensor: String, dtype: String)
        /// A tensor's byte range does not match its dtype and shape.
        case sizeMismatch(tensor: String, expectedBytes: Int, actualBytes: Int)
        /// Two tensors' byte ranges overlap.
        case overlappingOffsets(tensor: String, other: String)
        /// Bytes between two tensors, or before the first, belong to no tensor.
        case gapInData(before: String, offset: Int)
        /// The data section is shorter than the header's offsets require.
        case truncatedData(expectedBytes: Int, actualBytes: Int)
        /// The data section has bytes after the last tensor.
        case trailingData(expectedBytes: Int, actualBytes: Int)
        /// An integer value does not fit a `Float` exactly (beyond 2²⁴).
        case valueNotRepresentable(tensor: String, dtype: String, value: String)
        /// The header asks for more than ``InputLimits`` allows (tensors, elements, rank, nesting).
        case limit(InputLimitExceeded)

        /// What is wrong, in words (the error adds the file).
        public var description: String {
            switch self {
            case .io(let message): return message
            case .fileTooSmall(let size):
                return "truncated: \(size) bytes, fewer than the 8-byte header length"
            case .headerTooLarge(let length, let limit):
                return "header length \(length) exceeds the limit of \(limit) bytes (not a safetensors file?)"
            case .truncatedHeader(let length, let available):
                return "truncated: the header needs \(length) bytes after the 8-byte length, the file has \(available)"
            case .invalidHeader(let reason): return "invalid header: \(reason)"
            case .unsupportedDType(let tensor, let dtype):
                return "tensor '\(tensor)' has dtype '\(dtype)'; supported: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
            case .sizeMismatch(let tensor, let expected, let actual):
                return "tensor '\(tensor)' needs \(expected) bytes for its dtype and shape, its data_offsets span \(actual)"
            case .overlappingOffsets(let tensor, let other):
                return "the data of tensors '\(other)' and '\(tensor)' overlap"
            case .gapInData(let before, let offset):
                return "no tensor covers the bytes from offset \(offset) up to tensor '\(before)'"
            case .truncatedData(let expected, let actual):
                return "truncated: the tensors need \(expected) data bytes, the file has \(actual)"
            case .trailingData(let expected, let actual):
                return "\(actual - expected) bytes after the last tensor (data section \(actual) bytes, tensors cover \(expected))"
            case .valueNotRepresentable(let tensor, let dtype, let value):
                return "tensor '\(tensor)' (\(dtype)) holds \(value), which Float32 cannot represent exactly"
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
