import ArgumentParser

/// `brevitas tutorial`: the seed notebook, "An Overview of Quantized Activations", cell by cell.
struct TutorialCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tutorial",
        abstract: "Walk through Brevitas's 'An Overview of Quantized Activations' notebook in Swift, cell by cell.")

    func run() throws {
        try Tutorial.run { print($0) }
    }
}
