import Foundation
import TensorEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An array read from (or to be written to) a NumPy `.npy` file: its shape and its values in C
/// (row-major) order, in the file's own element type.
///
/// ```swift
/// let x = try NumPy.read(URL(fileURLWithPath: "x.npy"))   // NumPyArray
/// let t = try x.tensor()                                   // Tensor, Float32
/// try NumPy.write(model(t), to: URL(fileURLWithPath: "y.npy"))
/// ```
public struct NumPyArray: Equatable, Sendable {
    /// The values, typed as in the file.
    public enum Values: Equatable, Sendable {
        case float32([Float])
        case float64([Double])
        case int64([Int64])
        case int32([Int32])
        case uint8([UInt8])

        /// The element type.
        public var dtype: NumPyDType {
            switch self {
            case .float32: .float32
            case .float64: .float64
            case .int64: .int64
            case .int32: .int32
            case .uint8: .uint8
            }
        }

        /// Number of elements.
        public var count: Int {
            switch self {
            case .float32(let v): v.count
            case .float64(let v): v.count
            case .int64(let v): v.count
            case .int32(let v): v.count
            case .uint8(let v): v.count
            }
        }
    }

    /// The dimensions (`[]` for a 0-d array).
    public var shape: [Int]
    /// The values in C order; `values.count` is the product of `shape`.
    public var values: Values

    public init(shape: [Int], values: Values) {
        precondition(shape.allSatisfy { $0 >= 0 }, "NumPyArray: negative dimension in shape \(shape)")
        precondition(ShapeMath.count(shape) == values.count,
                     "NumPyArray: shape \(shape) holds \(ShapeMath.count(shape)) elements, got \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// The array as a `Float32` tensor of the same shape. `float64` values are rounded to the
    /// nearest `Float`; integers must be exactly representable (|v| ≤ 2²⁴ or a multiple of a
    /// suitable power of two), otherwise `valueNotRepresentable` is thrown with `file` in the error.
    public func tensor(file: String = "array") throws -> Tensor {
        let scalars: [Float]
        func exact<I: BinaryInteger>(_ v: [I], _ dtype: NumPyDType) throws -> [Float] {
            try v.map { i in
                guard let f = Float(exactly: i) else {
                    throw NumPyError(file: file, problem: .valueNotRepresentable(dtype: dtype.rawValue, value: "\(i)"))
                }
                return f
            }
        }
        switch values {
        case .float32(let v): scalars = v
        case .float64(let v): scalars = v.map { Float($0) }
        case .int64(let v): scalars = try exact(v, .int64)
        case .int32(let v): scalars = try exact(v, .int32)
        case .uint8(let v): scalars = v.map { Float($0) }
        }
        return Tensor(shape: shape, scalars)
    }
}

/// Reads and writes NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), the way Python users
/// bring data: `np.save("x.npy", x)`.
///
/// The layout: the magic `\x93NUMPY`, a major and minor version byte, the header length (2 bytes
/// little-endian in version 1, 4 bytes in versions 2 and 3), the header (a Python dictionary
/// literal, ASCII in versions 1 and 2, UTF-8 in version 3, padded with spaces and ending in a
/// newline), then the raw values.
///
/// Read: little-endian float32, float64, int64, int32 and uint8 in C order. Fortran order,
/// big-endian types, object arrays, structured types, negative dimensions, element counts that
/// overflow and a data section whose length differs from what the header describes are each a
/// ``NumPyError`` naming the problem; nothing is read outside the file.
public enum NumPy {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// The longest header read, NumPy's own `max_header_size` (a 64-dimension shape needs ~1,400).
    public static let maxHeaderLength = 10_000

    /// Reads and validates the file at `url`.
    public static func read(_ url: URL) throws -> NumPyArray {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw NumPyError(file: url.path, problem: .io("cannot read: \(error.localizedDescription)"))
        }
        return try decode(data, file: url.path)
    }

    /// Reads the file at `url` as a `Float32` tensor (see ``NumPyArray/tensor(file:)``).
    public static func readTensor(_ url: URL) throws -> Tensor {
        try read(url).tensor(file: url.path)
    }

    /// Writes `tensor` as a float32 `.npy` file (version 1.0), atomically.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        try write(NumPyArray(shape: tensor.shape, values: .float32(tensor.scalars)), to: url)
    }

    /// Writes `array` in its own element type (version 1.0, or 2.0 when the header needs it),
    /// atomically: to a temporary file in the same folder, then renamed over `url`.
    public static func write(_ array: NumPyArray, to url: URL) throws {
        let data = encode(array)
        do {
            try AtomicWrite.write(data, to: url)
        } catch let e as AtomicWriteError {
            throw NumPyError(file: url.path, problem: .io("cannot write: \(e.reason)"))
        }
    }

    /// The bytes of `array` as NumPy writes them: the header padded so that the data starts at a
    /// multiple of 64 bytes.
    public static func encode(_ array: NumPyArray) -> Data {
        let text = NumPyHeader.render(descr: array.values.dtype.descr, shape: array.shape)
        var version: UInt8 = 1
        var prefix = magic.count + 2 + 2
        if text.utf8.count + 1 + prefix > 65535 { version = 2; prefix = magic.count + 2 + 4 }
        let total = (prefix + text.utf8.count + 1 + 63) / 64 * 64
        let headerLength = total - prefix
        var out = Data(magic)
        out.append(contentsOf: [version, 0])
        if version == 1 {
            withUnsafeBytes(of: UInt16(headerLength).littleEndian) { out.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt32(headerLength).littleEndian) { out.append(contentsOf: $0) }
        }
        out.append(contentsOf: Array(text.utf8))
        out.append(contentsOf: [UInt8](repeating: 0x20, count: headerLength - text.utf8.count - 1))
        out.append(0x0A)
        func append<T>(_ v: [T]) { v.withUnsafeBytes { out.append(contentsOf: $0) } }
        switch array.values {
        case .float32(let v): append(v)
        case .float64(let v): append(v)
        case .int64(let v): append(v)
        case .int32(let v): append(v)
        case .uint8(let v): append(v)
        }
        return out
    }

    /// Parses the bytes of a `.npy` file; `file` names it in errors.
    public static func decode(_ data: Data, file: String) throws -> NumPyArray {
        func fail(_ problem: NumPyError.Problem) -> NumPyError { NumPyError(file: file, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw fail(bytes.count < magic.count && magic.starts(with: bytes) ? .truncatedHeader(needed: 10, available: bytes.count) : .notNumPy)
        }
        guard bytes.count >= 8 else { throw fail(.truncatedHeader(needed: 10, available: bytes.count)) }
        let major = Int(bytes[6]), minor = Int(bytes[7])
        guard (1...3).contains(major), minor == 0 else { throw fail(.unsupportedVersion(major: major, minor: minor)) }
        let lengthBytes = major == 1 ? 2 : 4
        let start = 8 + lengthBytes
        guard bytes.count >= start else { throw fail(.truncatedHeader(needed: start, available: bytes.count)) }
        let headerLength = bytes[8..<start].reversed().reduce(0) { $0 << 8 | Int($1) }
        do {
            try InputLimits.check(headerLength, maxHeaderLength, limit: "header bytes", what: "a header length of")
        } catch { throw fail(.limit(error)) }
        let dataStart = start + headerLength
        guard bytes.count >= dataStart else { throw fail(.truncatedHeader(needed: dataStart, available: bytes.count)) }
        let headerBytes = bytes[start..<dataStart]
        if major < 3, headerBytes.contains(where: { $0 >= 0x80 }) {
            throw fail(.invalidHeader("non-ASCII bytes in a version \(major) header"))
        }
        guard let text = String(validating: headerBytes, as: UTF8.self) else { throw fail(.invalidHeader("not UTF-8")) }
        let header: NumPyHeader
        do { header = try NumPyHeader.parse(text) } catch { throw fail(error) }
        let dtype: NumPyDType
        switch NumPyDType.parse(header.descr) {
        case .success(let t): dtype = t
        case .failure(let problem): throw fail(problem)
        }
        if header.fortranOrder { throw fail(.fortranOrder) }
        if header.shape.contains(where: { $0 < 0 }) { throw fail(.negativeDimension(shape: header.shape)) }
        let count: Int
        do { count = try InputLimits.elementCount(header.shape) } catch { throw fail(.limit(error)) }
        let byteCount = count * dtype.byteSize  // at most 2^28 * 8
        let available = bytes.count - dataStart
        guard byteCount == available else {
            throw fail(.sizeMismatch(shape: header.shape, dtype: dtype.rawValue, expectedBytes: byteCount, actualBytes: available))
        }
        let values: NumPyArray.Values = bytes.withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            func load<T>(_: T.Type) -> [T] {
                [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                    memcpy(buffer.baseAddress!, body.baseAddress!, byteCount)
                    initialized = count
                }
            }
            if count == 0 {
                switch dtype {
                case .float32: return .float32([])
                case .float64: return .float64([])
                case .int64: return .int64([])
                case .int32: return .int32([])
                case .uint8: return .uint8([])
                }
            }
            switch dtype {
            case .float32: return .float32(load(Float.self))
            case .float64: return .float64(load(Double.self))
            case .int64: return .int64(load(Int64.self))
            case .int32: return .int32(load(Int32.self))
            case .uint8: return .uint8(load(UInt8.self))
            }
        }
        return NumPyArray(shape: header.shape, values: values)
    }
}
