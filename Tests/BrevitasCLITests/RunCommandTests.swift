import Foundation
import NN
import TensorEngine
import Testing
import TestSupport

@testable import BrevitasCLI

/// `brevitas run` and `brevitas inspect` on ONNX models of `../shared/zoo`.
@Suite struct RunCommandTests {
    /// `../shared/zoo` (or `../../shared/zoo` from a worktree), `nil` when absent.
    static let zoo: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for up in [root.deletingLastPathComponent(), root.deletingLastPathComponent().deletingLastPathComponent()] {
            let url = up.appendingPathComponent("shared/zoo")
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("README.md").path) { return url }
        }
        return nil
    }()

    @Test(.enabled(if: zoo != nil, "skipped: ../shared/zoo is absent"))
    func runWritesTheRecordedOutput() throws {
        let zoo = try #require(Self.zoo)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("y.npy")
        let command = try RunCommand.parse([zoo.appendingPathComponent("resnet.onnx").path, "--input",
                                            zoo.appendingPathComponent("resnet.input.npy").path, "--out", out.path])
        #expect(try command.execute() == ["wrote \(out.path): float32 [2, 10]"])
        let y = try NumPy.readTensor(out), expected = try NumPy.readTensor(zoo.appendingPathComponent("resnet.output.npy"))
        let diff = zip(y.scalars, expected.scalars).map { abs($0 - $1) }.max()!
        #expect(diff <= 1e-4 * max(1, expected.abs().max().item()))
        // --expect compares with a reference under the zoo's tolerance.
        let checked = try RunCommand.parse([zoo.appendingPathComponent("resnet.onnx").path, "--input", zoo.appendingPathComponent("resnet.input.npy").path,
                                            "--out", out.path, "--expect", zoo.appendingPathComponent("resnet.output.npy").path])
        let lines = try checked.execute()
        #expect(lines.count == 2 && lines[1].hasPrefix("  matches \(zoo.appendingPathComponent("resnet.output.npy").path): max |diff| "))
        let wrong = dir.appendingPathComponent("wrong.npy")
        try NumPy.write(expected + 0.01, to: wrong)
        let failing = try RunCommand.parse([zoo.appendingPathComponent("resnet.onnx").path, "--input", zoo.appendingPathComponent("resnet.input.npy").path,
                                            "--out", out.path, "--expect", wrong.path])
        #expect(throws: CLIError.self) { try failing.execute() }
    }

    @Test(.enabled(if: zoo != nil, "skipped: ../shared/zoo is absent"))
    func dataThatDoesNotFitNamesBothShapes() throws {
        let zoo = try #require(Self.zoo)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.npy")
        try NumPy.write(Tensor.zeros([2, 3, 20, 20]), to: x)
        let command = try RunCommand.parse([zoo.appendingPathComponent("resnet.onnx").path, "--input", x.path, "--out", dir.appendingPathComponent("y.npy").path])
        #expect(throws: CLIError("\(zoo.appendingPathComponent("resnet.onnx").path): graph input 'input': the data has shape [2, 3, 20, 20], the model expects [2, 3, 16, 16]")) {
            try command.execute()
        }
        let twice = try RunCommand.parse([zoo.appendingPathComponent("resnet.onnx").path, "--input", x.path, "--input", x.path, "--out", "y.npy"])
        #expect(throws: CLIError("the model has 1 input(s) (input), --input was given 2 time(s)")) { try twice.execute() }
        #expect(throws: CLIError.self) { try RunCommand.parse(["m.onnx", "--input", dir.appendingPathComponent("absent.npy").path, "--out", "y.npy"]).execute() }
    }

    @Test(.enabled(if: zoo != nil, "skipped: ../shared/zoo is absent"))
    func inspectPrintsTheImportedGraph() throws {
        let zoo = try #require(Self.zoo)
        let text = try InspectCommand.parse([zoo.appendingPathComponent("lenet.onnx").path]).report()
        #expect(text.contains("ONNX opset 13"))
        #expect(text.contains("  input  input: float32 [2, 1, 28, 28]"))
        #expect(text.contains("(c1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"))
        #expect(text.contains("graph(input):\n  c1 = c1(input)"))
        #expect(parseError(["run", "m.onnx"]) == "give the model's input with --input X.npy")
    }

    @Test func runsARunFolderOfBrevitasTrain() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        _ = try CapturedRun(["--epochs", "1", "--limit", "64", "--out", out.path]).start()
        let (file, config) = try InspectCommand.parse([out.path]).model.resolve()
        let x = RandomGenerator(seed: 2).normal([3] + config.model.inputShape)
        let xFile = dir.appendingPathComponent("x.npy"), yFile = dir.appendingPathComponent("y.npy")
        try NumPy.write(x, to: xFile)
        let lines = try RunCommand.parse([out.path, "--input", xFile.path, "--out", yFile.path]).execute()
        let (model, _) = try Checkpoint.loadModel(file, spec: config.model)
        model.eval()
        let expected = try Autograd.noGrad { try model(x) }
        #expect(lines == ["wrote \(yFile.path): float32 \(expected.shape)"])
        #expect(try NumPy.readTensor(yFile).isEqual(to: expected))
        try NumPy.write(Tensor.zeros([2, 5]), to: xFile)
        #expect(throws: CLIError("\(xFile.path) has shape [2, 5], the model takes [N] + \(config.model.inputShape)")) {
            try RunCommand.parse([out.path, "--input", xFile.path, "--out", yFile.path]).execute()
        }
    }
}
