import Foundation

/// How a finished child process ended: its exit status and what it wrote.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// Standard output then standard error, for failure messages.
    public var output: String { stdout + stderr }
}

/// Runs `tool arguments` (an absolute path) in `directory` (default: the current one) with
/// `environment` (default: this process's) to its end. Standard error goes through a file, so a
/// child that writes much to both streams cannot block on the one not being read.
public func runProcess(_ tool: String, _ arguments: [String], in directory: URL? = nil,
                       environment: [String: String]? = nil) throws -> ProcessOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = directory }
    if let environment { p.environment = environment }
    let out = Pipe()
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("swift-brevitas-stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let errHandle = try FileHandle(forWritingTo: errURL)
    defer {
        try? errHandle.close()
        try? FileManager.default.removeItem(at: errURL)
    }
    p.standardOutput = out
    p.standardError = errHandle
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let errors = (try? Data(contentsOf: errURL)) ?? Data()
    return ProcessOutput(status: p.terminationStatus, stdout: String(decoding: data, as: UTF8.self),
                         stderr: String(decoding: errors, as: UTF8.self))
}

/// The system C compiler with the strictest flags generated C must pass
/// (`-std=c99 -O2 -Wall -Wextra -Werror`).
public enum StrictC {
    public static let compiler = "/usr/bin/cc"

    /// Whether there is a compiler; the C checks are skipped without one.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: compiler) }

    /// Compiles `sources` in `directory` into the executable `output` there.
    public static func build(_ sources: [String], output: String, in directory: URL) throws -> ProcessOutput {
        try runProcess(compiler, ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", output] + sources, in: directory)
    }
}
