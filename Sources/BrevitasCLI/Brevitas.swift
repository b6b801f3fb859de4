import ArgumentParser

/// The `brevitas` command: quantization-aware training and conformance tools. Each subcommand
/// lives in its own file (`<Name>Command.swift`) and is listed here.
public struct Brevitas: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "brevitas",
        abstract: "Brevitas, the PyTorch quantization library, rebuilt in Swift.",
        subcommands: [ConformanceCommand.self, TutorialCommand.self]
    )

    public init() {}
}
