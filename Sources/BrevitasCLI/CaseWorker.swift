import Conformance
import Foundation

/// Runs conformance cases in a worker process (this executable with `conformance --worker`), so
/// that a case which traps (a failed precondition) is reported as a failure of that case and the
/// remaining cases still run in a fresh worker.
///
/// Protocol on the worker's standard output: `@@start PATH` before a case, `@@result JSON` after it.
enum CaseWorker {
    static let startTag = "@@start "
    static let resultTag = "@@result "

    static func announce(_ file: URL) {
        print(startTag + file.path)
        fflush(stdout)
    }

    static func send(_ r: ConformanceRunner.CaseResult) {
        print(resultTag + r.serialized)
        fflush(stdout)
    }

    static func run(files: [URL], directory: String, report: (ConformanceRunner.CaseResult) -> Void) throws -> ConformanceRunner.Summary {
        var summary = ConformanceRunner.Summary()
        var remaining = files
        let exe = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        while !remaining.isEmpty {
            let p = Process()
            p.executableURL = exe
            p.arguments = ["conformance", directory, "--worker"] + remaining.flatMap { ["--case-file", $0.path] }
            var env = ProcessInfo.processInfo.environment
            env["SWIFT_BACKTRACE"] = "enable=no"  // a crash is reported in one line, at once
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("brevitas-worker-\(UUID().uuidString).err")
            _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: errFile) }
            p.standardError = try FileHandle(forWritingTo: errFile)
            try p.run()
            var current: String? = nil
            var pending = Data()
            func handle(_ line: String) {
                if line.hasPrefix(startTag) {
                    current = String(line.dropFirst(startTag.count))
                } else if line.hasPrefix(resultTag) {
                    let r = (try? ConformanceRunner.CaseResult(serialized: String(line.dropFirst(resultTag.count))))
                        ?? ConformanceRunner.CaseResult(name: current.map(caseName) ?? "?", errors: ["unreadable worker result: \(line.prefix(200))"])
                    if let c = current { remaining.removeAll { $0.path == c } }
                    current = nil
                    summary.results.append(r)
                    report(r)
                } else if !line.isEmpty {
                    print(line)  // anything a case printed
                }
            }
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 0x0A) {
                    handle(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...nl)
                }
            }
            if !pending.isEmpty { handle(String(decoding: pending, as: UTF8.self)) }
            p.waitUntilExit()
            let clean = p.terminationReason == .exit && p.terminationStatus == 0
            if current == nil && (clean || remaining.isEmpty) {
                for f in remaining {
                    let r = ConformanceRunner.CaseResult(name: caseName(f.path), errors: ["not run: the worker ended before it"], family: folderName(f.path))
                    summary.results.append(r)
                    report(r)
                }
                break
            }
            let crashed = current ?? remaining[0].path
            let how = p.terminationReason == .uncaughtSignal ? "signal \(p.terminationStatus)" : "exit status \(p.terminationStatus)"
            // The runtime's message (`...: Fatal error: ...`, `Precondition failed: ...`), not the stack.
            let lines = ((try? String(contentsOf: errFile, encoding: .utf8)) ?? "").split(separator: "\n")
            let message = lines.prefix { !$0.hasPrefix("Current stack trace") }.suffix(3)
            let stderrTail = message.joined(separator: " | ")
            let r = ConformanceRunner.CaseResult(
                name: caseName(crashed), errors: ["crashed (\(how))" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")],
                family: folderName(crashed))
            remaining.removeAll { $0.path == crashed }
            summary.results.append(r)
            report(r)
        }
        return summary
    }

    /// The folder of a case file, which names its family (`cases`, `ptq`, `formats`, `layers`).
    static func folderName(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
    }

    static func caseName(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }
}
