import Foundation

#if canImport(Glibc)
    import Glibc
    private let systemWrite = Glibc.write
    private let systemRename = Glibc.rename
#elseif canImport(Darwin)
    import Darwin
    private let systemWrite = Darwin.write
    private let systemRename = Darwin.rename
#endif

/// Why an atomic write failed: the target and the system's reason. Callers wrap it in their own
/// typed error (``SafeTensorsError``, ``NumPyError``, the exporter's and the CLI's errors).
public struct AtomicWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file or folder that was to be written.
    public let path: String
    /// What went wrong, in words (`"No space left on device"`, `"cannot replace the folder: ..."`).
    public let reason: String

    public var description: String { "cannot write \(path): \(reason)" }
}

/// Writes files and folders whole or not at all, durably: the one place every writer of the
/// project (safetensors, `.npy`, ONNX, the CLI's JSON, text and run folders) goes through.
///
/// A file is written to a temporary sibling, flushed to the disk (`fsync`), renamed over the
/// target (atomic on POSIX file systems), and the parent folder is flushed so that the rename
/// itself survives a power loss. A folder is filled under a temporary name, every file and folder
/// in it flushed, then exchanged with the target in one step (Linux `renameat2(RENAME_EXCHANGE)`),
/// so a previous folder at that path is there, whole, at every instant. A reader, or a process
/// killed at any point (`kill -9`), sees the old version or the complete new one, never a mix.
///
/// Temporary names are recognisable and carry the writing process's id:
///
/// | what | temporary name |
/// |---|---|
/// | file `DIR/NAME` | `DIR/.NAME.brevitas-tmp-PID-UUID` |
/// | folder `DIR/NAME` | `DIR/.NAME.brevitas-tmp-PID-UUID` (the new folder), then the old one under the same kind of name |
///
/// A process killed mid-write leaves its temporary behind; the next successful write of the same
/// target removes every such sibling whose process is gone (``removeStale(for:)``), and never
/// one of a live process (two writers of one target each finish their own file).
///
/// ```swift
/// try AtomicWrite.write(Data("{}\n".utf8), to: URL(fileURLWithPath: "run/config.json"))
/// try AtomicWrite.folder(URL(fileURLWithPath: "runs/w4a8")) { tmp in
///     try AtomicWrite.write(model, to: tmp.appendingPathComponent("model.safetensors"))
/// }
/// ```
public enum AtomicWrite {
    /// The marker between a target's name and the process id in its temporary siblings' names.
    public static let marker = ".brevitas-tmp-"

    /// A fresh temporary name beside `url`: `.NAME.brevitas-tmp-PID-UUID`.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent)\(marker)\(getpid())-\(UUID().uuidString)")
    }

    /// Writes `data` to `url` whole or not at all, and durably (file and folder flushed); then
    /// removes the stale temporaries of `url` that killed processes left.
    public static func write(_ data: Data, to url: URL) throws {
        let tmp = temporaryURL(for: url)
        do {
            try writeAndSync(data, to: tmp)
            try rename(tmp, url)
            try syncFolder(url.deletingLastPathComponent())
        } catch let reason as Reason {
            _ = unlink(tmp.path)
            throw AtomicWriteError(path: url.path, reason: reason.text)
        }
        removeStale(for: url)
    }

    /// Fills a fresh temporary folder beside `url` with `fill`, then puts it at `url` in one
    /// step: an existing folder there stays whole until the exchange and is removed after it.
    /// If `fill` throws, the temporary folder is removed and `url` is untouched. The caller
    /// decides whether an existing `url` may be replaced; a file (not a folder) at `url` is an error.
    public static func folder(_ url: URL, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let tmp = temporaryURL(for: url)
        guard mkdir(tmp.path, 0o777) == 0 else {
            throw AtomicWriteError(path: url.path, reason: "cannot create a folder in \(url.deletingLastPathComponent().path): \(errorText())")
        }
        do {
            try fill(tmp)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
        do {
            try syncTree(tmp)
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
                guard isDir.boolValue else { throw Reason(text: "it exists and is not a folder") }
                try exchange(tmp, url)  // the old folder is now at `tmp`
                try syncFolder(url.deletingLastPathComponent())
                try? fm.removeItem(at: tmp)
            } else {
                try rename(tmp, url)
                try syncFolder(url.deletingLastPathComponent())
            }
        } catch let reason as Reason {
            try? fm.removeItem(at: tmp)
            throw AtomicWriteError(path: url.path, reason: reason.text)
        }
        removeStale(for: url)
    }

    /// Removes the temporary siblings of `url` (``temporaryURL(for:)``) whose process no longer
    /// runs: what a write killed before its rename left behind. Those of live processes, this
    /// one included, stay. Returns the names removed.
    @discardableResult
    public static func removeStale(for url: URL) -> [String] {
        let dir = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent)\(marker)"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid > 0, pid != getpid() else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }  // alive, or another user's
            if (try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))) != nil { removed.append(name) }
        }
        return removed
    }

    // MARK: System calls

    /// A failed system call's reason, caught inside this file and turned into ``AtomicWriteError``.
    struct Reason: Error { let text: String }

    static func errorText() -> String { String(cString: strerror(errno)) }

    /// Creates `url` (which must not exist), writes every byte, flushes it to the disk.
    static func writeAndSync(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw Reason(text: errorText()) }
        defer { close(fd) }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Reason(text: errorText())
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw Reason(text: "cannot flush to the disk: \(errorText())") }
    }

    static func rename(_ from: URL, _ to: URL) throws {
        guard systemRename(from.path, to.path) == 0 else { throw Reason(text: "cannot replace it: \(errorText())") }
    }

    /// Flushes a folder's entries (a rename in it) to the disk. File systems that cannot flush a
    /// folder (`EINVAL`) are left as they are.
    static func syncFolder(_ dir: URL) throws {
        let fd = open(dir.path.isEmpty ? "." : dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Reason(text: "cannot open the folder \(dir.path): \(errorText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 || errno == EINVAL else { throw Reason(text: "cannot flush the folder \(dir.path): \(errorText())") }
    }

    /// Flushes every regular file and folder under `dir` (iteratively), `dir` last.
    static func syncTree(_ dir: URL) throws {
        var folders = [dir]
        var visited: [URL] = []
        while let d = folders.popLast() {
            visited.append(d)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: d.path) else {
                throw Reason(text: "cannot list \(d.path)")
            }
            for name in names {
                let u = d.appendingPathComponent(name)
                var st = stat()
                guard lstat(u.path, &st) == 0 else { throw Reason(text: "cannot read \(u.path): \(errorText())") }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: folders.append(u)
                case S_IFREG:
                    let fd = open(u.path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw Reason(text: "cannot open \(u.path): \(errorText())") }
                    let ok = fsync(fd) == 0
                    close(fd)
                    guard ok else { throw Reason(text: "cannot flush \(u.path) to the disk: \(errorText())") }
                default: continue
                }
            }
        }
        for d in visited.reversed() { try syncFolder(d) }
    }

    /// `renameat2(2)` with `RENAME_EXCHANGE`, looked up at run time (the C library declares it
    /// only for `_GNU_SOURCE`).
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    nonisolated(unsafe) private static let renameat2: RenameAt2? = dlsym(nil, "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }

    /// Swaps two existing paths in one step. Where the kernel or file system cannot
    /// (`ENOSYS`, `EINVAL`), falls back to two renames, which leave `to` absent for an instant.
    static func exchange(_ from: URL, _ to: URL) throws {
        let exchangeFlag: UInt32 = 1 << 1  // RENAME_EXCHANGE
        if let renameat2 {
            if renameat2(AT_FDCWD, from.path, AT_FDCWD, to.path, exchangeFlag) == 0 { return }
            guard errno == ENOSYS || errno == EINVAL else { throw Reason(text: "cannot replace the folder: \(errorText())") }
        }
        let aside = temporaryURL(for: to)
        try rename(to, aside)
        do { try rename(from, to) } catch {
            _ = systemRename(aside.path, to.path)
            throw error
        }
        try rename(aside, from)
    }
}
