import Foundation
import NN
import Testing
import TestSupport

/// ``AtomicWrite``: files and folders replaced whole, failures typed, and the temporaries of
/// killed writers removed by the next write of the same target (never those of a live writer).
@Suite struct AtomicWriteTests {
    /// The id of a process that has ended (and been reaped): what a killed writer leaves.
    static func deadProcessID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    static func names(_ dir: URL) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }

    @Test func writeReplacesTheFileAndLeavesNoTemporary() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a.json")
        try AtomicWrite.write(Data("old".utf8), to: file)
        try AtomicWrite.write(Data("new contents".utf8), to: file)
        #expect(try Data(contentsOf: file) == Data("new contents".utf8))
        try AtomicWrite.write(Data(), to: file)
        #expect(try Data(contentsOf: file).isEmpty)
        #expect(try Self.names(dir) == ["a.json"])
    }

    @Test func temporaryNamesCarryTheTargetAndTheProcess() {
        let t = AtomicWrite.temporaryURL(for: URL(fileURLWithPath: "/x/run/model.safetensors"))
        #expect(t.deletingLastPathComponent().path == "/x/run")
        #expect(t.lastPathComponent.hasPrefix(".model.safetensors.brevitas-tmp-\(getpid())-"))
        #expect(t != AtomicWrite.temporaryURL(for: URL(fileURLWithPath: "/x/run/model.safetensors")))
    }

    @Test func staleTemporariesOfEndedProcessesAreRemovedByTheNextWrite() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dead = try Self.deadProcessID()
        let stale = ".a.json\(AtomicWrite.marker)\(dead)-1234"
        let staleFolder = ".a.json\(AtomicWrite.marker)\(dead)-5678"
        let live = ".a.json\(AtomicWrite.marker)\(getpid())-9999"  // this process: a write in progress
        let other = ".b.json\(AtomicWrite.marker)\(dead)-1"  // another target's
        for name in [stale, live, other] { try Data("half".utf8).write(to: dir.appendingPathComponent(name)) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(staleFolder).appendingPathComponent("x"), withIntermediateDirectories: true)
        try AtomicWrite.write(Data("{}".utf8), to: dir.appendingPathComponent("a.json"))
        #expect(try Self.names(dir) == [live, other, "a.json"].sorted())
        #expect(AtomicWrite.removeStale(for: dir.appendingPathComponent("b.json")) == [other])
    }

    @Test func failuresNameTheTargetAndLeaveNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no/such/folder/a.npy")
        #expect(throws: AtomicWriteError.self) { try AtomicWrite.write(Data("x".utf8), to: missing) }
        do {
            try AtomicWrite.write(Data("x".utf8), to: missing)
        } catch let e as AtomicWriteError {
            #expect(e.path == missing.path)
            #expect(e.description == "cannot write \(missing.path): No such file or directory")
        }
        // A folder where the file should go: the rename fails, the temporary is removed.
        let folder = dir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("inside"), withIntermediateDirectories: true)
        #expect(throws: AtomicWriteError.self) { try AtomicWrite.write(Data("x".utf8), to: folder) }
        #expect(try Self.names(dir) == ["taken"])
    }

    @Test func folderIsExchangedWholeAndAFailedFillLeavesTheOldOne() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run")
        try AtomicWrite.folder(run) { tmp in
            #expect(tmp.lastPathComponent.hasPrefix(".run\(AtomicWrite.marker)"))
            try AtomicWrite.write(Data("1".utf8), to: tmp.appendingPathComponent("a"))
            try AtomicWrite.write(Data("1".utf8), to: tmp.appendingPathComponent("old-only"))
        }
        #expect(try Self.names(run) == ["a", "old-only"])
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try AtomicWrite.folder(run) { tmp in
                try AtomicWrite.write(Data("2".utf8), to: tmp.appendingPathComponent("a"))
                throw Stop()
            }
        }
        #expect(try Data(contentsOf: run.appendingPathComponent("a")) == Data("1".utf8))
        #expect(try Self.names(dir) == ["run"])
        try AtomicWrite.folder(run) { tmp in
            try FileManager.default.createDirectory(at: tmp.appendingPathComponent("sub"), withIntermediateDirectories: false)
            try AtomicWrite.write(Data("2".utf8), to: tmp.appendingPathComponent("sub/b"))
        }
        #expect(try Self.names(run) == ["sub"])
        #expect(try Data(contentsOf: run.appendingPathComponent("sub/b")) == Data("2".utf8))
        #expect(try Self.names(dir) == ["run"])
        // A file where the folder should go is not replaced.
        let file = dir.appendingPathComponent("file")
        try AtomicWrite.write(Data("f".utf8), to: file)
        #expect(throws: AtomicWriteError.self) { try AtomicWrite.folder(file) { _ in } }
        #expect(try Data(contentsOf: file) == Data("f".utf8))
        #expect(try Self.names(dir) == ["file", "run"])
    }
}
