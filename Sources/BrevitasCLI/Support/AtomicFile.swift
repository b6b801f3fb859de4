import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes files whole or not at all: the bytes go to a temporary file in the same directory,
/// which is then renamed over the target, so a reader (or an interrupted run) never sees a
/// half-written file.
enum AtomicFile {
    static func write(_ data: Data, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: tmp)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw CLIError("cannot write \(url.path): \(error.localizedDescription)")
        }
        if rename(tmp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw CLIError("cannot write \(url.path): \(reason)")
        }
    }

    static func write(_ text: String, to url: URL) throws { try write(Data(text.utf8), to: url) }

    /// Encodes `value` as indented JSON with sorted keys and writes it atomically.
    static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try encoder.encode(value) + Data("\n".utf8), to: url)
    }

    /// Creates `url` (and its parents) if needed and checks that a file can be written there;
    /// throws a ``CLIError`` naming the folder otherwise.
    static func prepareDirectory(_ url: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CLIError("output folder '\(url.path)' exists and is not a folder") }
        } else {
            do {
                try fm.createDirectory(at: url, withIntermediateDirectories: true)
            } catch {
                throw CLIError("cannot create output folder '\(url.path)': \(Self.whyNotCreatable(url) ?? Self.reason(error))")
            }
        }
        let probe = url.appendingPathComponent(".brevitas-write-test-\(UUID().uuidString)")
        guard fm.createFile(atPath: probe.path, contents: Data()) else {
            throw CLIError("output folder '\(url.path)' is not writable")
        }
        try? fm.removeItem(at: probe)
    }

    /// Why a folder cannot be made at `url`: an ancestor that is a file, or one not writable.
    static func whyNotCreatable(_ url: URL) -> String? {
        var ancestor = url.deletingLastPathComponent()
        while ancestor.path != "/" && !FileManager.default.fileExists(atPath: ancestor.path) {
            ancestor = ancestor.deletingLastPathComponent()
        }
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDir)
        if !isDir.boolValue { return "'\(ancestor.path)' is a file, not a folder" }
        if access(ancestor.path, W_OK) != 0 { return "'\(ancestor.path)' is not writable" }
        return nil
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
