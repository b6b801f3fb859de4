import Foundation
import TensorEngine

/// CIFAR-10 from the binary batches on disk (`cifar-10-batches-bin`): each record is one label
/// byte (0–9) and 3,072 pixel bytes (red, green, blue planes of 32×32). Images are
/// `[N, 3, 32, 32]` scaled to `[0, 1]`.
///
/// ```swift
/// let test = try CIFAR10.load(directory: URL(fileURLWithPath: "data/cifar-10-batches-bin"), split: .test)
/// ```
public enum CIFAR10 {
    /// Bytes per record.
    public static let recordSize = 1 + 3 * 32 * 32
    /// The class names, by label.
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    /// The standard batch files of a split: `data_batch_1.bin` … `data_batch_5.bin`, or
    /// `test_batch.bin`.
    public static func fileNames(_ split: Split) -> [String] {
        split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }

    /// Loads a split from a directory holding the standard batch files.
    ///
    /// - Throws: ``DataError``.
    public static func load(directory: URL, split: Split) throws -> TensorDataset {
        try load(batchFiles: fileNames(split).map { directory.appendingPathComponent($0) })
    }

    /// Loads and concatenates batch files (each possibly gzip-compressed).
    ///
    /// - Throws: ``DataError``: unreadable file, a size that is not a whole number of records,
    ///   or a label above 9.
    public static func load(batchFiles: [URL]) throws -> TensorDataset {
        var pixels: [Float] = []
        var labels: [Int] = []
        for url in batchFiles {
            try appendRecords(FileBytes.read(url), file: url.path, pixels: &pixels, labels: &labels)
        }
        return TensorDataset(inputs: Tensor(shape: [labels.count, 3, 32, 32], pixels), labels: labels)
    }

    /// The records of one batch file's bytes; `file` names it in errors.
    ///
    /// - Throws: ``DataError``: a size that is not a whole, non-zero number of records, or a
    ///   label above 9.
    public static func decode(_ bytes: [UInt8], file: String) throws -> TensorDataset {
        var pixels: [Float] = []
        var labels: [Int] = []
        try appendRecords(bytes, file: file, pixels: &pixels, labels: &labels)
        return TensorDataset(inputs: Tensor(shape: [labels.count, 3, 32, 32], pixels), labels: labels)
    }

    static func appendRecords(_ bytes: [UInt8], file: String, pixels: inout [Float], labels: inout [Int]) throws {
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw DataError(file: file, problem: .unexpectedLayout(
                "\(bytes.count) bytes is not a whole number of \(recordSize)-byte records (label + 3×32×32 pixels)"))
        }
        pixels.reserveCapacity(pixels.count + bytes.count)
        for record in 0..<bytes.count / recordSize {
            let start = record * recordSize
            let label = Int(bytes[start])
            guard label < classNames.count else {
                throw DataError(file: file, problem: .labelOutOfRange(index: record, label: label, classes: classNames.count))
            }
            labels.append(label)
            pixels += bytes[(start + 1)..<(start + recordSize)].map { Float($0) / 255 }
        }
    }
}
