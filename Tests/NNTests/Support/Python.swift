import TestSupport
import Foundation

/// A Python interpreter with the `safetensors` and `numpy` packages, for the cross-language
/// checks: the package's `.venv-ref` (see Tests/Fixtures/README.md) or `python3` on the PATH.
/// `nil` when neither has both packages; the tests that need it are then skipped, with the
/// reason in the test output.
enum Python {
    static let withSafeTensors: URL? = {
        let candidates = [".venv-ref", ".venv-ci"].map { packageRoot.appendingPathComponent("\($0)/bin/python").path }
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            let url = URL(fileURLWithPath: path)
            if (try? run(url, "import safetensors.numpy, numpy")) != nil { return url }
        }
        return nil
    }()

    /// Runs `script` with `arguments`; returns standard output, throws on a non-zero exit.
    @discardableResult
    static func run(_ interpreter: URL, _ script: String, _ arguments: [String] = []) throws -> String {
        let result = try runProcess(interpreter.path, ["-c", script] + arguments)
        guard result.status == 0 else { throw PythonError(message: result.stderr) }
        return result.stdout
    }

    struct PythonError: Error, CustomStringConvertible {
        var message: String
        var description: String { "python failed: \(message)" }
    }
}
