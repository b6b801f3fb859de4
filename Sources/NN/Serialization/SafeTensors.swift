import Foundation
import TensorEngine

/// Reads and writes the safetensors format of PyTorch, Hugging Face and MLX checkpoints.
///
/// Layout: an 8-byte little-endian header length `n`; `n` bytes of JSON mapping each tensor
/// name to `{"dtype", "shape", "data_offsets": [begin, end]}` plus an optional
/// `"__metadata__"` object of strings; then the raw little-endian data, offsets relative to its
/// start. The header is padded with spaces to a multiple of 8 bytes.
///
/// Reading validates everything before returning: the header length against the file, the JSON,
/// each dtype, that each byte range matches its shape, and that the ranges tile the data section
/// exactly (no overlaps, gaps or missing bytes). Any problem throws a ``SafeTensorsError`` that
/// names the file. Writing goes to a temporary file in the same directory that is then renamed,
/// so an existing file is replaced whole or not at all.
///
/// ```swift
/// try SafeTensors.write(model.stateDict(), to: url)
/// let file = try SafeTensors.read(url)
/// file.tensors["features.0.weight"]?.shape  // [4, 3, 2, 2]
/// ```
public enum SafeTensors {
    /// The largest header accepted (as the reference implementation: 100 MB).
    public static let maxHeaderLength = 100_000_000

    /// The contents of a safetensors file.
    public struct Contents {
        /// The tensors converted to `Float`, in file (data offset) order.
        public var tensors: StateDict
        /// The dtype each tensor had in the file.
        public var dtypes: [String: SafeTensorsDType]
        /// The `__metadata__` strings.
        public var metadata: [String: String]
    }

    /// Reads and validates the file at `url`.
    ///
    /// - Throws: ``SafeTensorsError``.
    public static func read(_ url: URL) throws -> Contents {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SafeTensorsError(file: url.path, problem: .io("cannot read: \(error.localizedDescription)"))
        }
        return try decode(data, file: url.path)
    }

    /// Writes `tensors` as `F32` in their order, with `metadata`, atomically (temporary file, then
    /// rename).
    ///
    /// - Throws: ``SafeTensorsError`` with `.io` when the file cannot be written.
    public static func write(_ tensors: StateDict, to url: URL, metadata: [String: String] = ["format": "pt"]) throws {
        let data = encode(tensors, metadata: metadata)
        do {
            try AtomicWrite.write(data, to: url)
        } catch let e as AtomicWriteError {
            throw SafeTensorsError(file: url.path, problem: .io("cannot write: \(e.reason)"))
        }
    }

    // MARK: Encoding

    /// The bytes of a safetensors file holding `tensors` as `F32`.
    public static func encode(_ tensors: StateDict, metadata: [String: String] = [:]) -> Data {
        var fields: [String] = []
        if !metadata.isEmpty {
            let items = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, tensor) in tensors {
            precondition(name != "__metadata__", "safetensors: '__metadata__' cannot be a tensor name")
            let bytes = tensor.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for (_, tensor) in tensors {
            let p = tensor.storage.pointer
            if UInt32(1).littleEndian == 1 {
                data.append(UnsafeBufferPointer(start: p, count: tensor.count))
            } else {
                for i in 0..<tensor.count { withUnsafeBytes(of: p[i].bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            }
        }
        return data
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Decoding

    struct Entry {
        var name: String
        var dtype: SafeTensorsDType
        var shape: [Int]
        var begin: Int, end: Int
    }

    /// Parses and validates the bytes of a safetensors file; `file` names it in errors.
    ///
    /// - Throws: ``SafeTensorsError``.
    public static func decode(_ data: Data, file: String) throws -> Contents {
        func fail(_ problem: SafeTensorsError.Problem) -> SafeTensorsError { SafeTensorsError(file: file, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw fail(.fileTooSmall(size: bytes.count)) }
        let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(maxHeaderLength) else { throw fail(.headerTooLarge(length: length, limit: maxHeaderLength)) }
        guard Int(length) <= bytes.count - 8 else { throw fail(.truncatedHeader(length: length, available: bytes.count - 8)) }
        let headerEnd = 8 + Int(length)
        let (entries, metadata) = try parseHeader(Array(bytes[8..<headerEnd]), fail: fail)

        // The byte ranges must tile the data section exactly.
        let dataLength = bytes.count - headerEnd
        var expectedOffset = 0
        var previous: String?
        for entry in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if entry.begin < expectedOffset { throw fail(.overlappingOffsets(tensor: entry.name, other: previous ?? "")) }
            if entry.begin > expectedOffset { throw fail(.gapInData(before: entry.name, offset: expectedOffset)) }
            expectedOffset = entry.end
            previous = entry.name
        }
        if expectedOffset > dataLength { throw fail(.truncatedData(expectedBytes: expectedOffset, actualBytes: dataLength)) }
        if expectedOffset < dataLength { throw fail(.trailingData(expectedBytes: expectedOffset, actualBytes: dataLength)) }

        var tensors = StateDict()
        var dtypes: [String: SafeTensorsDType] = [:]
        try bytes.withUnsafeBytes { raw in
            for entry in entries.sorted(by: { ($0.begin, $0.name) < ($1.begin, $1.name) }) {
                let tensor = Tensor.empty(entry.shape)
                let source = raw.baseAddress! + headerEnd + entry.begin
                if let bad = entry.dtype.decode(source, count: tensor.count, into: tensor.storage.pointer) {
                    throw fail(.valueNotRepresentable(
                        tensor: entry.name, dtype: entry.dtype.rawValue, value: entry.dtype.describeElement(source, at: bad)))
                }
                tensors[entry.name] = tensor
                dtypes[entry.name] = entry.dtype
            }
        }
        return Contents(tensors: tensors, dtypes: dtypes, metadata: metadata)
    }

    static func parseHeader(
        _ header: [UInt8], fail: (SafeTensorsError.Problem) -> SafeTensorsError
    ) throws -> ([Entry], [String: String]) {
        guard header.first == UInt8(ascii: "{") else { throw fail(.invalidHeader("it does not start with '{'")) }
        guard String(bytes: header, encoding: .utf8) != nil else { throw fail(.invalidHeader("it is not valid UTF-8")) }
        do { try InputLimits.checkJSONDepth(header) } catch { throw fail(.limit(error)) }
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any] else {
                throw fail(.invalidHeader("it is not a JSON object"))
            }
            object = parsed
        } catch let error as SafeTensorsError {
            throw error
        } catch {
            throw fail(.invalidHeader("malformed JSON (\(error.localizedDescription))"))
        }
        var metadata: [String: String] = [:]
        if let raw = object["__metadata__"] {
            guard let m = raw as? [String: Any], m.values.allSatisfy({ $0 is String }) else {
                throw fail(.invalidHeader("'__metadata__' must map strings to strings"))
            }
            metadata = m.mapValues { $0 as! String }
        }
        do {
            try InputLimits.check(object.count, InputLimits.maxTensors, limit: "tensors per file", what: "header entries")
        } catch { throw fail(.limit(error)) }
        var entries: [Entry] = []
        for (name, value) in object where name != "__metadata__" {
            guard let info = value as? [String: Any] else { throw fail(.invalidHeader("entry '\(name)' is not an object")) }
            guard let dtypeName = info["dtype"] as? String else {
                throw fail(.invalidHeader("entry '\(name)' has no string 'dtype'"))
            }
            guard let shape = integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(.invalidHeader("entry '\(name)' has no valid 'shape' (non-negative integers)"))
            }
            guard let offsets = integers(info["data_offsets"]), offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail(.invalidHeader("entry '\(name)' has no valid 'data_offsets' [begin, end] with 0 <= begin <= end"))
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw fail(.unsupportedDType(tensor: name, dtype: dtypeName))
            }
            let elements: Int
            do { elements = try InputLimits.elementCount(shape) } catch {
                throw fail(.limit(InputLimitExceeded(limit: error.limit, value: error.value, found: "tensor '\(name)': \(error.found)")))
            }
            let needed = elements * dtype.size  // at most 2^28 * 8
            guard needed == offsets[1] - offsets[0] else {
                throw fail(.sizeMismatch(tensor: name, expectedBytes: needed, actualBytes: offsets[1] - offsets[0]))
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
        }
        return (entries, metadata)
    }

    /// A JSON array of integers (`nil` for anything else, such as `1.5`).
    static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for element in array {
            guard let number = element as? NSNumber,
                number.doubleValue == number.doubleValue.rounded(), abs(number.doubleValue) < 9e15
            else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
