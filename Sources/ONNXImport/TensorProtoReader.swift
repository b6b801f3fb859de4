import Foundation
import TensorEngine
import ONNXProto

/// Decodes ONNX `TensorProto`s (initializers, `Constant` values, attribute tensors) into
/// ``ConstValue``s, checking everything against the bytes actually present.
///
/// - dims must be non-negative and their product (times the element size) must not overflow;
/// - the data comes from exactly one place (`raw_data`, a typed field, or external data) and
///   holds exactly the number of elements the dims give;
/// - external data (`location`, `offset`, `length`) must name a relative path that stays inside
///   the model's folder (no `..`, no absolute path, no symbolic link out) and a byte range
///   inside that file.
struct TensorProtoReader {
    /// The folder of the model file; external data paths are relative to it. `nil`: external
    /// data is refused (a model decoded from memory).
    var folder: URL?
    var file: String

    func fail(_ name: String, _ reason: String) -> ONNXImportError {
        ONNXImportError(file: file, problem: .invalidTensor(name: name, reason: reason))
    }

    enum ElementType {
        case float32, float64, int64, int32, int16, int8, uint8, uint16, bool
        var size: Int {
            switch self {
            case .float64, .int64: 8
            case .float32, .int32: 4
            case .int16, .uint16: 2
            case .int8, .uint8, .bool: 1
            }
        }
    }

    static let typeNames: [Int32: String] = [
        0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "STRING",
        9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16",
    ]

    func elementType(_ t: Onnx_TensorProto) throws -> ElementType {
        switch t.dataType {
        case 1: return .float32
        case 11: return .float64
        case 7: return .int64
        case 6: return .int32
        case 5: return .int16
        case 3: return .int8
        case 2: return .uint8
        case 4: return .uint16
        case 9: return .bool
        default:
            throw fail(t.name, "data type \(Self.typeNames[t.dataType] ?? String(t.dataType)) is not supported (FLOAT, DOUBLE, INT64, INT32, INT16, INT8, UINT16, UINT8, BOOL are)")
        }
    }

    func read(_ t: Onnx_TensorProto, name: String? = nil) throws -> ConstValue {
        let name = name ?? t.name
        if t.hasSegment { throw fail(name, "segmented tensors are not supported") }
        let type = try elementType(t)
        guard t.dims.allSatisfy({ $0 >= 0 }) else { throw fail(name, "negative dimension in dims \(t.dims)") }
        let shape = t.dims.map { Int($0) }
        let count: Int
        do { count = try InputLimits.elementCount(shape) } catch {
            throw ONNXImportError(file: file, problem: .limit(InputLimitExceeded(limit: error.limit, value: error.value, found: "tensor '\(name)': \(error.found)")))
        }
        let byteCount = count * type.size  // at most 2^28 * 8

        let external = t.dataLocation == .external
        let typed = [t.floatData.count, t.int32Data.count, t.int64Data.count, t.doubleData.count, t.uint64Data.count].filter { $0 > 0 }.count
        let sources = (t.rawData.isEmpty ? 0 : 1) + typed + (external ? 1 : 0)
        guard sources <= 1 else { throw fail(name, "its data is given in \(sources) places (raw_data, typed fields, external data); expected one") }

        if external || !t.rawData.isEmpty || count == 0 {
            let raw: Data = external ? try externalBytes(t, name: name, byteCount: byteCount) : t.rawData
            guard raw.count == byteCount else {
                throw fail(name, "dims \(t.dims) need \(byteCount) bytes of data, raw_data has \(raw.count)")
            }
            return ConstValue(shape: shape, data: decodeRaw(raw, type, count))
        }
        func check(_ n: Int, _ field: String) throws {
            guard n == count else { throw fail(name, "dims \(t.dims) hold \(count) elements, \(field) has \(n)") }
        }
        switch type {
        case .float32:
            try check(t.floatData.count, "float_data")
            return ConstValue(shape: shape, data: .float(t.floatData))
        case .float64:
            try check(t.doubleData.count, "double_data")
            return ConstValue(shape: shape, data: .float(t.doubleData.map { Float($0) }))
        case .int64:
            try check(t.int64Data.count, "int64_data")
            return ConstValue(shape: shape, data: .int(t.int64Data))
        case .int32, .int16, .int8, .uint8, .uint16, .bool:
            try check(t.int32Data.count, "int32_data")
            return ConstValue(shape: shape, data: .int(t.int32Data.map { Int64($0) }))
        }
    }

    func decodeRaw(_ raw: Data, _ type: ElementType, _ count: Int) -> ConstValue.Data {
        raw.withUnsafeBytes { (p: UnsafeRawBufferPointer) -> ConstValue.Data in
            func load<T>(_: T.Type) -> [T] {
                (0..<count).map { p.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
            }
            switch type {
            case .float32: return .float(load(UInt32.self).map { Float(bitPattern: UInt32(littleEndian: $0)) })
            case .float64: return .float(load(UInt64.self).map { Float(Double(bitPattern: UInt64(littleEndian: $0))) })
            case .int64: return .int(load(Int64.self).map { Int64(littleEndian: $0) })
            case .int32: return .int(load(Int32.self).map { Int64(Int32(littleEndian: $0)) })
            case .int16: return .int(load(Int16.self).map { Int64(Int16(littleEndian: $0)) })
            case .uint16: return .int(load(UInt16.self).map { Int64(UInt16(littleEndian: $0)) })
            case .int8: return .int(load(Int8.self).map { Int64($0) })
            case .uint8, .bool: return .int(load(UInt8.self).map { Int64($0) })
            }
        }
    }

    /// The bytes an external-data reference names, after checking that the path stays in the
    /// model's folder and the range lies in the file.
    func externalBytes(_ t: Onnx_TensorProto, name: String, byteCount: Int) throws -> Data {
        func bad(_ reason: String) -> ONNXImportError {
            ONNXImportError(file: file, problem: .externalData(tensor: name, reason: reason))
        }
        var fields: [String: String] = [:]
        for entry in t.externalData {
            guard fields.updateValue(entry.value, forKey: entry.key) == nil else { throw bad("key '\(entry.key)' is given twice") }
        }
        guard let folder else { throw bad("the model was not read from a file, so external data cannot be resolved") }
        guard let location = fields["location"], !location.isEmpty else { throw bad("no 'location'") }
        func number(_ key: String) throws -> Int? {
            guard let text = fields[key] else { return nil }
            guard let v = Int(text), v >= 0 else { throw bad("'\(key)' is '\(text)', not a non-negative integer") }
            return v
        }
        let offset = try number("offset") ?? 0
        let length = try number("length") ?? byteCount
        guard length == byteCount else { throw bad("'length' is \(length) bytes, dims \(t.dims) need \(byteCount)") }
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !location.contains("\\"), !location.contains("\0"),
              !parts.contains(where: { $0 == ".." }) else {
            throw bad("location '\(location)' leaves the model's folder; it must be a relative path inside it")
        }
        let root = folder.standardizedFileURL.resolvingSymlinksInPath().path
        let target = folder.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        guard target.path.hasPrefix(root + "/") else {
            throw bad("location '\(location)' resolves to \(target.path), outside the model's folder \(root)")
        }
        guard let handle = try? FileHandle(forReadingFrom: target) else { throw bad("cannot open '\(location)' in \(root)") }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map { Int($0) } ?? 0
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= size else {
            throw bad("bytes \(offset)..<\(overflow ? Int.max : end) lie past the end of '\(location)' (\(size) bytes)")
        }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            guard data.count == length else { throw bad("'\(location)' ended after \(data.count) of \(length) bytes") }
            return data
        } catch let error as ONNXImportError {
            throw error
        } catch {
            throw bad("cannot read '\(location)': \(error.localizedDescription)")
        }
    }
}
