import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// The bytes of a `.npy` file: magic, version, header length, `header` (padded as given), `data`.
func rawNumPy(major: UInt8 = 1, minor: UInt8 = 0, header: String, data: [UInt8]) -> Data {
    var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, minor])
    let h = Array(header.utf8)
    if major == 1 {
        withUnsafeBytes(of: UInt16(h.count).littleEndian) { out.append(contentsOf: $0) }
    } else {
        withUnsafeBytes(of: UInt32(h.count).littleEndian) { out.append(contentsOf: $0) }
    }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

@Suite struct NumPyTests {
    func problem(_ data: Data) -> NumPyError.Problem? {
        do {
            _ = try NumPy.decode(data, file: "x.npy")
            return nil
        } catch let error as NumPyError {
            return error.problem
        } catch {
            return .io("unexpected error \(error)")
        }
    }

    @Test func writesTheHeaderNumPyWrites() {
        // np.save of a float32 array of shape (4, 1, 8, 8): a 118-byte header, data at offset 128.
        let x = NumPyArray(shape: [4, 1, 8, 8], values: .float32((0..<256).map(Float.init)))
        let bytes = [UInt8](NumPy.encode(x))
        #expect(bytes.count == 128 + 256 * 4)
        #expect(bytes[8] == 118 && bytes[9] == 0)
        let header = String(decoding: bytes[10..<128], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 1, 8, 8), }    "))
        #expect(header.hasSuffix(" \n"))
        let one = [UInt8](NumPy.encode(NumPyArray(shape: [3], values: .uint8([1, 2, 3]))))
        #expect(String(decoding: one[10..<70], as: UTF8.self).hasPrefix("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }"))
    }

    @Test(arguments: [
        NumPyArray(shape: [2, 3], values: .float32([0, -0.0, .infinity, -.infinity, 1.0 / 3, .leastNonzeroMagnitude])),
        NumPyArray(shape: [3], values: .float64([1e300, -2.5, .pi])),
        NumPyArray(shape: [2, 1], values: .int64([Int64.min, Int64.max])),
        NumPyArray(shape: [1, 2, 2], values: .int32([Int32.min, -1, 0, Int32.max])),
        NumPyArray(shape: [], values: .uint8([255])),
        NumPyArray(shape: [0, 3], values: .float32([])),
    ])
    func roundTripsEveryType(_ array: NumPyArray) throws {
        let decoded = try NumPy.decode(NumPy.encode(array), file: "x.npy")
        #expect(decoded.shape == array.shape)
        if case .float32(let a) = array.values, case .float32(let b) = decoded.values {
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        } else {
            #expect(decoded == array)
        }
    }

    @Test func readsVersionsTwoAndThree() throws {
        let data = floatBytes([1, 2, 3, 4])
        for major: UInt8 in [1, 2, 3] {
            let x = try NumPy.decode(rawNumPy(major: major, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", data: data), file: "x.npy")
            #expect(x.shape == [2, 2] && x.values == .float32([1, 2, 3, 4]))
        }
        // Keys in any order, double quotes, a trailing comma, a 0-d shape, Python 2 longs.
        let y = try NumPy.decode(rawNumPy(header: "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}\n", data: floatBytes([7])), file: "x.npy")
        #expect(y.shape == [] && y.values == .float32([7]))
        let z = try NumPy.decode(rawNumPy(header: "{'descr': '<i8', 'fortran_order': False, 'shape': (1L,), }", data: Array(repeating: 0, count: 8)), file: "x.npy")
        #expect(z.shape == [1])
        // A UTF-8 header is allowed from version 3 only.
        let unicode = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } \u{e9}\n"
        #expect(problem(rawNumPy(major: 3, header: unicode, data: floatBytes([1]))) == .invalidHeader("text after the dictionary"))
        #expect(problem(rawNumPy(major: 2, header: unicode, data: floatBytes([1]))) == .invalidHeader("non-ASCII bytes in a version 2 header"))
    }

    @Test func convertsToTensors() throws {
        #expect(try NumPyArray(shape: [2], values: .int64([-3, 16_777_216])).tensor().scalars == [-3, 16_777_216])
        #expect(try NumPyArray(shape: [1], values: .float64([0.1])).tensor().scalars == [Float(0.1)])
        #expect(try NumPyArray(shape: [2], values: .uint8([0, 255])).tensor().scalars == [0, 255])
        #expect(throws: NumPyError(file: "a.npy", problem: .valueNotRepresentable(dtype: "int64", value: "16777217"))) {
            try NumPyArray(shape: [1], values: .int64([16_777_217])).tensor(file: "a.npy")
        }
    }

    static let hostile: [(String, Data, NumPyError.Problem)] = {
        let f4 = "'fortran_order': False"
        func h(_ descr: String, _ shape: String, fortran: String = "False") -> String {
            "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }\n"
        }
        return [
            ("not numpy", Data("PK\u{3}\u{4} hello".utf8), .notNumPy),
            ("empty", Data(), .truncatedHeader(needed: 10, available: 0)),
            ("version 4", rawNumPy(major: 4, header: h("<f4", "(1,)"), data: floatBytes([1])), .unsupportedVersion(major: 4, minor: 0)),
            ("version 1.1", rawNumPy(minor: 1, header: h("<f4", "(1,)"), data: floatBytes([1])), .unsupportedVersion(major: 1, minor: 1)),
            ("header longer than the file", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0x10, 0x27, 0x7B]), .truncatedHeader(needed: 10010, available: 11)),
            ("header over NumPy's max_header_size", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0xFF, 0xFF, 0x7B]),
             .limit(InputLimitExceeded(limit: "header bytes", value: 10_000, found: "a header length of: 65535"))),
            ("v2 header length 4 GB", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF]), .limit(InputLimitExceeded(limit: "header bytes", value: 10_000, found: "a header length of: 4294967295"))),
            ("data shorter than the header says", rawNumPy(header: h("<f4", "(2, 3)"), data: floatBytes([1, 2, 3, 4, 5])), .sizeMismatch(shape: [2, 3], dtype: "float32", expectedBytes: 24, actualBytes: 20)),
            ("data longer than the header says", rawNumPy(header: h("<f4", "(1,)"), data: floatBytes([1, 2])), .sizeMismatch(shape: [1], dtype: "float32", expectedBytes: 4, actualBytes: 8)),
            ("fortran order", rawNumPy(header: h("<f4", "(2, 2)", fortran: "True"), data: floatBytes([1, 2, 3, 4])), .fortranOrder),
            ("big-endian", rawNumPy(header: h(">f4", "(1,)"), data: floatBytes([1])), .bigEndian(descr: ">f4")),
            ("object array", rawNumPy(header: h("|O", "(1,)"), data: Array(repeating: 0, count: 8)), .objectArray),
            ("float16", rawNumPy(header: h("<f2", "(1,)"), data: [0, 0]), .unsupportedDType(descr: "<f2")),
            ("structured", rawNumPy(header: "{'descr': [('a', '<f4')], \(f4), 'shape': (1,), }", data: floatBytes([1])), .invalidHeader("'descr' is a list: structured dtypes are not supported")),
            ("negative dimension", rawNumPy(header: h("<f4", "(-1, 4)"), data: floatBytes([1])), .negativeDimension(shape: [-1, 4])),
            ("element count overflow", rawNumPy(header: h("<f4", "(4294967296, 4294967296)"), data: []), .limit(InputLimitExceeded(limit: "elements per tensor", value: 1 << 28, found: "the shape [4294967296, 4294967296] has more than 9223372036854775807"))),
            ("element count past the limit", rawNumPy(header: h("<u1", "(65536, 65536)"), data: []),
             .limit(InputLimitExceeded(limit: "elements per tensor", value: 1 << 28, found: "the shape [65536, 65536] has 4294967296"))),
            ("rank past the limit", rawNumPy(header: h("<u1", "(" + String(repeating: "1, ", count: 65) + ")"), data: [1]),
             .limit(InputLimitExceeded(limit: "tensor rank", value: 64, found: "a shape of 65 dimensions"))),
            ("byte count overflow", rawNumPy(header: h("<f8", "(2305843009213693952,)"), data: []), .limit(InputLimitExceeded(limit: "elements per tensor", value: 1 << 28, found: "the shape [2305843009213693952] has 2305843009213693952"))),
            ("dimension past Int64", rawNumPy(header: h("<f4", "(99999999999999999999,)"), data: []), .invalidHeader("dimension at offset 51 does not fit a 64-bit integer")),
            ("duplicate key", rawNumPy(header: "{'descr': '<f4', 'descr': '<f8', \(f4), 'shape': (1,), }", data: floatBytes([1])), .invalidHeader("the key 'descr' appears twice")),
            ("unknown key", rawNumPy(header: "{'descr': '<f4', \(f4), 'shape': (1,), 'x': 1}", data: floatBytes([1])), .invalidHeader("unexpected value for 'x' at offset 61")),
            ("missing key", rawNumPy(header: "{'descr': '<f4', 'shape': (1,)}", data: floatBytes([1])), .invalidHeader("'fortran_order' must be True or False")),
            ("code, not a literal", rawNumPy(header: "__import__('os').system('x')", data: []), .invalidHeader("expected '{' at offset 0, found '_'")),
            ("unterminated", rawNumPy(header: "{'descr: '<f4'", data: []), .invalidHeader("expected ':' at offset 10, found '<'")),
        ]
    }()

    @Test(arguments: hostile.indices)
    func rejectsHostileFiles(_ index: Int) {
        let (name, data, expected) = Self.hostile[index]
        #expect(problem(data) == expected, "\(name)")
    }

    @Test func everyTruncationIsAnError() throws {
        let full = NumPy.encode(NumPyArray(shape: [3, 2], values: .float64([1, 2, 3, 4, 5, 6])))
        for n in 0..<full.count {
            #expect(problem(full.prefix(n)) != nil, "prefix of \(n) bytes")
        }
    }

    @Test func errorsSayHowToFixTheFile() {
        #expect(NumPyError(file: "x.npy", problem: .fortranOrder).description
            == "x.npy: the array is stored in Fortran order; save it in C order (numpy: np.ascontiguousarray(a))")
        #expect(NumPyError(file: "x.npy", problem: .unsupportedDType(descr: "<c8")).description
            == "x.npy: dtype '<c8' is not supported; supported: <f4, <f8, <i8, <i4, |u1")
    }

    @Test func writesAtomicallyAndReadsBack() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("y.npy")
        let t = Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
        try NumPy.write(t, to: url)
        try NumPy.write(t * 2, to: url)
        #expect(try NumPy.readTensor(url).isEqual(to: t * 2))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["y.npy"])
        #expect(throws: NumPyError.self) { try NumPy.write(t, to: dir.appendingPathComponent("missing/y.npy")) }
        #expect(throws: NumPyError.self) { try NumPy.read(dir.appendingPathComponent("absent.npy")) }
    }
}
