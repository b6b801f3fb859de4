import ArgumentParser
import Foundation
import NN
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

    func run() throws { print(try evaluate()) }

    /// The result line.
    func evaluate() throws -> String {
        let start = Date()
        let loaded = try model.load(split: split)
        let result = try Trainer.evaluate(loaded.model, loaded.data)
        let correct = Int((result.accuracy * Double(loaded.data.count)).rounded())
        let spec = loaded.config.model
        let what = loaded.kind == .float ? "float \(spec.arch.rawValue)" : "\(spec.arch.rawValue) w\(spec.weightBits) a\(spec.actBits) in\(spec.inputBits)"
        return "\(loaded.checkpoint.path): \(what) on \(loaded.config.dataset.rawValue) \(split.rawValue): "
              + "accuracy \(percent(result.accuracy)) (\(correct)/\(loaded.data.count)), loss \(f(result.loss, 4)), \(f(Date().timeIntervalSince(start), 2)) s"
    }
}

extension Split: ExpressibleByArgument {}
