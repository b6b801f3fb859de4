import Foundation
import NN
import TensorEngine
import Testing
import TestSupport

@testable import BrevitasCLI

/// The message the `brevitas` command prints for arguments that fail to parse or validate.
func parseError(_ arguments: [String]) -> String? {
    do {
        _ = try Brevitas.parseAsRoot(arguments)
        return nil
    } catch {
        return Brevitas.message(for: error)
    }
}

/// A `brevitas train` run from command-line arguments, with its output captured.
final class CapturedRun {
    let run: TrainRun
    private let box: TextBox

    /// `stopAfterBatches`: the interrupt flag is raised after that many checks (one per batch).
    init(_ arguments: [String], stopAfterBatches: Int? = nil) throws {
        let command = try TrainCommand.parse(arguments)
        let box = TextBox()
        self.box = box
        run = TrainRun(options: command.options, progress: Progress(live: false, write: { box.text += $0 }),
                       print: { box.text += $0 + "\n" })
        if let limit = stopAfterBatches {
            var checks = 0
            run.shouldStop = {
                checks += 1
                return checks > limit
            }
        }
    }

    /// Everything the run printed.
    var output: String { box.text }

    func start() throws -> TrainRun.Outcome { try run.run() }
}

final class TextBox { var text = "" }

/// Writes a tiny MNIST-format data set: `train` and `test` images of `side`x`side` pixels with
/// labels cycling through 0...9 (IDX files, as distributed but uncompressed).
func writeMNIST(to dir: URL, train: Int, test: Int, side: Int = 28, seed: UInt64 = 1) throws {
    let g = RandomGenerator(seed: seed)
    for (prefix, n) in [("train", train), ("t10k", test)] {
        var images = idxHeader(type: 0x08, shape: [n, side, side])
        var labels = idxHeader(type: 0x08, shape: [n])
        for i in 0..<n {
            let label = i % 10
            labels.append(UInt8(label))
            // A bright bar whose position encodes the label, on noise: learnable in a few steps.
            for y in 0..<side {
                for x in 0..<side {
                    let bar = x * 10 / side == label
                    images.append(bar ? 200 + UInt8(g.nextInt(55)) : UInt8(g.nextInt(40)))
                }
            }
        }
        try Data(images).write(to: dir.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
        try Data(labels).write(to: dir.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
    }
}

func idxHeader(type: UInt8, shape: [Int]) -> [UInt8] {
    var out: [UInt8] = [0, 0, type, UInt8(shape.count)]
    for d in shape { out += withUnsafeBytes(of: UInt32(d).bigEndian, Array.init) }
    return out
}

/// Writes a tiny CIFAR-10 binary data set: `perBatch` records in each of the five training
/// batches and in the test batch.
func writeCIFAR10(to dir: URL, perBatch: Int, seed: UInt64 = 2) throws {
    let g = RandomGenerator(seed: seed)
    for name in CIFAR10.fileNames(.train) + CIFAR10.fileNames(.test) {
        var bytes: [UInt8] = []
        for i in 0..<perBatch {
            let label = i % 10
            bytes.append(UInt8(label))
            for c in 0..<3 {
                for _ in 0..<(32 * 32) { bytes.append(UInt8(min(255, g.nextInt(60) + (c == label % 3 ? label * 20 : 0)))) }
            }
        }
        try Data(bytes).write(to: dir.appendingPathComponent(name))
    }
}

/// The decoded `metrics.json` of a run folder.
func readMetrics(_ dir: URL) throws -> RunMetrics {
    try JSONDecoder().decode(RunMetrics.self, from: Data(contentsOf: dir.appendingPathComponent("metrics.json")))
}

/// Files of a folder, hidden ones included.
func files(in dir: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
}
