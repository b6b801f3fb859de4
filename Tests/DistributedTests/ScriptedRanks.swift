import Distributed

/// One rank of a job simulated in one process: a collective returns this rank's own values and,
/// for the other ranks, the values scripted for that call (what those ranks would have sent).
/// Every call's own values are recorded in `sent`, so a second replica can play another rank.
final class ScriptedRanks: Collectives {
    let rank: Int
    let size: Int
    /// Per collective call, in order: the other ranks' values by rank.
    var script: [[Int: [Float]]]
    private(set) var sent: [[Float]] = []

    init(rank: Int, size: Int, script: [[Int: [Float]]] = []) {
        self.rank = rank
        self.size = size
        self.script = script
    }

    func allgather(_ values: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws {
        sent.append(Array(values))
        let peers = script.isEmpty ? [:] : script.removeFirst()
        for r in 0..<size {
            let source = r == rank ? Array(values) : (peers[r] ?? Array(values))
            precondition(source.count == values.count, "ScriptedRanks: rank \(r) scripted with \(source.count) values, this call sends \(values.count)")
            for i in 0..<values.count { gathered[r * values.count + i] = source[i] }
        }
    }

    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        sent.append(Array(values))
        let peers = script.isEmpty ? [:] : script.removeFirst()
        if root != rank, let source = peers[root] {
            for i in 0..<values.count { values[i] = source[i] }
        }
    }

    func abort(code: Int32) -> Never { fatalError("ScriptedRanks: abort(\(code))") }
}
