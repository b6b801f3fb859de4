import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// IDX bytes: magic `0x0000TTRR`, big-endian dimensions, then `payload`.
func idx(type: UInt8 = 0x08, shape: [Int], _ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0, 0, type, UInt8(shape.count)]
    for d in shape { out += withUnsafeBytes(of: UInt32(d).bigEndian, Array.init) }
    return out + payload
}

@Suite struct DigitsTests {
    @Test func bundledDigitsHaveTheDocumentedSplit() throws {
        let all = try Digits.loadAll()
        #expect(all.count == 1797)
        #expect(all.inputs.shape == [1797, 1, 8, 8])
        let first = all.example(at: 0)
        #expect(first.label == 0)
        #expect(Array(first.input.scalars.prefix(8)) == [0, 0, 5, 13, 9, 1, 0, 0].map { Float($0) / 16 })
        #expect(all.inputs.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })

        let train = try Digits.load(.train), test = try Digits.load(.test)
        #expect(train.count == 1437 && test.count == 360)
        #expect(try Digits.load(.train).inputs.isEqual(to: train.inputs), "the split is deterministic")
        let permutation = RandomGenerator(seed: Digits.splitSeed).permutation(1797)
        #expect(test.example(at: 0).input.isEqual(to: all.example(at: permutation[1437]).input))
        var histogram = [Int](repeating: 0, count: 10)
        for l in train.labels + test.labels { histogram[l] += 1 }
        #expect(histogram == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
        #expect(Set(test.labels).count == 10, "every class is in the test set")
    }

    @Test func malformedDigitsFilesAreRejected() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("digits.csv")
        let row = Array(repeating: "0", count: 64).joined(separator: ",")
        for (text, line) in [(row + ",3\n" + row + "\n", 2), (row + ",12\n", 1), (row + ",x\n", 1)] {
            try Data(text.utf8).write(to: url)
            let error = try #require(throws: DataError.self) { try Digits.loadAll(from: url) }
            guard case .malformedRow(let l, _) = error.problem else {
                Issue.record("\(error)")
                continue
            }
            #expect(l == line && error.file == url.path)
        }
    }
}

@Suite struct DataLoaderTests {
    let data = TensorDataset(inputs: Tensor(shape: [10, 2], (0..<20).map(Float.init)), labels: Array(0..<10))

    @Test func batchesCoverTheDataInOrder() {
        let loader = DataLoader(data, batchSize: 4)
        let batches = Array(loader.batches(epoch: 0))
        #expect(batches.map(\.count) == [4, 4, 2])
        #expect(batches.flatMap(\.labels) == Array(0..<10))
        #expect(batches[1].inputs.shape == [4, 2])
        #expect(batches[1].inputs.scalars == (8..<16).map(Float.init))
        #expect(DataLoader(data, batchSize: 4, dropLast: true).batches(epoch: 0).map(\.count) == [4, 4])
    }

    @Test func shuffleIsSeededPerEpoch() {
        let a = DataLoader(data, batchSize: 3, shuffle: true, seed: 7)
        let b = DataLoader(data, batchSize: 3, shuffle: true, seed: 7)
        let e0 = a.batches(epoch: 0).flatMap(\.labels)
        #expect(e0 == b.batches(epoch: 0).flatMap(\.labels))
        #expect(e0.sorted() == Array(0..<10))
        #expect(e0 != Array(0..<10))
        #expect(a.batches(epoch: 1).flatMap(\.labels) != e0)
        #expect(DataLoader(data, batchSize: 3, shuffle: true, seed: 8).batches(epoch: 0).flatMap(\.labels) != e0)
        // Iterating the loader walks the epochs.
        let first = a.flatMap(\.labels), second = a.flatMap(\.labels)
        #expect(first == e0 && second == a.batches(epoch: 1).flatMap(\.labels) && a.nextEpoch == 2)
    }

    /// A data set that only implements `example(at:)` gets stacked batches.
    struct Squares: Dataset {
        var count: Int { 5 }
        func example(at index: Int) -> (input: Tensor, label: Int) { (Tensor([Float(index * index)]), index % 2) }
    }

    @Test func defaultBatchStacksExamples() {
        let batch = Squares().batch(at: [3, 4])
        #expect(batch.inputs.shape == [2, 1] && batch.inputs.scalars == [9, 16] && batch.labels == [1, 0])
    }
}

@Suite struct FileReaderTests {
    @Test func readsMNISTFilesPlainAndGzipped() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pixels: [UInt8] = (0..<3 * 2 * 2).map { UInt8($0 * 20) }
        try Data(idx(shape: [3, 2, 2], pixels)).write(to: dir.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idx(shape: [3], [7, 0, 9])).write(to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
        try Data(GzipWriter.gzip(idx(shape: [1, 2, 2], [255, 0, 51, 102]))).write(to: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try Data(GzipWriter.gzip(idx(shape: [1], [4]))).write(to: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))

        let train = try MNIST.load(directory: dir, split: .train)
        #expect(train.inputs.shape == [3, 1, 2, 2] && train.labels == [7, 0, 9])
        #expect(train.inputs.scalars == pixels.map { Float($0) / 255 })
        let test = try FashionMNIST.load(directory: dir, split: .test)
        #expect(test.inputs.scalars == [1, 0, 0.2, 0.4] && test.labels == [4])
    }

    @Test func readsEveryIDXElementType() throws {
        let i16 = idx(type: 0x0B, shape: [2], [0xff, 0xfe, 0x01, 0x00])
        #expect(try IDX.decode(i16, file: "a").scalars == [-2, 256])
        let f32 = idx(type: 0x0D, shape: [1, 1], withUnsafeBytes(of: Float(1.5).bitPattern.bigEndian, Array.init))
        let t = try IDX.decode(f32, file: "b")
        #expect(t.shape == [1, 1] && t.scalars == [1.5])
        #expect(try IDX.decode(idx(type: 0x09, shape: [2], [0xff, 3]), file: "c").scalars == [-1, 3])
    }

    @Test func badMNISTFilesThrowErrorsNamingTheFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
            let url = dir.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url
        }
        let images = try write("images", idx(shape: [2, 2, 2], [UInt8](repeating: 1, count: 8)))
        let labels = try write("labels", idx(shape: [2], [1, 2]))
        let gz = GzipWriter.gzip(idx(shape: [2, 2, 2], [UInt8](repeating: 1, count: 8)))
        var corrupt = gz
        corrupt[corrupt.count - 6] ^= 0xff  // CRC mismatch
        let cases: [(String, URL, URL, DataError.Problem?)] = [
            ("missing", dir.appendingPathComponent("nope"), labels, nil),
            ("bad magic", try write("magic", [1, 2, 3, 4, 5, 6, 7, 8]), labels, .badMagic(0x0102_0304)),
            ("truncated", try write("short", Array(idx(shape: [2, 2, 2], [UInt8](repeating: 1, count: 8)).dropLast(3))), labels,
             .truncated(expectedBytes: 24, actualBytes: 21)),
            ("trailing", try write("long", idx(shape: [2, 2, 2], [UInt8](repeating: 1, count: 9))), labels,
             .trailingBytes(expectedBytes: 24, actualBytes: 25)),
            ("element type", try write("type", idx(type: 0x0A, shape: [1], [0])), labels, .unsupportedElementType(0x0A)),
            ("count mismatch", images, try write("labels3", idx(shape: [3], [1, 2, 3])), .countMismatch(images: 2, labels: 3)),
            ("label range", images, try write("labels-big", idx(shape: [2], [1, 10])), .labelOutOfRange(index: 1, label: 10, classes: 10)),
            ("rank", try write("rank", idx(shape: [8], [UInt8](repeating: 1, count: 8))), labels, nil),
            ("corrupt gzip", try write("corrupt.gz", corrupt), labels, nil),
            ("truncated gzip", try write("cut.gz", Array(gz.dropLast(10))), labels, nil),
        ]
        for (name, imageURL, labelURL, expected) in cases {
            let error = try #require(throws: DataError.self, "\(name)") { try MNIST.load(images: imageURL, labels: labelURL) }
            if let expected { #expect(error.problem == expected, "\(name): \(error)") }
            if name.hasSuffix("gzip"), case .decompression = error.problem {} else if name.hasSuffix("gzip") {
                Issue.record("\(name): expected a decompression error, got \(error)")
            }
            if name == "missing", case .io = error.problem {} else if name == "missing" { Issue.record("\(error)") }
            #expect(error.description.hasPrefix(error.file + ": ") && [imageURL.path, labelURL.path].contains(error.file), "\(name): \(error)")
        }
    }

    @Test func readsCIFAR10Batches() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var record0: [UInt8] = [3] + [UInt8](repeating: 0, count: 3072)
        record0[1] = 255
        record0[1 + 1024] = 51  // first green pixel
        let record1: [UInt8] = [9] + [UInt8](repeating: 255, count: 3072)
        try Data(record0 + record1).write(to: dir.appendingPathComponent("test_batch.bin"))
        let test = try CIFAR10.load(directory: dir, split: .test)
        #expect(test.inputs.shape == [2, 3, 32, 32] && test.labels == [3, 9])
        #expect(test.inputs[0, 0, 0, 0] == 1 && test.inputs[0, 1, 0, 0] == 0.2 && test.inputs[0, 2, 0, 0] == 0)
        #expect(test.inputs[1, 2, 31, 31] == 1)
        #expect(CIFAR10.classNames[test.labels[0]] == "cat")

        let short = dir.appendingPathComponent("short.bin")
        try Data(record0.dropLast()).write(to: short)
        let e1 = try #require(throws: DataError.self) { try CIFAR10.load(batchFiles: [short]) }
        #expect(e1.file == short.path)
        let badLabel = dir.appendingPathComponent("label.bin")
        try Data([10] + record0.dropFirst()).write(to: badLabel)
        let e2 = try #require(throws: DataError.self) { try CIFAR10.load(batchFiles: [badLabel]) }
        #expect(e2.problem == .labelOutOfRange(index: 0, label: 10, classes: 10))
        let e3 = try #require(throws: DataError.self) { try CIFAR10.load(directory: dir, split: .train) }
        #expect(e3.file.hasSuffix("data_batch_1.bin"))
    }
}
