import Foundation

/// Runs the conformance cases of a directory against our implementation (the Swift port of the
/// cases' `replay.py`, always with the tolerance policy and re-synchronisation).
///
/// ```swift
/// let runner = ConformanceRunner(directory: URL(fileURLWithPath: "../shared/conformance/cases"))
/// let summary = try runner.run { print($0.line(verbose: false) ?? "", terminator: "") }
/// print(summary.line)  // "93 passed, 0 failed"
/// ```
public struct ConformanceRunner {
    /// The result of one case.
    public struct CaseResult: Sendable {
        public let name: String
        /// The mismatches, first first (`path: message`); empty when the case passed.
        public let errors: [String]
        /// Set for a case that passed without being compared (the reference raised).
        public let note: String?
        /// Wall-clock seconds to load and replay the case.
        public let seconds: Double

        public init(name: String, errors: [String], note: String? = nil, seconds: Double = 0) {
            self.name = name
            self.errors = errors
            self.note = note
            self.seconds = seconds
        }

        public var passed: Bool { errors.isEmpty }

        /// One-line JSON form, for passing results between processes.
        public var serialized: String {
            JSON.object(JSONObject([
                ("name", .string(name)), ("errors", .array(errors.map(JSON.string))),
                ("note", note.map(JSON.string) ?? .null), ("seconds", .number(seconds)),
            ])).serialized()
        }

        /// Reads the form `serialized` writes.
        public init(serialized text: String) throws {
            let j = try JSON.parse(Data(text.utf8))
            guard let name = j["name"]?.string, let errors = j["errors"]?.array?.compactMap(\.string) else {
                throw ReplayError.malformed("case result \(text.prefix(200))")
            }
            self.init(name: name, errors: errors, note: j["note"]?.string, seconds: j["seconds"]?.double ?? 0)
        }

        /// The line printed for this case: every failure, passes only when `verbose`.
        public func line(verbose: Bool) -> String? {
            if let first = errors.first {
                var s = "FAIL \(name): \(errors.count) mismatch\(errors.count == 1 ? "" : "es"); first: \(first)"
                if verbose { s += errors.dropFirst().map { "\n     \($0)" }.joined() }
                return s
            }
            guard verbose else { return nil }
            let time = String(format: "%.2fs", seconds)
            return note.map { "pass \(name) (\(time)) — \($0)" } ?? "pass \(name) (\(time))"
        }
    }

    /// Counts of a run; `line` is the closing `N passed, M failed`.
    public struct Summary: Sendable {
        public var results: [CaseResult]
        public init(results: [CaseResult] = []) { self.results = results }
        public var passed: Int { results.filter(\.passed).count }
        public var failed: Int { results.count - passed }
        public var line: String { "\(passed) passed, \(failed) failed" }
    }

    /// A directory holding `NAME.json` cases.
    public let directory: URL
    /// Keeps cases whose file name contains any of these (or matches it as a `*`/`?` glob); all
    /// cases when empty.
    public var only: [String]
    /// Leaves out cases whose name matches any of these (same matching as `only`).
    public var skip: [String]

    public init(directory: URL, only: [String] = [], skip: [String] = []) {
        self.directory = directory
        self.only = only
        self.skip = skip
    }

    /// The case files to run, sorted by name.
    public func caseFiles() throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        return names.filter { n in
            let base = String(n.dropLast(5))
            return (only.isEmpty || only.contains { Self.matches(base, $0) }) && !skip.contains { Self.matches(base, $0) }
        }.map { directory.appendingPathComponent($0) }
    }

    static func matches(_ name: String, _ pattern: String) -> Bool {
        if pattern.contains("*") || pattern.contains("?") { return fnmatch(pattern, name, 0) == 0 }
        return name.contains(pattern)
    }

    /// Replays every selected case (or `files`), calling `willStart` before and `report` after
    /// each; returns the summary.
    public func run(files: [URL]? = nil, willStart: (URL) -> Void = { _ in }, report: (CaseResult) -> Void = { _ in }) throws -> Summary {
        var summary = Summary()
        for file in try files ?? caseFiles() {
            willStart(file)
            let r = Self.replay(file: file)
            report(r)
            summary.results.append(r)
        }
        return summary
    }

    /// Loads and replays one case file; a case that cannot be read or replayed fails with the reason.
    public static func replay(file: URL) -> CaseResult {
        let start = Date()
        var name = file.deletingPathExtension().lastPathComponent
        let chk = Checker()
        var note: String? = nil
        var errors: [String]
        do {
            let json = try JSON.load(contentsOf: file)
            if let n = json["name"]?.string { name = n }
            note = try Replay(json: json, chk: chk).run()
            errors = chk.errors
        } catch {
            errors = chk.errors + ["replay raised \(error)"]
        }
        return CaseResult(name: name, errors: errors, note: note, seconds: Date().timeIntervalSince(start))
    }
}
