/// An error of the command line tool: one line that says what is wrong and what to do. The
/// argument parser prints it as `Error: <message>` and exits with status 1.
struct CLIError: Error, CustomStringConvertible, Equatable {
    let message: String

    init(_ message: String) { self.message = message }

    var description: String { message }
}
