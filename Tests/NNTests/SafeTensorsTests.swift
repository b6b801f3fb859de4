import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// The bytes of a safetensors file with the given header text and data section.
func rawSafeTensors(header: String, data: [UInt8]) -> Data {
    var out = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: Array(header.utf8))
    out.append(contentsOf: data)
    return out
}

func floatBytes(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

@Suite struct SafeTensorsTests {
    func tinyCNN() -> Sequential {
        Sequential(named: [
            "features": Sequential(Linear(6, 4), ReLU(), Linear(4, 4, bias: false)),
            "classifier": Linear(4, 2),
        ])
    }

    @Test func stateDictRoundTripsBitExactly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        let a = tinyCNN(), b = tinyCNN()
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                                 Float(bitPattern: 0x7fc0_1234), 1.0 / 3]
        a.tensor(at: "classifier.weight")!.storage.pointer.update(from: specials, count: specials.count)
        try a.saveSafeTensors(to: url)
        try b.loadSafeTensors(from: url)
        for (key, t) in a.stateDict() {
            #expect(b.tensor(at: key)!.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "\(key)")
        }
        let contents = try SafeTensors.read(url)
        #expect(contents.tensors.keys == a.stateDict().keys)
        #expect(contents.metadata == ["format": "pt"])
        #expect(contents.dtypes.values.allSatisfy { $0 == .f32 })
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        try #expect(FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"], "no temporary file left")
    }

    @Test func readsTheFileWrittenByPython() throws {
        let fixture = try Fixture("nn", "python_written")
        let url = Fixture.url("nn", "python_written.safetensors")
        let contents = try SafeTensors.read(url)
        #expect(contents.metadata == ["format": "pt", "producer": "make_fixtures.py"])
        let expected = fixture["tensors"]
        #expect(Set(contents.tensors.keys) == Set(expected.json.keys))
        for (name, tensor) in contents.tensors {
            let e = expected[name]
            #expect(tensor.isEqual(to: Fixture.tensor(e.json)!), "\(name)")
            #expect(contents.dtypes[name] == .f32)
        }
        #expect(contents.tensors["empty"]!.shape == [0, 3])
        #expect(contents.tensors["scale"]!.shape == [])
    }

    @Test func convertsOtherDTypes() throws {
        let header = #"{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"#
            + #""c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]},"d":{"dtype":"U8","shape":[2],"data_offsets":[24,26]}}"#
        var data: [UInt8] = []
        for v: Int64 in [7, -3] { data += withUnsafeBytes(of: v.littleEndian, Array.init) }
        for h: UInt16 in [0x3c00, 0xc000, 0x0001] { data += withUnsafeBytes(of: h.littleEndian, Array.init) }  // 1, -2, 2^-24
        data += withUnsafeBytes(of: UInt16(0x4049).littleEndian, Array.init)  // bf16 3.140625
        data += [0, 255]
        let contents = try SafeTensors.decode(rawSafeTensors(header: header, data: data), file: "mixed.safetensors")
        #expect(contents.tensors["a"]!.scalars == [7, -3])
        #expect(contents.tensors["b"]!.scalars == [1, -2, Float(sign: .plus, exponent: -24, significand: 1)])
        #expect(contents.tensors["c"]!.scalars == [3.140625])
        #expect(contents.tensors["d"]!.scalars == [0, 255])
        #expect(contents.dtypes["a"] == .i64)
    }

    /// Each malformed file is rejected with a typed problem and a message naming the file.
    @Test func rejectsMalformedFiles() throws {
        let good = SafeTensors.encode(["w": Tensor([1, 2, 3]), "b": Tensor([4])])
        let ok = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#
        let data16 = floatBytes([1, 2, 3, 4])
        let cases: [(String, Data, SafeTensorsError.Problem)] = [
            ("empty", Data(), .fileTooSmall(size: 0)),
            ("cut in length", good.prefix(5), .fileTooSmall(size: 5)),
            ("cut in header", good.prefix(20), .truncatedHeader(length: UInt64(good.count - 8 - 16), available: 12)),
            ("cut in data", good.prefix(good.count - 3), .truncatedData(expectedBytes: 16, actualBytes: 13)),
            ("oversized header", Data([0, 0, 0, 0, 0, 1, 0, 0]) + Data(repeating: 0x20, count: 64),
             .headerTooLarge(length: 1 << 40, limit: 100_000_000)),
            ("wrong dtype", rawSafeTensors(header: ok.replacingOccurrences(of: "\"F32\",\"shape\":[1]", with: "\"Q7\",\"shape\":[1]"), data: data16),
             .unsupportedDType(tensor: "b", dtype: "Q7")),
            ("overlap", rawSafeTensors(header: ok.replacingOccurrences(of: "[12,16]", with: "[8,12]"), data: data16),
             .overlappingOffsets(tensor: "b", other: "w")),
            ("gap", rawSafeTensors(header: ok.replacingOccurrences(of: "[0,12]", with: "[4,16]").replacingOccurrences(of: "[12,16]", with: "[16,20]"), data: data16 + [0, 0, 0, 0]),
             .gapInData(before: "w", offset: 0)),
            ("size mismatch", rawSafeTensors(header: ok.replacingOccurrences(of: "\"shape\":[3]", with: "\"shape\":[2]"), data: data16),
             .sizeMismatch(tensor: "w", expectedBytes: 8, actualBytes: 12)),
            ("trailing bytes", rawSafeTensors(header: ok, data: data16 + [9]), .trailingData(expectedBytes: 16, actualBytes: 17)),
            ("not json", rawSafeTensors(header: "{nope}", data: []), .invalidHeader("")),
            ("not an object start", rawSafeTensors(header: "[1]", data: []), .invalidHeader("")),
            ("bad offsets", rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: []), .invalidHeader("")),
            ("huge i64", rawSafeTensors(header: #"{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
                                        data: withUnsafeBytes(of: Int64(1 << 40 + 1).littleEndian, Array.init)),
             .valueNotRepresentable(tensor: "n", dtype: "I64", value: "1099511627777")),
        ]
        for (name, bytes, expected) in cases {
            let error = try #require(throws: SafeTensorsError.self, "\(name)") {
                try SafeTensors.decode(bytes, file: "/tmp/\(name).safetensors")
            }
            if case .invalidHeader = expected {
                guard case .invalidHeader = error.problem else {
                    Issue.record("\(name): \(error)")
                    continue
                }
            } else {
                #expect(error.problem == expected, "\(name): \(error)")
            }
            #expect(error.description.hasPrefix("/tmp/\(name).safetensors: "), "\(name): \(error)")
        }
    }

    @Test func failedLoadsLeaveTheModelUnchanged() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = tinyCNN()
        let before = model.stateDict().entries.map { ($0.key, $0.tensor.scalars) }
        func unchanged() -> Bool { before.allSatisfy { model.tensor(at: $0.0)!.scalars == $0.1 } }

        // A valid file whose last tensor is cut off.
        let good = dir.appendingPathComponent("other.safetensors")
        try tinyCNN().saveSafeTensors(to: good)
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try Data(contentsOf: good).dropLast(4).write(to: truncated)
        let e1 = try #require(throws: SafeTensorsError.self) { try model.loadSafeTensors(from: truncated) }
        #expect(e1.file == truncated.path)
        #expect(unchanged())

        // A complete file with one wrong shape: nothing is loaded, the error names the file.
        var sd = tinyCNN().stateDict()
        sd["classifier.bias"] = Tensor([1, 2, 3])
        let wrong = dir.appendingPathComponent("wrong.safetensors")
        try SafeTensors.write(sd, to: wrong)
        let e2 = try #require(throws: StateDictError.self) { try model.loadSafeTensors(from: wrong) }
        #expect(e2.source == wrong.path && e2.shapeMismatches.map(\.key) == ["classifier.bias"])
        #expect(e2.description.contains(wrong.path))
        #expect(unchanged())

        let missing = dir.appendingPathComponent("missing.safetensors")
        let e3 = try #require(throws: SafeTensorsError.self) { try model.loadSafeTensors(from: missing) }
        #expect(e3.description.hasPrefix(missing.path))
        #expect(unchanged())
    }

    @Test func atomicSaveReplacesAnExistingFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try SafeTensors.write(["x": Tensor([1])], to: url)
        try SafeTensors.write(["x": Tensor([2, 3])], to: url)
        try #expect(SafeTensors.read(url).tensors["x"]!.scalars == [2, 3])
        let unwritable = dir.appendingPathComponent("no-such-dir/ckpt.safetensors")
        let error = try #require(throws: SafeTensorsError.self) { try SafeTensors.write(["x": Tensor([1])], to: unwritable) }
        #expect(error.file == unwritable.path)
        try #expect(FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.safetensors"])
    }
}
