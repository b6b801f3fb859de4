import Foundation
import NN

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The CLI's writes, whole or not at all and durably (``AtomicWrite``, which every writer of the
/// project shares), with failures as ``CLIError``s.
enum AtomicFile {
    static func write(_ data: Data, to url: URL) throws {
        do {
            try AtomicWrite.write(data, to: url)
        } catch let e as AtomicWriteError {
            throw CLIError(e.description)
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
        // A temporary name (a kill between the two calls leaves one that the next run removes).
        let probe = AtomicWrite.temporaryURL(for: url.appendingPathComponent("brevitas-write-test"))
        guard fm.createFile(atPath: probe.path, contents: Data()) else {
            throw CLIError("output folder '\(url.path)' is not writable")
        }
        try? fm.removeItem(at: probe)
        AtomicWrite.removeStale(for: url.appendingPathComponent("brevitas-write-test"))
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
