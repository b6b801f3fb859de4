import ArgumentParser
import Foundation
import IntegerInference
import NN
import TensorEngine

/// `brevitas deploy`: the integer program of a trained model as dependency-free C99.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Write a trained model's integer program as dependency-free C99 (no heap, integer arithmetic).",
        discussion: """
            Writes into --out: model.h and model.c (integer weights as arrays, requantization \
            constants, one function `model_run` taking input codes and returning output codes or \
            accumulators), main.c (reads input codes from a binary file and prints one predicted class \
            per line), README.md (the integer formulas and the program), model.json (every layer's \
            integer constants), test_inputs.bin (input codes of the first --examples test examples) \
            and expected.txt (the classes the integer executor predicts for them). Compile with \
            `cc -std=c99 -O2 -Wall -Wextra -Werror -o model main.c model.c`. The folder appears whole \
            or not at all; an existing non-empty folder is not overwritten.
            """)

    @OptionGroup var model: ModelArguments

    @Option(help: ArgumentHelp("Output folder (must not exist, or be empty).", valueName: "dir"), completion: .directory)
    var out: String

    @Option(help: ArgumentHelp("Test examples written to test_inputs.bin.", valueName: "n"))
    var examples = 100

    func validate() throws {
        if examples < 1 { throw ValidationError("--examples must be >= 1, got \(examples)") }
    }

    func run() throws { print(try deploy()) }

    /// Writes the folder; returns the summary printed.
    func deploy() throws -> String {
        let program: IntegerProgram, inputs: Tensor, title: String
        if GraphRun.isGraphRun(model.checkpoint) {
            let (q, config) = try GraphRun.load(URL(fileURLWithPath: model.checkpoint))
            program = try GraphRun.integerProgram(q, config)
            inputs = try GraphRun.integerInputs(config, dataset: model.dataset, dataDir: model.dataDir, split: .test).inputs
            title = "the graph-quantized \(config.quantize.summary) of \(config.source)"
        } else {
            let loaded = try model.load(split: .test)
            guard loaded.kind == .quantized else {
                throw CLIError("'\(loaded.checkpoint.path)' is a float checkpoint: it has no integer program; deploy a quantized one (model.safetensors)")
            }
            program = try IntegerProgramLoader.lower(loaded.model, spec: loaded.config.model)
            (inputs, title) = (loaded.data.inputs, loaded.config.model.summary)
        }
        let n = min(examples, inputs.shape[0])
        let codes = program.inputCodes(inputs.narrow(dim: 0, start: 0, length: n))
        let predicted = program.predictions(IntegerExecutor.run(program, input: codes))
        var files = try Deployment.files(program, title: title)
        files["test_inputs.bin"] = Deployment.inputFile(codes, grid: program.inputGrid)
        files["expected.txt"] = Data((predicted.map(String.init).joined(separator: "\n") + "\n").utf8)
        let dir = URL(fileURLWithPath: out)
        try AtomicFolder.write(files, to: dir)
        return "wrote \(files.count) files to \(dir.path): model.h, model.c, main.c, README.md, model.json, test_inputs.bin (\(n) examples), expected.txt\n"
            + "build: cc -std=c99 -O2 -Wall -Wextra -Werror -o model main.c model.c && ./model test_inputs.bin"
    }
}

/// Writes a folder of files whole or not at all (``AtomicWrite/folder(_:_:)``).
enum AtomicFolder {
    static func write(_ files: [String: Data], to dir: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue, (try? fm.contentsOfDirectory(atPath: dir.path))?.isEmpty == true else {
                throw CLIError("'\(dir.path)' already exists and is not an empty folder; choose another --out or remove it")
            }
        }
        try AtomicFile.prepareDirectory(dir.deletingLastPathComponent())
        do {
            try AtomicWrite.folder(dir) { tmp in
                for (name, data) in files.sorted(by: { $0.key < $1.key }) { try AtomicWrite.write(data, to: tmp.appendingPathComponent(name)) }
            }
        } catch let e as AtomicWriteError {
            throw CLIError(e.description)
        }
    }
}
