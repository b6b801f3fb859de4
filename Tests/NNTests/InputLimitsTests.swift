import Foundation
import Testing
import TestSupport
import TensorEngine

@testable import NN

/// The limits a checkpoint or data file cannot push a reader past (``InputLimits``): each an
/// error naming the file, the limit and its value, raised before anything is allocated for it.
@Suite struct InputLimitsTests {
    func safeTensorsProblem(_ data: Data) -> SafeTensorsError.Problem? {
        do {
            _ = try SafeTensors.decode(data, file: "m.safetensors")
            return nil
        } catch let error as SafeTensorsError {
            return error.problem
        } catch {
            return .io("unexpected error type: \(error)")
        }
    }

    @Test func safeTensorsTensorCount() {
        let entries = (0...InputLimits.maxTensors).map { "\"t\($0)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}" }
        let data = rawSafeTensors(header: "{" + entries.joined(separator: ",") + "}", data: [])
        #expect(safeTensorsProblem(data) == .limit(InputLimitExceeded(limit: "tensors per file", value: 100_000, found: "header entries: 100001")))
    }

    @Test func safeTensorsElementsAndRank() {
        let big = rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[65536,65536],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(safeTensorsProblem(big) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "tensor 'w': the shape [65536, 65536] has 4294967296")))
        let shape = "[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]"
        let deep = rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(safeTensorsProblem(deep) == .limit(InputLimitExceeded(limit: "tensor rank", value: 64, found: "tensor 'w': a shape of 65 dimensions")))
    }

    @Test func safeTensorsJSONDepth() throws {
        let header = "{\"__metadata__\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        let problem = safeTensorsProblem(rawSafeTensors(header: header, data: []))
        #expect(problem == .limit(InputLimitExceeded(limit: "JSON nesting depth", value: 128, found: "arrays and objects nested 201 deep")))
        let message = SafeTensorsError(file: "m.safetensors", problem: try #require(problem)).description
        #expect(message == "m.safetensors: the header exceeds the limit on JSON nesting depth (128): arrays and objects nested 201 deep")
    }

    func idxProblem(_ bytes: [UInt8]) -> DataError.Problem? {
        do {
            _ = try IDX.decode(bytes, file: "x-idx3-ubyte")
            return nil
        } catch let error as DataError {
            return error.problem
        } catch {
            return .io("unexpected error type: \(error)")
        }
    }

    @Test func idxElementsAndRank() {
        #expect(idxProblem(idx(shape: [65536, 65536], [])) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "the shape [65536, 65536] has 4294967296")))
        #expect(idxProblem(idx(shape: [Int](repeating: 1, count: 65), [1])) == .limit(InputLimitExceeded(
            limit: "tensor rank", value: 64, found: "a shape of 65 dimensions")))
        // A rank of 255 and dimensions of 2^32 - 1: the product overflows Int64, without a trap.
        #expect(idxProblem(idx(shape: [Int](repeating: 0xFFFF_FFFF, count: 3), [])) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "the shape [4294967295, 4294967295, 4294967295] has more than 9223372036854775807")))
    }

    @Test func decompressedSize() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bomb.gz")
        try Data(GzipWriter.gzip([UInt8](repeating: 0, count: 4096))).write(to: url)
        #expect(try FileBytes.read(url, limit: 4096).count == 4096)
        #expect(throws: DataError(file: url.path, problem: .limit(InputLimitExceeded(
            limit: "decompressed bytes", value: 4095, found: "the file expands past it")))) {
            try FileBytes.read(url, limit: 4095)
        }
    }

    @Test func cifarBatchBytes() throws {
        let record = [UInt8(7)] + [UInt8](repeating: 51, count: 3072)
        let set = try CIFAR10.decode(record + record, file: "b.bin")
        #expect(set.inputs.shape == [2, 3, 32, 32] && set.labels == [7, 7] && set.inputs.scalars.allSatisfy { $0 == 0.2 })
        #expect(throws: DataError(file: "b.bin", problem: .unexpectedLayout(
            "3072 bytes is not a whole number of 3073-byte records (label + 3×32×32 pixels)"))) {
            try CIFAR10.decode(Array(record.dropLast()), file: "b.bin")
        }
        #expect(throws: DataError(file: "b.bin", problem: .labelOutOfRange(index: 0, label: 10, classes: 10))) {
            try CIFAR10.decode([10] + record.dropFirst(), file: "b.bin")
        }
    }

    /// Inputs the fuzzers (`scripts/fuzz.sh`) found crashing a reader, kept as they were found.
    @Test func fuzzRegressions() throws {
        // FuzzIDX: rank 10 with a zero dimension among dimensions whose product overflows: the
        // element count was 0, then `Tensor.empty` trapped multiplying the shape.
        let idxCrash = try #require(Data(base64Encoded: "AAAJCgsMBgAAAwgAAAYGt7e3t7e3tywAAAAAAAAAt7e3t7e3t7e3t7e3twY="))
        #expect(idxProblem([UInt8](idxCrash)) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28,
            found: "the nonzero dimensions of the shape [185337344, 198656, 394935, 3082270647, 3082234880, 0, 47031, 3082270647, 3082270647, 3082270470] multiply to more than 9223372036854775807")))
    }
}
