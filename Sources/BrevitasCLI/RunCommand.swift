import ArgumentParser
import Foundation
import Graph
import IntegerInference
import NN
import ONNXImport
import TensorEngine

/// `brevitas run`: a model on inputs from `.npy` files, outputs to `.npy` files.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a float ONNX model (or a run folder / checkpoint) on .npy inputs and write the outputs as .npy.",
        discussion: """
            MODEL is an .onnx file (float models from PyTorch's TorchScript or dynamo exporter, opsets \
            13 to 21, weights inline or in external data files beside it) or a run folder / checkpoint \
            of `brevitas train`. Give one --input per model input, in order (or as NAME=FILE), and one \
            --out per output. The model runs in eval mode, in float32; the ONNX graph is specialised to \
            the input shapes. Example: brevitas run resnet.onnx --input x.npy --out y.npy
            """)

    @OptionGroup var model: ModelArguments

    @Option(name: .customLong("input"), help: ArgumentHelp("An input .npy file (repeat for several inputs; NAME=FILE to name the ONNX input).", valueName: "file"))
    var inputs: [String] = []

    @Option(name: .customLong("out"), help: ArgumentHelp("Where to write an output .npy file (repeat for several outputs).", valueName: "file"))
    var outputs: [String] = []

    @Option(name: .customLong("expect"), help: ArgumentHelp("A reference .npy per output: fail unless max |ours − reference| ≤ 1e-4·max(1, max |reference|).", valueName: "file"))
    var expected: [String] = []

    @Flag(help: "Run the integer program of a run folder or checkpoint (integer weights, fixed-point requantization, as `brevitas deploy` emits); the output is its integers times their scale.")
    var integer = false

    func validate() throws {
        if integer && model.checkpoint.lowercased().hasSuffix(".onnx") {
            throw ValidationError("--integer runs the integer program of a run folder or checkpoint of `brevitas train`, not an ONNX file")
        }
        if !expected.isEmpty, expected.count != outputs.count {
            throw ValidationError("give one --expect per --out (\(outputs.count)), got \(expected.count)")
        }
        if inputs.isEmpty { throw ValidationError("give the model's input with --input X.npy") }
        if outputs.isEmpty { throw ValidationError("give where to write the output with --out Y.npy") }
    }

    func run() throws {
        for line in try execute() { print(line) }
    }

    /// Runs the model and writes the outputs; returns one summary line per output.
    func execute() throws -> [String] {
        Threads.apply(model.threads)
        let named = try inputs.map { spec -> (name: String?, tensor: Tensor, file: String) in
            var name: String?
            var path = spec
            if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
                name = String(spec[..<eq])
                path = String(spec[spec.index(after: eq)...])
            }
            do {
                return (name, try NumPy.readTensor(URL(fileURLWithPath: path)), path)
            } catch let error as NumPyError {
                throw CLIError(error.description)
            }
        }
        let results: [Tensor]
        if model.checkpoint.lowercased().hasSuffix(".onnx") {
            results = try runONNX(named)
        } else {
            results = try runCheckpoint(named)
        }
        guard results.count == outputs.count else {
            throw CLIError("the model has \(results.count) output(s), --out was given \(outputs.count) time(s)")
        }
        var lines: [String] = []
        for (y, path) in zip(results, outputs) {
            do {
                try NumPy.write(y, to: URL(fileURLWithPath: path))
            } catch let error as NumPyError {
                throw CLIError(error.description)
            }
            lines.append("wrote \(path): float32 \(y.shape)")
        }
        for (y, path) in zip(results, expected) {
            let reference: Tensor
            do {
                reference = try NumPy.readTensor(URL(fileURLWithPath: path))
            } catch let error as NumPyError {
                throw CLIError(error.description)
            }
            guard reference.shape == y.shape else { throw CLIError("\(path) has shape \(reference.shape), the output has \(y.shape)") }
            let diff = zip(y.scalars, reference.scalars).map { abs($0 - $1) }.max() ?? 0
            let bound = 1e-4 * max(1, reference.scalars.map(abs).max() ?? 0)
            guard diff <= bound else { throw CLIError("the output differs from \(path): max |diff| \(diff) > \(bound)") }
            lines.append("  matches \(path): max |diff| \(diff) <= \(bound)")
        }
        return lines
    }

    func runONNX(_ named: [(name: String?, tensor: Tensor, file: String)]) throws -> [Tensor] {
        let url = URL(fileURLWithPath: model.checkpoint)
        // The declared inputs, to map positional --input files to names.
        let declared: [String]
        do {
            declared = try ONNXImporter.inputNames(url)
        } catch let error as ONNXImportError {
            throw CLIError(error.description)
        }
        guard named.count == declared.count else {
            throw CLIError("the model has \(declared.count) input(s) (\(declared.joined(separator: ", "))), --input was given \(named.count) time(s)")
        }
        var byName: [String: (Tensor, String)] = [:]
        for (i, entry) in named.enumerated() {
            let name = entry.name ?? declared[i]
            guard declared.contains(name) else { throw CLIError("--input \(name)=...: the model has no input '\(name)' (inputs: \(declared.joined(separator: ", ")))") }
            guard byName.updateValue((entry.tensor, entry.file), forKey: name) == nil else { throw CLIError("input '\(name)' is given twice") }
        }
        let imported: ImportedModel
        do {
            imported = try ONNXImporter.load(url, inputShapes: byName.mapValues { $0.0.shape })
        } catch let error as ONNXImportError {
            throw CLIError(error.description)
        }
        let graph = imported.graph
        graph.eval()
        return Autograd.noGrad { graph.forward(graph.inputNames.map { byName[$0]!.0 }) }
    }

    func runCheckpoint(_ named: [(name: String?, tensor: Tensor, file: String)]) throws -> [Tensor] {
        guard named.count == 1, named[0].name == nil else { throw CLIError("a checkpoint takes one --input file") }
        if GraphRun.isGraphRun(model.checkpoint) {
            if integer { return [try GraphRun.integerOutput(model.checkpoint, input: named[0].tensor, file: named[0].file)] }
            return [try GraphRun.output(model.checkpoint, input: named[0].tensor, file: named[0].file)]
        }
        let (file, config) = try model.resolve()
        let (network, _) = try Checkpoint.loadModel(file, spec: config.model)
        network.eval()
        let x = named[0].tensor
        guard x.rank == config.model.inputShape.count + 1, Array(x.shape.dropFirst()) == config.model.inputShape else {
            throw CLIError("\(named[0].file) has shape \(x.shape), the model takes [N] + \(config.model.inputShape)")
        }
        guard integer else { return [try Autograd.noGrad { try network(x) }] }
        let program = try IntegerProgramLoader.lower(network, spec: config.model)
        let out = IntegerExecutor.run(program, input: program.inputCodes(x))
        let per = out.perExample
        let values: [Float]
        switch program.output {
        case .codes(let g): values = out.data.map { Float(Double($0 - g.zeroPoint) * g.scale) }
        case .accumulator(let scales, _):
            values = out.data.enumerated().map { i, v in Float(Double(v) * (scales.count == 1 ? scales[0] : scales[i % per])) }
        }
        return [Tensor(shape: out.shape, values)]
    }
}
