import Foundation
import Graph
import GraphQuant
import NN
import TensorEngine
import Testing

@testable import BrevitasCLI

/// `brevitas quantize` end to end on a small float CNN (conv, BatchNorm, ReLU, max pool,
/// flatten, linear) with the digits as calibration and test data, and the commands that read
/// its run folder.
@Suite(.serialized)
struct QuantizeCommandTests {
    /// A fresh folder holding the model and data (`writeDigitsPTQFolder`).
    static func workspace() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quantize-\(UUID().uuidString)")
        try writeDigitsPTQFolder(dir)
        return dir
    }

    /// Runs `brevitas quantize` with `arguments` (after MODEL) in `dir`; returns the result and what it printed.
    static func quantize(_ dir: URL, _ arguments: [String], out: String = "run",
                         shouldStop: (() -> Bool)? = nil) throws -> (QuantizeRun.Result, String) {
        let command = try QuantizeCommand.parse([dir.appendingPathComponent("float.onnx").path, "--calib", dir.appendingPathComponent("calib.npy").path,
                                                 "--out", dir.appendingPathComponent(out).path] + arguments)
        let box = TextBox()
        let run = QuantizeRun(model: command.model, calib: command.calib, test: command.test, labels: command.labels,
                              settings: try command.settings(), out: command.out, progress: Progress(live: false, write: { box.text += $0 }),
                              print: { box.text += $0 + "\n" })
        if let shouldStop { run.shouldStop = shouldStop }
        return (try run.execute(), box.text)
    }

    static func withTest(_ dir: URL) -> [String] {
        ["--test", dir.appendingPathComponent("test_x.npy").path, "--labels", dir.appendingPathComponent("test_y.npy").path]
    }

    @Test func quantizeWritesARunFolderThatEvalInspectAndRunRead() throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, printed) = try Self.quantize(dir, Self.withTest(dir))
        let folder = dir.appendingPathComponent("run")
        for file in ["model.safetensors", "config.json", "float.onnx", "report.json", "report.txt"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "missing \(file)")
        }
        // Stages in Brevitas's order, each timed and printed as it ends.
        #expect(result.report.stages.map(\.name) == ["preprocess", "quantize", "calibrate"])
        #expect(result.report.stages[0].detail == "1 BatchNorm merged")
        #expect(result.report.stages[2].detail == "2 batches of 64 (128 examples)")
        #expect(printed.contains("calibrate") && printed.contains(" ms "))
        // The quantization points: input, ReLU, output requantizer, weights and biases, with scales.
        let keys = result.report.quantPoints.map(\.key)
        #expect(keys == ["bias of conv1", "bias of fc", "output of fc", "output of input", "output of relu1",
                         "weight of conv1", "weight of fc"])
        let relu = try #require(result.report.quantPoints.first { $0.key == "output of relu1" })
        #expect(relu.bitWidth == 8 && relu.signed == false && relu.scale?.count == 1 && relu.calls == 1)
        // 8-bit weights: the weight SQNR of a uniform weight is about 6.02·8 + 4.77 − 10·log10(3·(max/rms)²/3) ≈ 45 dB.
        #expect(result.report.layers.map(\.layer) == ["conv1", "fc"])
        for layer in result.report.layers {
            let w = try #require(layer.weightSQNR)
            #expect(w > 35 && w < 55, "\(layer.layer): weight SQNR \(w)")
            #expect((layer.outputSQNR ?? 0) > 20, "\(layer.layer): output SQNR \(layer.outputSQNR ?? .nan)")
        }
        let accuracy = try #require(result.report.accuracy)
        #expect(accuracy.examples == 360)
        // A float model trained to ~90%: 8 bits change at most a few predictions.
        #expect(accuracy.floatCorrect > 300)
        #expect(abs(accuracy.floatCorrect - accuracy.quantizedCorrect) <= 4)

        // The folder rebuilds into the same model: `run` gives its outputs bit for bit.
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        let (loaded, config) = try GraphRun.load(folder)
        #expect(config.inputShape == [1, 8, 8] && config.input == "input")
        let again = try loaded.output(x)
        let direct = try result.model.output(x)
        #expect(again.scalars == direct.scalars)
        // eval reads it (its recorded test data) and agrees with the report.
        let line = try EvalCommand.parse([folder.path]).evaluate()
        #expect(line.contains("(\(accuracy.quantizedCorrect)/360)"), "\(line)")
        // inspect shows the points and the error table.
        let inspected = try InspectCommand.parse([folder.path]).report()
        #expect(inspected.contains("output of relu1") && inspected.contains("weight SQNR dB"))
        // run writes the outputs.
        let yURL = dir.appendingPathComponent("y.npy")
        _ = try RunCommand.parse([folder.path, "--input", dir.appendingPathComponent("test_x.npy").path, "--out", yURL.path]).execute()
        #expect(try NumPy.readTensor(yURL).scalars == direct.scalars)
        // Both ONNX exports are in the folder (dynamic batch); export writes them again on demand.
        #expect(result.exports.map(\.file) == ["model.qcdq.onnx", "model.qonnx.onnx"])
        #expect(result.exports.allSatisfy { $0.problem == nil }, "\(result.exports)")
        for file in ["model.qcdq.onnx", "model.qonnx.onnx"] {
            let size = (try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(file).path)[.size] as? Int) ?? 0
            #expect(size > 1000, "\(file): \(size) bytes")
        }
        let exported = try ExportCommand.parse([folder.path, "--format", "qonnx", "--output", dir.appendingPathComponent("m.onnx").path]).export()
        #expect(exported.contains("QONNX of the graph-quantized model"), "\(exported)")
        // verify takes a graph run too (GraphIntegerCommandTests has the details).
        #expect(try VerifyCommand.parse([folder.path]).report().1)
    }

    /// The zoo's models fix the batch size (2) and one keeps its weights in an external data
    /// file: calibration runs in batches of that size and the folder carries the data file.
    @Test(.enabled(if: RunCommandTests.zoo != nil, "skipped: ../shared/zoo is absent"), arguments: ["resnet_dynamo", "transformer"])
    func zooModelsQuantize(_ name: String) throws {
        let zoo = try #require(RunCommandTests.zoo)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quantize-zoo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = zoo.appendingPathComponent("\(name).input.npy")
        let box = TextBox()
        let run = QuantizeRun(model: zoo.appendingPathComponent("\(name).onnx").path, calib: input.path, test: nil, labels: nil,
                              settings: QuantizeSettings(), out: dir.path, progress: Progress(live: false, write: { box.text += $0 }),
                              print: { box.text += $0 + "\n" })
        let result = try run.execute()
        #expect(box.text.contains("note: the model fixes the batch size to 2"), "\(box.text)")
        #expect(result.exports.allSatisfy { $0.problem == nil }, "\(result.exports)")
        if name == "resnet_dynamo" {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("resnet_dynamo.onnx.data").path))
        }
        let x = try NumPy.readTensor(input)
        #expect(try GraphRun.output(dir.path, input: x, file: input.path).scalars == (try result.model.output(x)).scalars)
        // Batches the model cannot take are an error, not a crash.
        let three = Tensor.cat([x, x.narrow(dim: 0, start: 0, length: 1)], dim: 0)
        #expect(throws: CLIError.self) { _ = try GraphRun.output(dir.path, input: three, file: "three.npy") }
    }

    @Test func optionsChangeTheQuantizers() throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, _) = try Self.quantize(dir, ["--weight-bits", "4", "--act-bits", "6", "--per-channel",
                                                  "--override", "fc:bits=8", "--override", "relu1:bit_width=5"])
        let points = Dictionary(uniqueKeysWithValues: result.report.quantPoints.map { ($0.key, $0) })
        #expect(points["weight of conv1"]?.bitWidth == 4)
        #expect(points["weight of conv1"]?.scale?.count == 8)   // per output channel
        #expect(points["weight of fc"]?.bitWidth == 8)
        #expect(points["weight of fc"]?.scale?.count == 10)
        #expect(points["output of relu1"]?.bitWidth == 5)
        #expect(points["output of input"]?.bitWidth == 6)
        #expect(points["output of input"]?.signed == true)
        // No test data: the error table runs on the first calibration batch.
        #expect(result.report.accuracy == nil)
        #expect(result.report.sample.contains("calibration batch"))

        // Layerwise: each layer quantizes its own input; activations stay float.
        let (lw, _) = try Self.quantize(dir, ["--layerwise"], out: "lw")
        #expect(lw.report.quantPoints.map(\.key).sorted() == ["bias of conv1", "bias of fc", "input of conv1", "input of fc", "weight of conv1", "weight of fc"])
    }

    @Test func stagesRunInBrevitasOrder() throws {
        var s = QuantizeSettings()
        (s.gptq, s.gpfq, s.biasCorrection) = (true, true, true)
        #expect(QuantizePipeline.stages(s).map(\.name) == ["preprocess", "quantize", "calibrate", "gpfq", "gptq", "bias correction"])
        #expect(QuantizePipeline.stages(QuantizeSettings()).map(\.name) == ["preprocess", "quantize", "calibrate"])
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, _) = try Self.quantize(dir, ["--gptq", "--bias-correction"] + Self.withTest(dir))
        #expect(result.report.stages.map(\.name) == ["preprocess", "quantize", "calibrate", "gptq", "bias correction"])
        // The bias-corrected, GPTQ-updated folder rebuilds to the same outputs.
        let x = try NumPy.readTensor(dir.appendingPathComponent("test_x.npy"))
        #expect(try GraphRun.load(dir.appendingPathComponent("run")).model.output(x).scalars == (try result.model.output(x)).scalars)
    }

    @Test func badInputNamesTheProblem() throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        func message(_ args: [String], calib: String? = nil) -> String {
            do {
                var all = args
                if let calib { all = ["--calib", calib] + all }
                _ = try Self.quantize(dir, all)
                return ""
            } catch let e as CLIError {
                return e.message
            } catch {
                return "\(error)"
            }
        }
        let unknown = message(["--override", "fc2:bits=4"])
        #expect(unknown.contains("'fc2'") && unknown.contains("layers: conv1, relu1, fc"), "\(unknown)")
        let perChannel = message(["--override", "relu1:per_channel=true"])
        #expect(perChannel.contains("'relu1'") && perChannel.contains("per-channel"), "\(perChannel)")
        // Calibration data of the wrong shape: both shapes.
        let wrong = dir.appendingPathComponent("wrong.npy")
        try NumPy.write(Tensor.zeros([16, 1, 9, 9]), to: wrong)
        let shape = message([], calib: wrong.path)
        #expect(shape.contains("[16, 1, 9, 9]") && shape.contains("[N, 1, 8, 8]"), "\(shape)")
        // Labels that do not match the test inputs.
        let fewLabels = dir.appendingPathComponent("few.npy")
        try NumPy.write(NumPyArray(shape: [3], values: .int64([0, 1, 2])), to: fewLabels)
        let labels = message(["--test", dir.appendingPathComponent("test_x.npy").path, "--labels", fewLabels.path])
        #expect(labels.contains("3 entries") && labels.contains("360"), "\(labels)")
        // A malformed override and options that need another.
        #expect(parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o", "--override", "fc=4"])?.contains("LAYER:key=value") == true)
        #expect(parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o", "--act-order"])?.contains("--act-order needs --gptq") == true)
        #expect(parseError(["quantize", "m.onnx", "--calib", "c.npy", "--out", "o", "--weight-bits", "1"])?.contains("--weight-bits must be in 2...16") == true)
        // Nothing was written by the failed runs.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run").path))
    }

    @Test func anInterruptedQuantizeLeavesNoFolder() throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        var checks = 0
        #expect(throws: QuantizeInterrupted.self) {
            _ = try Self.quantize(dir, [], shouldStop: {
                checks += 1
                return checks > 4   // during calibration
            })
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!left.contains("run") && !left.contains { $0.contains("partial") }, "\(left)")
        // A failure while writing removes the temporary folder and leaves `out` absent.
        let out = dir.appendingPathComponent("half")
        #expect(throws: CLIError.self) {
            try GraphRun.writeAtomically(out) { tmp in
                try Data("{}".utf8).write(to: tmp.appendingPathComponent("config.json"))
                throw CLIError("disk full")
            }
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!after.contains("half") && !after.contains { $0.contains("partial") }, "\(after)")
        // An existing folder that is not a run is not replaced.
        let other = dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: other.appendingPathComponent("notes.txt"))
        #expect(throws: CLIError.self) { _ = try Self.quantize(dir, [], out: "other") }
        #expect(try String(contentsOf: other.appendingPathComponent("notes.txt"), encoding: .utf8) == "keep")
    }

    @Test func trainFineTunesAQuantizeRun() throws {
        let dir = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, _) = try Self.quantize(dir, ["--weight-bits", "4", "--act-bits", "4"] + Self.withTest(dir))
        let before = try #require(result.report.accuracy).quantized
        let out = dir.appendingPathComponent("tuned")
        let command = try TrainCommand.parse(["--from", dir.appendingPathComponent("run").path, "--epochs", "3", "--out", out.path,
                                              "--train-x", dir.appendingPathComponent("train_x.npy").path,
                                              "--train-y", dir.appendingPathComponent("train_y.npy").path])
        let box = TextBox()
        let run = GraphTrainRun(options: .init(from: command.from!, dataset: command.dataset, dataDir: nil, trainX: command.trainX, trainY: command.trainY,
                                               testX: nil, testY: nil, epochs: 3, batchSize: 32, learningRate: 0.001, optimizer: .adam,
                                               seed: 0, limit: nil, out: out.path),
                                progress: Progress(live: false, write: { box.text += $0 }), print: { box.text += $0 + "\n" })
        let after = try #require(try run.run())
        // QAT recovers what 4-bit post-training quantization lost.
        #expect(after > 0.85 && after > before, "before \(before), after \(after)\n\(box.text)")
        // The new folder is a graph run that eval reads, with the same accuracy.
        let line = try EvalCommand.parse([out.path]).evaluate()
        #expect(line.contains(percent(after)), "\(line)")
        let config = try GraphRunConfig.load(out.appendingPathComponent("config.json"))
        #expect(config.training?.epochs == 3)
        // --from with options of the other kind of training is refused.
        #expect(parseError(["train", "--from", "r", "--float-epochs", "2"])?.contains("--float-epochs does not apply") == true)
        #expect(parseError(["train", "--train-x", "x.npy", "--train-y", "y.npy"])?.contains("add --from RUN") == true)
    }
}
