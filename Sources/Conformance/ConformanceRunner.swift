import Foundation

/// Runs the conformance cases of a directory against our implementation (the Swift port of the
/// cases' `replay.py`, always with the tolerance policy and re-synchronisation).
///
/// ```swift
/// let runner = ConformanceRunner(directory: URL(fileURLWithPath: "../shared/conformance/cases"))
/// let summary = try runner.run { print($0.line(verbose: false) ?? "", terminator: "") }
/// print(summary.line)  // "92 passed, 0 failed, 1 not comparable"
/// ```
///
/// A directory without case files but with folders of them (`../shared/conformance`, holding
/// `cases`, `ptq`, `formats`, `layers`) runs every folder.
public struct ConformanceRunner {
    /// The result of one case.
    public struct CaseResult: Sendable {
        public let name: String
        /// The mismatches, first first (`path: message`); empty when the case passed.
        public let errors: [String]
        /// Set for a case that could not be compared (the reference raised): why, and what ran.
        public let note: String?
        /// The case family (`cases`, `ptq`, `formats`, `layers`), `nil` when the file could not
        /// be read.
        public let family: String?
        /// Wall-clock seconds to load and replay the case.
        public let seconds: Double

        public init(name: String, errors: [String], note: String? = nil, family: String? = nil, seconds: Double = 0) {
            self.name = name
            self.errors = errors
            self.note = note
            self.family = family
            self.seconds = seconds
        }

        /// Compared, and no mismatch.
        public var passed: Bool { errors.isEmpty && note == nil }
        public var failed: Bool { !errors.isEmpty }
        /// No mismatch, but there was nothing to compare against (`reference_error`).
        public var notComparable: Bool { errors.isEmpty && note != nil }

        /// One-line JSON form, for passing results between processes.
        public var serialized: String {
            JSON.object(JSONObject([
                ("name", .string(name)), ("errors", .array(errors.map(JSON.string))),
                ("note", note.map(JSON.string) ?? .null), ("family", family.map(JSON.string) ?? .null),
                ("seconds", .number(seconds)),
            ])).serialized()
        }

        /// Reads the form `serialized` writes.
        public init(serialized text: String) throws {
            let j = try JSON.parse(Data(text.utf8))
            guard let name = j["name"]?.string, let errors = j["errors"]?.array?.compactMap(\.string) else {
                throw ReplayError.malformed("case result \(text.prefix(200))")
            }
            self.init(name: name, errors: errors, note: j["note"]?.string, family: j["family"]?.string, seconds: j["seconds"]?.double ?? 0)
        }

        /// The line printed for this case: every failure and every case that is not comparable;
        /// passes only when `verbose`.
        public func line(verbose: Bool) -> String? {
            if let first = errors.first {
                var s = "FAIL \(name): \(errors.count) mismatch\(errors.count == 1 ? "" : "es"); first: \(first)"
                if verbose { s += errors.dropFirst().map { "\n     \($0)" }.joined() }
                return s
            }
            let time = String(format: "%.2fs", seconds)
            if let note { return "n/c  \(name) (\(time)) — \(note)" }  // neither passed nor failed: always said
            return verbose ? "pass \(name) (\(time))" : nil
        }
    }

    /// Counts of a run; `line` is the closing `N passed, M failed, K not comparable`.
    public struct Summary: Sendable {
        public var results: [CaseResult]
        public init(results: [CaseResult] = []) { self.results = results }
        public var passed: Int { results.filter(\.passed).count }
        public var failed: Int { results.filter(\.failed).count }
        public var notComparable: Int { results.filter(\.notComparable).count }
        public var line: String { Self.line(results) }

        static func line(_ rs: [CaseResult]) -> String {
            "\(rs.filter(\.passed).count) passed, \(rs.filter(\.failed).count) failed, \(rs.filter(\.notComparable).count) not comparable"
        }

        /// One `family: N passed, M failed, K not comparable` line per family, in the order they
        /// ran; empty when the run holds one family only.
        public var familyLines: [String] {
            var order: [String] = []
            for r in results where !order.contains(r.family ?? "?") { order.append(r.family ?? "?") }
            guard order.count > 1 else { return [] }
            return order.map { f in "\(f): " + Self.line(results.filter { ($0.family ?? "?") == f }) }
        }
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

    /// The case files to run, sorted by name; in a directory holding no case file, those of
    /// its sub-directories, folder by folder (`cases` first, then by name).
    public func caseFiles() throws -> [URL] {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: directory.path).sorted()
        var files = entries.filter { $0.hasSuffix(".json") }.map { directory.appendingPathComponent($0) }
        if files.isEmpty {
            let folders = entries.filter { e in
                var isDir: ObjCBool = false
                return fm.fileExists(atPath: directory.appendingPathComponent(e).path, isDirectory: &isDir) && isDir.boolValue
            }.sorted { ($0 != "cases" ? 1 : 0, $0) < ($1 != "cases" ? 1 : 0, $1) }
            for f in folders {
                let sub = directory.appendingPathComponent(f)
                files += try fm.contentsOfDirectory(atPath: sub.path).filter { $0.hasSuffix(".json") }.sorted()
                    .map { sub.appendingPathComponent($0) }
            }
        }
        return files.filter { u in
            let base = u.deletingPathExtension().lastPathComponent
            return (only.isEmpty || only.contains { Self.matches(base, $0) }) && !skip.contains { Self.matches(base, $0) }
        }
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

    /// Loads and replays one case file; a case that cannot be read or replayed fails with the
    /// reason. A file that cannot be read, is not JSON, or is not a case of a known family fails
    /// with one error naming the file (`PATH is not a JSON case file: JSON parse error at byte 3: ...`).
    public static func replay(file: URL) -> CaseResult {
        let start = Date()
        var name = file.deletingPathExtension().lastPathComponent
        func unreadable(_ why: String) -> CaseResult {
            CaseResult(name: name, errors: ["\(file.path) \(why)"], seconds: Date().timeIntervalSince(start))
        }
        let json: JSON
        do {
            json = try JSON.load(contentsOf: file)
        } catch let e as JSONParseError {
            return unreadable("is not a JSON case file: \(e)")
        } catch {
            return unreadable("cannot be read: \(Self.reason(error))")
        }
        if let n = json["name"]?.string { name = n }
        let family: String
        do {
            family = try CaseFamily.of(json).rawValue
        } catch {
            return unreadable(json.object == nil ? "is not a conformance case (a JSON object)" : "is not a conformance case: \(error)")
        }
        let chk = Checker()
        var note: String? = nil
        var errors: [String]
        do {
            note = try Replay(json: json, chk: chk).run()
            errors = chk.errors
        } catch let e as ReplayError {
            errors = chk.errors + ["\(e)"]
        } catch let e as CaseCheckError {
            errors = chk.errors + ["the case asks for what the engine cannot take: \(e)"]
        } catch {
            errors = chk.errors + ["replay raised \(error)"]
        }
        return CaseResult(name: name, errors: errors, note: note, family: family, seconds: Date().timeIntervalSince(start))
    }

    /// The system's words for a failed read (`No such file or directory`), not Foundation's sentence.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return String(cString: strerror(Int32(underlying.code))) }
        return ns.localizedDescription
    }
}
