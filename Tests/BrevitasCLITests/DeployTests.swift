import Foundation
import IntegerInference
import NN
import Testing
import TestSupport

@testable import BrevitasCLI

/// `brevitas deploy`: the generated C, compiled by the system compiler with the strictest flags,
/// computes the integer executor's outputs bit for bit.
@Suite(.serialized) struct DeployTests {
    @Test(.enabled(if: StrictC.isAvailable), arguments: ["lenet", "resnet8"])
    func generatedCAgreesWithTheExecutorBitForBit(arch: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try VerifyTests.train(arch, in: dir)
        let out = dir.appendingPathComponent("deploy")
        _ = try DeployCommand.parse([run.path, "--out", out.path, "--examples", "60"]).deploy()
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out.path))
                == ["model.h", "model.c", "main.c", "README.md", "model.json", "test_inputs.bin", "expected.txt"])
        let build = try StrictC.build(["main.c", "model.c"], output: "model", in: out)
        #expect(build.status == 0, "\(build.output)")
        guard build.status == 0 else { return }

        // The executor on the same codes, and the C program's outputs.
        let config = try RunConfig.load(run.appendingPathComponent("config.json"))
        let (model, _) = try Checkpoint.loadModel(run.appendingPathComponent("model.safetensors"), spec: config.model)
        let program = try IntegerLowering.lower(model, inputShape: config.model.inputShape)
        let data = try config.dataset.load(.test, directory: nil)
        let codes = program.inputCodes(data.inputs.narrow(dim: 0, start: 0, length: 60))
        #expect(Deployment.inputFile(codes, grid: program.inputGrid) == (try Data(contentsOf: out.appendingPathComponent("test_inputs.bin"))))
        let expected = IntegerExecutor.run(program, input: codes)
        let outputs = try runProcess(out.appendingPathComponent("model").path, ["-o", "test_inputs.bin"], in: out)
        #expect(outputs.status == 0)
        let got = outputs.stdout.split(separator: "\n").map { $0.split(separator: " ").map { Int64($0)! } }
        #expect(got.count == 60)
        #expect(got.flatMap { $0 } == expected.data)
        let classes = try runProcess(out.appendingPathComponent("model").path, ["test_inputs.bin"], in: out)
        #expect(classes.stdout == (try String(contentsOf: out.appendingPathComponent("expected.txt"), encoding: .utf8)))
        #expect(classes.stdout.split(separator: "\n").map { Int($0)! } == program.predictions(expected))

        // An existing folder with files is never overwritten.
        #expect(throws: CLIError.self) { try DeployCommand.parse([run.path, "--out", out.path]).deploy() }
        let line = try EvalCommand.parse([run.path, "--integer"]).evaluate()
        #expect(line.contains("integer program of \(arch) w4 a4 in8 on digits test: accuracy"), "\(line)")
    }
}
