import Foundation
import TensorEngine

/// The IDX format of MNIST and Fashion-MNIST: a big-endian magic number `0x0000TTRR` (element
/// type `TT`, rank `RR`), `RR` big-endian 32-bit dimensions, then the elements row-major.
/// Files may be gzip-compressed (`.gz`, as distributed).
///
/// | type | elements |
/// |---|---|
/// | `0x08` | unsigned byte |
/// | `0x09` | signed byte |
/// | `0x0B` | 16-bit integer |
/// | `0x0C` | 32-bit integer |
/// | `0x0D` | 32-bit float |
/// | `0x0E` | 64-bit float |
public enum IDX {
    /// The array in the file at `url`, converted to `Float`.
    ///
    /// - Throws: ``DataError``: unreadable or corrupt file, bad magic number, unknown element
    ///   type, or a size that does not match the dimensions.
    public static func read(_ url: URL) throws -> Tensor {
        try decode(FileBytes.read(url), file: url.path)
    }

    /// Parses IDX bytes; `file` names the source in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> Tensor {
        func fail(_ problem: DataError.Problem) -> DataError { DataError(file: file, problem: problem) }
        func bigEndian32(_ offset: Int) -> UInt32 {
            bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard bytes.count >= 4 else { throw fail(.truncated(expectedBytes: 4, actualBytes: bytes.count)) }
        let magic = bigEndian32(0)
        guard magic >> 16 == 0, magic & 0xff > 0 else { throw fail(.badMagic(magic)) }
        let type = UInt8(magic >> 8 & 0xff), rank = Int(magic & 0xff)
        let size: Int
        switch type {
        case 0x08, 0x09: size = 1
        case 0x0B: size = 2
        case 0x0C, 0x0D: size = 4
        case 0x0E: size = 8
        default: throw fail(.unsupportedElementType(type))
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else { throw fail(.truncated(expectedBytes: headerSize, actualBytes: bytes.count)) }
        let shape = (0..<rank).map { Int(bigEndian32(4 + 4 * $0)) }
        let count: Int
        do { count = try InputLimits.elementCount(shape) } catch { throw fail(.limit(error)) }
        let expected = headerSize + count * size  // count <= 2^28, size <= 8
        guard bytes.count >= expected else { throw fail(.truncated(expectedBytes: expected, actualBytes: bytes.count)) }
        guard bytes.count == expected else { throw fail(.trailingBytes(expectedBytes: expected, actualBytes: bytes.count)) }
        let out = Tensor.empty(shape)
        let p = out.storage.pointer
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + headerSize
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(bigEndian: base.loadUnaligned(fromByteOffset: i * size, as: T.self))
            }
            switch type {
            case 0x08: for i in 0..<count { p[i] = Float(base.load(fromByteOffset: i, as: UInt8.self)) }
            case 0x09: for i in 0..<count { p[i] = Float(base.load(fromByteOffset: i, as: Int8.self)) }
            case 0x0B: for i in 0..<count { p[i] = Float(load(Int16.self, i)) }
            case 0x0C: for i in 0..<count { p[i] = Float(load(Int32.self, i)) }
            case 0x0D: for i in 0..<count { p[i] = Float(bitPattern: load(UInt32.self, i)) }
            default: for i in 0..<count { p[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
            }
        }
        return out
    }
}

/// MNIST (and Fashion-MNIST, same format and file names) from IDX files on disk: images
/// `[N, 1, 28, 28]` scaled to `[0, 1]` (divided by 255), labels 0–9.
///
/// ```swift
/// let train = try MNIST.load(directory: URL(fileURLWithPath: "data/mnist"), split: .train)
/// ```
public enum MNIST {
    /// The standard file names (`train-images-idx3-ubyte`, ...) for a split; `.gz` variants are
    /// found too.
    public static func fileNames(_ split: Split) -> (images: String, labels: String) {
        let prefix = split == .train ? "train" : "t10k"
        return ("\(prefix)-images-idx3-ubyte", "\(prefix)-labels-idx1-ubyte")
    }

    /// Loads a split from a directory holding the standard files, compressed or not.
    ///
    /// - Throws: ``DataError``.
    public static func load(directory: URL, split: Split) throws -> TensorDataset {
        func find(_ name: String) -> URL {
            let plain = directory.appendingPathComponent(name)
            let gz = directory.appendingPathComponent(name + ".gz")
            return FileManager.default.fileExists(atPath: plain.path) || !FileManager.default.fileExists(atPath: gz.path) ? plain : gz
        }
        let names = fileNames(split)
        return try load(images: find(names.images), labels: find(names.labels))
    }

    /// Loads an image file (`[N, H, W]` unsigned bytes) and its label file (`[N]` unsigned bytes).
    ///
    /// - Throws: ``DataError``.
    public static func load(images: URL, labels: URL) throws -> TensorDataset {
        let x = try IDX.read(images)
        guard x.rank == 3 else {
            throw DataError(file: images.path, problem: .unexpectedLayout("expected images [N, H, W], found dimensions \(x.shape)"))
        }
        let y = try IDX.read(labels)
        guard y.rank == 1 else {
            throw DataError(file: labels.path, problem: .unexpectedLayout("expected labels [N], found dimensions \(y.shape)"))
        }
        guard x.shape[0] == y.shape[0] else {
            throw DataError(file: labels.path, problem: .countMismatch(images: x.shape[0], labels: y.shape[0]))
        }
        let classes = try checkedLabels(y.scalars, classes: 10, file: labels.path)
        let scaled = Autograd.noGrad { x / 255 }
        return TensorDataset(inputs: scaled.reshape([x.shape[0], 1, x.shape[1], x.shape[2]]), labels: classes)
    }

    static func checkedLabels(_ values: [Float], classes: Int, file: String) throws -> [Int] {
        try values.enumerated().map { i, v in
            guard v >= 0, v < Float(classes), v == v.rounded(.towardZero) else {
                throw DataError(file: file, problem: .labelOutOfRange(index: i, label: v.isFinite && abs(v) < 1e9 ? Int(v) : -1, classes: classes))
            }
            return Int(v)
        }
    }
}

/// Fashion-MNIST has MNIST's format and file names.
public typealias FashionMNIST = MNIST
