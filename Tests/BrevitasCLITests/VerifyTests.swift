import Foundation
import NN
import Testing
import TestSupport

@testable import BrevitasCLI

/// `brevitas verify` on runs of each architecture: the integer program against the trained model.
@Suite(.serialized) struct VerifyTests {
    static func train(_ arch: String, in dir: URL) throws -> URL {
        let out = dir.appendingPathComponent(arch)
        _ = try CapturedRun(["--arch", arch, "--epochs", "1", "--out", out.path, "--limit", "128", "--batch-size", "32"]).start()
        return out
    }

    @Test(arguments: ["lenet", "mlp", "resnet8"])
    func integerProgramAgreesWithTheTrainedModel(arch: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try Self.train(arch, in: dir)
        let (text, passed) = try VerifyCommand.parse([run.path, "--limit", "100"]).report()
        #expect(passed, "\(text)")
        let last = text.split(separator: "\n").last.map(String.init) ?? ""
        #expect(try Regex(#"100 of 100 predictions agree; (\d+) of (\d+) integer codes agree"#).wholeMatch(in: last) != nil, "\(last)")
        #expect(text.contains("layer by layer: "))
    }

    @Test func aFloatCheckpointHasNoIntegerProgram() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run")
        _ = try CapturedRun(["--epochs", "1", "--float-epochs", "1", "--out", out.path, "--limit", "64"]).start()
        #expect(throws: CLIError.self) { try VerifyCommand.parse([out.appendingPathComponent("float.safetensors").path]).report() }
    }
}

/// `--accumulator-bits`: overflow counts in eval, the accumulator table of inspect, and verify's refusal.
@Suite(.serialized) struct AccumulatorCLITests {
    @Test func narrowAccumulatorsAreCountedAndReported() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try VerifyTests.train("lenet", in: dir)
        let eval = try EvalCommand.parse([run.path, "--accumulator-bits", "6"]).evaluate()
        #expect(eval.contains("simulated accumulators: ") && eval.contains("1 (QuantConv2d): "), "\(eval)")
        #expect(!eval.contains("simulated accumulators: 0 overflows"), "\(eval)")
        let wide = try EvalCommand.parse([run.path, "--accumulator-bits", "40"]).evaluate()
        #expect(wide.contains("simulated accumulators: 0 overflows in all"), "\(wide)")
        let inspect = try InspectCommand.parse([run.path, "--accumulator-bits", "6", "--batch", "32"]).report()
        #expect(inspect.contains("Accumulators (widths in signed bits") && inspect.contains("overflows @6 bits"), "\(inspect)")
        #expect(throws: CLIError.self) { try VerifyCommand.parse([run.path, "--accumulator-bits", "6"]).report() }
    }
}

/// `brevitas run RUN --integer`: the integer program's outputs (times their scale) as .npy.
@Suite(.serialized) struct RunIntegerTests {
    @Test func integerOutputsMatchTheFakeQuantizedModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try VerifyTests.train("lenet", in: dir)
        let data = try DatasetChoice.digits.load(.test, directory: nil)
        let x = dir.appendingPathComponent("x.npy"), yf = dir.appendingPathComponent("yf.npy"), yi = dir.appendingPathComponent("yi.npy")
        try NumPy.write(data.inputs.narrow(dim: 0, start: 0, length: 40), to: x)
        _ = try RunCommand.parse([run.path, "--input", x.path, "--out", yf.path]).execute()
        let lines = try RunCommand.parse([run.path, "--integer", "--input", x.path, "--out", yi.path, "--expect", yf.path]).execute()
        #expect(lines.contains { $0.hasPrefix("  matches ") }, "\(lines)")
        let (a, b) = (try NumPy.readTensor(yf), try NumPy.readTensor(yi))
        #expect(a.shape == [40, 10] && b.shape == [40, 10])
        #expect(throws: (any Error).self) { try RunCommand.parse(["m.onnx", "--integer", "--input", x.path, "--out", yi.path]) }
    }
}

/// `verify --onnx`: ONNX Runtime on the QCDQ export, with and without its fusions, against the integer program.
@Suite(.serialized) struct VerifyONNXTests {
    @Test(.enabled(if: (try? ONNXRuntimeCheck.python()) != nil, "no Python with onnxruntime (scripts/setup-onnx-venv.sh)"))
    func onnxRuntimeAgreesWithTheIntegerProgram() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try VerifyTests.train("resnet8", in: dir)
        let (text, passed) = try VerifyCommand.parse([run.path, "--limit", "50", "--onnx"]).report()
        #expect(passed, "\(text)")
        for name in ["default optimisations (fused integer kernels)", "no optimisations"] {
            let line = text.split(separator: "\n").first { $0.contains("ONNX Runtime, \(name): ") }
            #expect(line?.contains(": 50 of 50 predictions agree with the integer program") == true, "\(text)")
        }
    }
}
