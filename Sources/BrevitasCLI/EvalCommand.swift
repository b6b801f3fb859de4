import ArgumentParser
import Foundation
import IntegerInference
import NN
import QuantNN
import TensorEngine

/// `brevitas eval`: the accuracy of a checkpoint on a data split.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Accuracy of a trained checkpoint on the test split.",
        discussion: """
            Rebuilds the model from config.json beside the checkpoint and evaluates it in eval mode \
            (learned quantizer ranges). A float checkpoint (float.safetensors) is evaluated as the \
            float model.
            """)

    @OptionGroup var model: ModelArguments

    @Option(help: "Which split: train or test.")
    var split: Split = .test

    @Flag(help: "Evaluate the integer program (integer weights and fixed-point requantization, as `brevitas deploy` emits) instead of the fake-quantized model.")
    var integer = false

    @Option(help: ArgumentHelp("For a run folder of `brevitas quantize`: test inputs (.npy; default: the run's --test).", valueName: "x.npy"))
    var test: String?

    @Option(help: ArgumentHelp("With --test: test labels (.npy).", valueName: "y.npy"))
    var labels: String?

    func run() throws { print(try evaluate()) }

    /// The result line.
    func evaluate() throws -> String {
        if GraphRun.isGraphRun(model.checkpoint) {
            Threads.apply(model.threads)
            if integer {
                return try GraphRun.integerEvalLine(model.checkpoint, test: test, labels: labels, dataset: model.dataset, dataDir: model.dataDir, split: split)
            }
            return try GraphRun.evalLine(model.checkpoint, test: test, labels: labels, dataset: model.dataset, dataDir: model.dataDir, split: split)
        }
        if test != nil || labels != nil { throw CLIError("--test/--labels apply to run folders of `brevitas quantize`; '\(model.checkpoint)' is not one") }
        let start = Date()
        let loaded = try model.load(split: split)
        if integer { return try evaluateInteger(loaded) }
        let result = try Trainer.evaluate(loaded.model, loaded.data)
        let correct = Int((result.accuracy * Double(loaded.data.count)).rounded())
        let spec = loaded.config.model
        let what = loaded.kind == .float ? "float \(spec.arch.rawValue)" : "\(spec.arch.rawValue) \(spec.quantLabel)"
        let line = "\(loaded.checkpoint.path): \(what) on \(loaded.config.dataset.rawValue) \(split.rawValue): "
              + "accuracy \(percent(result.accuracy)) (\(correct)/\(loaded.data.count)), loss \(f(result.loss, 4)), \(f(Date().timeIntervalSince(start), 2)) s"
        return ([line] + EvalCommand.overflowReport(loaded.model)).joined(separator: "\n")
    }

    /// One line per layer with a simulated accumulator: overflows, elements, the largest |acc| seen.
    static func overflowReport(_ model: QuantSequential) -> [String] {
        var lines: [String] = []
        var total = 0
        for case (let path, let l as QuantWeightBiasLayer) in model.namedModules() {
            guard let sim = l.accumulatorSimulation else { continue }
            let needed = 64 - UInt64(sim.largest).leadingZeroBitCount + 1
            lines.append("  \(path) (\(l.typeName)): \(sim.overflows) of \(sim.elements) accumulators overflow \(sim.bits) bits (\(sim.overflow.rawValue)); largest |acc| \(sim.largest) needs \(needed) bits")
            total += sim.overflows
        }
        guard !lines.isEmpty else { return [] }
        return ["simulated accumulators: \(total) overflow\(total == 1 ? "" : "s") in all"] + lines
    }

    /// The accuracy of the integer program on the split, the inputs quantized as the input quantizer does.
    func evaluateInteger(_ loaded: (model: QuantSequential, kind: Checkpoint.Kind, data: TensorDataset, config: RunConfig, checkpoint: URL)) throws -> String {
        let start = Date()
        guard loaded.kind == .quantized else {
            throw CLIError("'\(loaded.checkpoint.path)' is a float checkpoint: it has no integer program; evaluate a quantized one with --integer")
        }
        let spec = loaded.config.model
        let program = try IntegerProgramLoader.lower(loaded.model, spec: spec)
        let n = loaded.data.count
        var correct = 0, at = 0
        while at < n {
            let m = min(512, n - at)
            let codes = program.inputCodes(loaded.data.inputs.narrow(dim: 0, start: at, length: m))
            let predicted = program.predictions(IntegerExecutor.run(program, input: codes))
            correct += zip(predicted, loaded.data.labels[at..<at + m]).filter { $0 == $1 }.count
            at += m
        }
        return "\(loaded.checkpoint.path): integer program of \(spec.arch.rawValue) w\(spec.weightBits) a\(spec.actBits) in\(spec.inputBits) on \(loaded.config.dataset.rawValue) \(split.rawValue): "
            + "accuracy \(percent(Double(correct) / Double(max(n, 1)))) (\(correct)/\(n)), \(f(Date().timeIntervalSince(start), 2)) s"
    }
}

extension Split: ExpressibleByArgument {}
