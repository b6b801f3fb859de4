import Foundation
import TensorEngine

/// The UCI handwritten digits, bundled with the package so examples and tests run offline:
/// 1,797 grey-scale 8×8 images of the digits 0–9 (scikit-learn's `load_digits`; source and
/// license in `Resources/DIGITS-LICENSE.md`).
///
/// Inputs are `[1, 8, 8]` with the pixel counts 0…16 scaled to `[0, 1]` (divided by 16); labels
/// are the digits.
///
/// The split is fixed: the rows of the file are permuted by
/// `RandomGenerator(seed: Digits.splitSeed).permutation(1797)`; the first 1,437 positions of
/// that permutation are the training set and the last 360 the test set (an 80/20 split), each in
/// permutation order.
///
/// ```swift
/// let train = try Digits.load(.train)  // 1437 examples
/// train.inputs.shape                   // [1437, 1, 8, 8]
/// ```
public enum Digits {
    /// Number of images in the file.
    public static let totalCount = 1797
    /// Number of training images (the rest, 360, are the test set).
    public static let trainCount = 1437
    /// The seed of the split permutation.
    public static let splitSeed: UInt64 = 0
    /// Number of classes.
    public static let classCount = 10

    /// The bundled file (`digits.csv.gz`).
    public static var bundledFile: URL {
        guard let url = Bundle.module.url(forResource: "digits.csv", withExtension: "gz") else {
            preconditionFailure("Digits: digits.csv.gz is missing from the NN resource bundle")
        }
        return url
    }

    /// One side of the fixed split (of `file`, by default the bundled one; another file must have
    /// the same format, and is split in the same 1437:360 proportion).
    ///
    /// - Throws: ``DataError`` if the file is unreadable or malformed.
    public static func load(_ split: Split, from file: URL? = nil) throws -> TensorDataset {
        let all = try loadAll(from: file)
        let permutation = RandomGenerator(seed: splitSeed).permutation(all.count)
        let cut = all.count * trainCount / totalCount
        return all.subset(Array(split == .train ? permutation[..<cut] : permutation[cut...]))
    }

    /// Every image in file order.
    ///
    /// - Throws: ``DataError`` if the file is unreadable or malformed.
    public static func loadAll(from file: URL? = nil) throws -> TensorDataset {
        let url = file ?? bundledFile
        let bytes = try FileBytes.read(url)
        var pixels: [Float] = []
        pixels.reserveCapacity(totalCount * 64)
        var labels: [Int] = []
        var row: [Int] = []
        var value = -1
        var line = 1
        func endRow() throws {
            if value >= 0 { row.append(value) }
            value = -1
            defer { row.removeAll(keepingCapacity: true); line += 1 }
            if row.isEmpty { return }
            guard row.count == 65 else {
                throw DataError(file: url.path, problem: .malformedRow(line: line, reason: "\(row.count) values, expected 64 pixels and a label"))
            }
            guard row[..<64].allSatisfy({ $0 <= 16 }), row[64] < classCount else {
                throw DataError(file: url.path, problem: .malformedRow(line: line, reason: "a pixel above 16 or a label above 9"))
            }
            pixels += row[..<64].map { Float($0) / 16 }
            labels.append(row[64])
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = max(value, 0) * 10 + Int(byte - UInt8(ascii: "0"))
                if value > 1_000_000 { throw DataError(file: url.path, problem: .malformedRow(line: line, reason: "number too large")) }
            case UInt8(ascii: ","):
                guard value >= 0 else { throw DataError(file: url.path, problem: .malformedRow(line: line, reason: "empty field")) }
                row.append(value)
                value = -1
            case UInt8(ascii: "\n"):
                try endRow()
            case UInt8(ascii: "\r"), UInt8(ascii: " "):
                continue
            default:
                throw DataError(file: url.path, problem: .malformedRow(line: line, reason: "unexpected character '\(Character(Unicode.Scalar(byte)))'"))
            }
        }
        try endRow()
        guard !labels.isEmpty else { throw DataError(file: url.path, problem: .unexpectedLayout("no rows")) }
        return TensorDataset(inputs: Tensor(shape: [labels.count, 1, 8, 8], pixels), labels: labels)
    }
}
