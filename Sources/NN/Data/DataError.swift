import TensorEngine

/// Why a data file could not be read: the file and the problem.
public struct DataError: FileError, Equatable {
    /// What is wrong with the file.
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// The file could not be opened or read (the system's message).
        case io(String)
        /// The gzip stream is corrupt or cut off (zlib's message).
        case decompression(String)
        /// Fewer bytes than the header promises.
        case truncated(expectedBytes: Int, actualBytes: Int)
        /// More bytes than the header promises.
        case trailingBytes(expectedBytes: Int, actualBytes: Int)
        /// The first four bytes are not an IDX magic number.
        case badMagic(UInt32)
        /// An IDX element type other than the six of the format.
        case unsupportedElementType(UInt8)
        /// The file does not have the expected layout (wrong rank, image size, record size).
        case unexpectedLayout(String)
        /// Image and label files disagree on the number of examples.
        case countMismatch(images: Int, labels: Int)
        /// A label outside `0..<classes`.
        case labelOutOfRange(index: Int, label: Int, classes: Int)
        /// A text row that does not parse (1-based line number).
        case malformedRow(line: Int, reason: String)
        /// The file asks for more than ``InputLimits`` allows (rank, elements, decompressed size).
        case limit(InputLimitExceeded)

        /// What is wrong, in words (the error adds the file).
        public var description: String {
            switch self {
            case .io(let message): return message
            case .decompression(let message): return "gzip data is corrupt: \(message)"
            case .truncated(let expected, let actual): return "truncated: expected \(expected) bytes, found \(actual)"
            case .trailingBytes(let expected, let actual): return "\(actual - expected) unexpected bytes after the \(expected) the header describes"
            case .badMagic(let magic):
                return "not an IDX file: magic number 0x\(String(magic, radix: 16)) (expected 0x000008nn, e.g. 0x803 for images, 0x801 for labels)"
            case .unsupportedElementType(let code): return "unsupported IDX element type 0x\(String(code, radix: 16))"
            case .unexpectedLayout(let message): return message
            case .countMismatch(let images, let labels): return "\(images) images but \(labels) labels"
            case .labelOutOfRange(let index, let label, let classes): return "label \(label) of example \(index) is outside 0..<\(classes)"
            case .malformedRow(let line, let reason): return "line \(line): \(reason)"
            case .limit(let exceeded): return "\(exceeded)"
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
