import ArgumentParser

/// The `brevitas` command: quantization-aware training and conformance tools. Each subcommand
/// lives in its own file (`<Name>Command.swift`) and is listed here.
public struct Brevitas: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "brevitas",
        abstract: "Brevitas, the PyTorch quantization library, rebuilt in Swift.",
        discussion: """
            Start with `brevitas train`: it trains a 4-bit LeNet on the bundled digits and saves the \
            checkpoint, metrics and training curves; then `brevitas eval` and `brevitas inspect` on the \
            folder it prints.
            """,
        subcommands: [TrainCommand.self, QuantizeCommand.self, EvalCommand.self, InspectCommand.self, ExportCommand.self, VerifyCommand.self, DeployCommand.self, RunCommand.self, BenchCommand.self, ConformanceCommand.self, TutorialCommand.self]
    )

    public init() {}
}
