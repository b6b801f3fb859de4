import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The built `brevitas` executable, run as a child process the way a user runs it.
enum BrevitasBinary {
    /// `brevitas` beside the test bundle (`swift build --build-tests` and `swift test` build it),
    /// `nil` when it is absent.
    static let url: URL? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let url = dir.appendingPathComponent("brevitas")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }()

    /// How a child ended.
    struct Result {
        var status: Int32
        /// Ended by a signal (a crash, or our kill) rather than by exiting.
        var signaled: Bool
        var timedOut: Bool
        var stdout: String
        var stderr: String

        /// The non-empty lines of standard error.
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }
    }

    /// Starts `brevitas arguments` with its output going to files in `scratch`.
    static func start(_ arguments: [String], scratch: URL) throws -> (Process, out: URL, err: URL) {
        let p = Process()
        p.executableURL = try require(url)
        p.arguments = arguments
        p.currentDirectoryURL = scratch
        let out = scratch.appendingPathComponent(".stdout-\(UUID().uuidString)")
        let err = scratch.appendingPathComponent(".stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    /// Runs `brevitas arguments` to its end, killing it after `timeout` seconds (a hang).
    static func run(_ arguments: [String], scratch: URL, timeout: Double = 120) throws -> Result {
        let (p, out, err) = try start(arguments, scratch: scratch)
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                kill(p.processIdentifier, SIGKILL)
                timedOut = true
            }
            usleep(10_000)
        }
        p.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        return Result(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

private func require<T>(_ value: T?) throws -> T {
    guard let value else { throw CocoaError(.fileNoSuchFile) }
    return value
}
