import ArgumentParser
import Foundation
import NN
import QuantNN
import Models

/// The arguments shared by `eval`, `inspect` and `export`: a run folder or checkpoint, and
/// overrides for what its `config.json` says (or for a bare checkpoint without one).
struct ModelArguments: ParsableArguments {
    @Argument(help: "A run folder of `brevitas train` (model.safetensors + config.json) or a checkpoint file.",
              completion: .file(extensions: ["safetensors"]))
    var checkpoint: String

    @Option(help: "Architecture, when there is no config.json beside the checkpoint (or to override it).")
    var arch: Architecture?

    @Option(help: ArgumentHelp("Weight bit width (overrides config.json).", valueName: "bits"))
    var weightBits: Int?

    @Option(help: ArgumentHelp("Activation bit width (overrides config.json).", valueName: "bits"))
    var actBits: Int?

    @Option(help: ArgumentHelp("Input quantizer bit width (overrides config.json).", valueName: "bits"))
    var inputBits: Int?

    @Option(help: "Data set (overrides config.json; default digits without one).")
    var dataset: DatasetChoice?

    @Option(help: ArgumentHelp("Folder with the data files (overrides config.json).", valueName: "dir"), completion: .directory)
    var dataDir: String?

    @Option(help: ArgumentHelp("Threads for the engine's kernels (default: all cores).", valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp("Simulate accumulators of this many bits in the quantized convolutions and linear layers (overrides config.json).", valueName: "bits"))
    var accumulatorBits: Int?

    @Option(help: "What a simulated accumulator does on overflow: wrap or saturate (overrides config.json).")
    var overflow: AccumulatorSimulation.Overflow?

    func validate() throws {
        var problems: [String] = []
        for (name, bits) in [("--weight-bits", weightBits), ("--act-bits", actBits), ("--input-bits", inputBits)] {
            if let bits, !(2...16).contains(bits) { problems.append("\(name) must be in 2...16, got \(bits)") }
        }
        if let threads, threads < 1 { problems.append("--threads must be >= 1, got \(threads)") }
        if let accumulatorBits, !(2...62).contains(accumulatorBits) { problems.append("--accumulator-bits must be in 2...62, got \(accumulatorBits)") }
        if overflow != nil && accumulatorBits == nil { problems.append("--overflow needs --accumulator-bits") }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n       ")) }
    }

    /// The checkpoint file and the run configuration (from config.json and the overrides).
    func resolve() throws -> (checkpoint: URL, config: RunConfig) {
        let url = URL(fileURLWithPath: checkpoint)
        if GraphRun.isGraphRun(checkpoint) {
            throw CLIError("'\(checkpoint)' is a run folder of `brevitas quantize` (a quantized graph): this command does not take one yet; eval, inspect, run, export, verify, deploy and train --from do")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw CLIError("'\(checkpoint)' does not exist (expected a run folder or a .safetensors checkpoint)")
        }
        let file = isDir.boolValue ? url.appendingPathComponent("model.safetensors") : url
        let configURL = (isDir.boolValue ? url : url.deletingLastPathComponent()).appendingPathComponent("config.json")
        if isDir.boolValue && !FileManager.default.fileExists(atPath: file.path) {
            throw CLIError("run folder '\(checkpoint)' has no model.safetensors (was the run interrupted before its first epoch ended?)")
        }
        var config: RunConfig
        if FileManager.default.fileExists(atPath: configURL.path) {
            config = try RunConfig.load(configURL)
        } else {
            guard let arch else {
                throw CLIError("no config.json beside '\(file.path)': pass --arch (and --weight-bits, --act-bits, --input-bits, --dataset if they differ from 4, 4, 8, digits) to describe the model")
            }
            let data = dataset ?? .digits
            let shape = try data.load(.test, directory: dataDir).exampleShape
            config = RunConfig(model: ModelSpec(arch: arch, inputShape: shape, classes: data.classes, weightBits: 4, actBits: 4,
                                                inputBits: 8, collectStatsSteps: 30),
                               dataset: data, dataDir: dataDir, training: nil)
        }
        if let arch { config.model.arch = arch }
        if let weightBits { config.model.weightBits = weightBits }
        if let actBits { config.model.actBits = actBits }
        if let inputBits { config.model.inputBits = inputBits }
        if let dataset { config.dataset = dataset }
        if let dataDir { config.dataDir = dataDir }
        if let accumulatorBits { (config.model.accumulatorBits, config.model.overflow) = (accumulatorBits, overflow ?? .wrap) }
        let problems = config.model.problems()
        guard problems.isEmpty else { throw CLIError(problems.joined(separator: "; ")) }
        return (file, config)
    }

    /// Resolves, applies `--threads`, loads the data split and the model.
    func load(split: Split) throws -> (model: QuantSequential, kind: Checkpoint.Kind, data: TensorDataset, config: RunConfig, checkpoint: URL) {
        Threads.apply(threads)
        let (file, config) = try resolve()
        let data = try config.dataset.load(split, directory: config.dataDir)
        guard data.exampleShape == config.model.inputShape else {
            throw CLIError("the \(config.dataset.rawValue) data has inputs \(data.exampleShape) but the model was built for \(config.model.inputShape)")
        }
        let (model, kind) = try Checkpoint.loadModel(file, spec: config.model)
        model.eval()
        return (model, kind, data, config, file)
    }
}
extension Architecture: ExpressibleByArgument {}
extension AccumulatorSimulation.Overflow: ExpressibleByArgument {}
