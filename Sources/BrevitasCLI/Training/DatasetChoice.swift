import ArgumentParser
import Foundation
import NN
import TensorEngine

/// The data sets `brevitas train` reads: the bundled digits, or standard files in `--data-dir`.
enum DatasetChoice: String, CaseIterable, Codable, ExpressibleByArgument {
    case digits
    case mnist
    case fashionMNIST = "fashion-mnist"
    case cifar10

    /// Whether the data comes from `--data-dir` (everything but the bundled digits).
    var needsDirectory: Bool { self != .digits }

    /// What `--data-dir` must hold, for help and error messages.
    var expectedFiles: String {
        switch self {
        case .digits: return "nothing (the digits are bundled)"
        case .mnist, .fashionMNIST:
            return "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (or .gz)"
        case .cifar10: return "data_batch_1.bin ... data_batch_5.bin and test_batch.bin (cifar-10-batches-bin)"
        }
    }

    /// Number of classes (10 for all four).
    var classes: Int { 10 }

    /// Loads one split. Missing directories and files are reported as ``CLIError``s naming what
    /// was expected; malformed files as the reader's ``DataError``, naming the file.
    func load(_ split: Split, directory: String?) throws -> TensorDataset {
        switch self {
        case .digits:
            return try Digits.load(split)
        case .mnist, .fashionMNIST, .cifar10:
            guard let directory else {
                throw CLIError("--dataset \(rawValue) needs --data-dir DIR holding \(expectedFiles)")
            }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("data directory '\(directory)' does not exist or is not a directory (--dataset \(rawValue) expects \(expectedFiles))")
            }
            let url = URL(fileURLWithPath: directory)
            let data: TensorDataset
            do {
                if self == .cifar10 {
                    let files = CIFAR10.fileNames(split).map { url.appendingPathComponent($0) }
                    try requireFiles(files.map(\.path), alternatives: [])
                    data = try CIFAR10.load(batchFiles: files)
                } else {
                    let names = MNIST.fileNames(split)
                    for name in [names.images, names.labels] {
                        let plain = url.appendingPathComponent(name).path
                        try requireFiles([plain], alternatives: [plain + ".gz"])
                    }
                    data = try MNIST.load(directory: url, split: split)
                }
            } catch let e as DataError {
                throw CLIError("malformed \(rawValue) data: \(e)")
            }
            guard data.count > 0 else { throw CLIError("the \(split.rawValue) split of \(directory) has no examples") }
            return data
        }
    }

    private func requireFiles(_ paths: [String], alternatives: [String]) throws {
        let fm = FileManager.default
        for (i, path) in paths.enumerated() where !fm.fileExists(atPath: path) {
            if i < alternatives.count, fm.fileExists(atPath: alternatives[i]) { continue }
            throw CLIError("missing \(rawValue) file '\(path)'\(alternatives.isEmpty ? "" : " (or .gz)"); --data-dir must hold \(expectedFiles)")
        }
    }
}

/// The train and test splits of a data set.
struct DataSplits {
    let train: TensorDataset
    let test: TensorDataset

    /// Loads both splits, keeping the first `limit` examples of each when given.
    init(_ dataset: DatasetChoice, directory: String?, limit: Int? = nil) throws {
        let train = try dataset.load(.train, directory: directory)
        let test = try dataset.load(.test, directory: directory)
        self.train = limit.map { train.subset(Array(0..<min($0, train.count))) } ?? train
        self.test = limit.map { test.subset(Array(0..<min($0, test.count))) } ?? test
        guard train.exampleShape == test.exampleShape else {
            throw CLIError("train images are \(train.exampleShape) but test images are \(test.exampleShape)")
        }
    }

    /// Splits given as tensors (`--train-x/--train-y` arrays); the examples must have one shape.
    init(train: TensorDataset, test: TensorDataset) throws {
        guard train.exampleShape == test.exampleShape else {
            throw CLIError("train inputs are \(train.exampleShape) per example but test inputs are \(test.exampleShape)")
        }
        self.train = train
        self.test = test
    }

    /// One input example's shape, `[C, H, W]`.
    var inputShape: [Int] { train.exampleShape }
}
