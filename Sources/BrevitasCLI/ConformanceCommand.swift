import ArgumentParser
import Conformance
import Foundation

/// `brevitas conformance DIR`: replays the golden cases recorded with Brevitas and compares
/// with the documented tolerance policy (re-synchronised replay; QAT cases also free-running).
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Replay conformance cases recorded with Brevitas and compare against them.",
        discussion: """
            Prints one line per failing case with its first mismatch (field path, index, ours vs \
            reference) and ends with `N passed, M failed, K not comparable` (after one such line \
            per family when the run holds several: DIR may be a folder of family folders). Cases \
            whose reference itself raised (reference_error) are not comparable: they count as such \
            when our implementation runs them without error, and fail otherwise. What the runner \
            cannot build yet (a layer class, a quantizer, a QuantTensor kind, a pipeline stage) \
            fails with the reason. Exits with status 0 only if no case fails. Cases run in a \
            worker process, so a case that crashes is reported as failed and the run goes on.
            """
    )

    @Argument(help: "A directory of case files (NAME.json).", completion: .directory)
    var directory: String

    @Option(name: .long, help: "Only run cases whose name contains PATTERN (or matches it as a * glob); repeatable.")
    var only: [String] = []

    @Option(name: .long, help: "Leave out cases whose name contains PATTERN (or matches it as a * glob); repeatable.")
    var skip: [String] = []

    @Flag(name: .long, help: "Print a line per passing case with its time, and every mismatch of a failing case.")
    var verbose = false

    @Flag(name: .long, help: "Run the cases in this process (a crash then ends the run; for debuggers).")
    var inProcess = false

    @Option(name: .long, help: "Also write each case's final model as OUTDIR/<case>.qcdq.onnx and OUTDIR/<case>.qonnx.onnx.")
    var export: String? = nil

    @Flag(name: .long, help: .hidden)
    var worker = false

    @Option(name: .long, help: .hidden)
    var caseFile: [String] = []

    func run() throws {
        // Checked here, not in validate(): an error about a file is one line, without the usage.
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw CLIError("'\(directory)' does not exist; give a directory of conformance cases (NAME.json)")
        }
        guard isDir.boolValue else { throw CLIError("'\(directory)' is a file, not a directory of conformance cases (NAME.json)") }
        let runner = ConformanceRunner(directory: URL(fileURLWithPath: directory), only: only, skip: skip)
        let files: [URL]
        do {
            files = caseFile.isEmpty ? try runner.caseFiles() : caseFile.map { URL(fileURLWithPath: $0) }
        } catch {
            throw CLIError("cannot list the cases in '\(directory)': \(AtomicFile.reason(error))")
        }
        if worker {
            _ = try runner.run(files: files, willStart: { CaseWorker.announce($0) }, report: { CaseWorker.send($0) })
            return
        }
        let print: (ConformanceRunner.CaseResult) -> Void = { result in
            if let line = result.line(verbose: verbose) {
                Swift.print(line)
                fflush(stdout)
            }
        }
        let summary: ConformanceRunner.Summary
        if inProcess {
            summary = try runner.run(files: files, report: print)
        } else {
            summary = try CaseWorker.run(files: files, directory: directory, report: print)
        }
        if summary.results.isEmpty { Swift.print("no case matched in \(directory)") }
        if let export { try exportModels(files: files, to: export) }
        for line in summary.familyLines { Swift.print(line) }
        Swift.print(summary.line)
        if summary.failed > 0 || summary.results.isEmpty { throw ExitCode(1) }
    }

    /// Writes the final eval-state model of every exportable case (conv, linear, activation,
    /// pooling, QAT) in both ONNX formats; a case that a format cannot express is reported.
    func exportModels(files: [URL], to dir: String) throws {
        let out = URL(fileURLWithPath: dir)
        do {
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create export directory '\(dir)': \(error.localizedDescription)")
        }
        var written = 0
        for file in files {
            guard let final = try FinalModel.load(file: file) else { continue }
            let failures = final.export(to: out)
            written += 2 - failures.count
            for (format, error) in failures { Swift.print("export \(final.name) (\(format.rawValue)): \(error)") }
        }
        Swift.print("exported \(written) ONNX files to \(dir)")
    }
}
