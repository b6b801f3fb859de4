/// Detects, at the start of a job, ranks started with different configurations (options, data),
/// which would otherwise train different models, deadlock in a collective, or mix gradients of
/// different shapes.
///
/// A configuration is described as lines `key=value`; every rank hashes its description
/// (64-bit FNV-1a), the hashes are gathered, and when they differ rank 0's description is
/// broadcast so that every rank can name the keys in which it differs.
///
/// ```swift
/// try ConfigurationCheck.verify("arch=lenet\nseed=0\nbatch=32", on: world)
/// // rank 1 started with seed=1, on every rank:
/// // DistributedError.configurationMismatch: ranks 1 differ from rank 0 ...
/// ```
public enum ConfigurationCheck {
    /// 64-bit FNV-1a of the UTF-8 bytes of `description`.
    public static func fingerprint(_ description: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in description.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// Throws ``DistributedError/configurationMismatch(ranks:rank:differences:)`` on every rank
    /// when some rank's `description` differs from rank 0's. A collective: every rank calls it.
    public static func verify(_ description: String, on communicator: Communicator) throws {
        let hashes = try communicator.allgather(fingerprint(description))
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard !differing.isEmpty else { return }
        let reference = try communicator.broadcast(bytes: Array(description.utf8), root: 0)
        let differences = Self.differences(description, from: String(decoding: reference, as: UTF8.self))
        throw DistributedError.configurationMismatch(ranks: differing, rank: communicator.rank, differences: differences)
    }

    /// The keys whose lines differ between `mine` and `reference`, as
    /// `"key: <mine> here, <reference's> on rank 0"`, in `reference`'s order, then keys only in `mine`.
    public static func differences(_ mine: String, from reference: String) -> [String] {
        func entries(_ text: String) -> [(key: Substring, value: Substring)] {
            text.split(separator: "\n").map { line in
                guard let eq = line.firstIndex(of: "=") else { return (line, "") }
                return (line[..<eq], line[line.index(after: eq)...])
            }
        }
        let own = entries(mine), ref = entries(reference)
        let ownValues = Dictionary(own, uniquingKeysWith: { a, _ in a })
        let refValues = Dictionary(ref, uniquingKeysWith: { a, _ in a })
        var out: [String] = []
        for (key, value) in ref where ownValues[key] != value {
            out.append("\(key): \(ownValues[key].map { "'\($0)'" } ?? "absent") here, '\(value)' on rank 0")
        }
        for (key, value) in own where refValues[key] == nil {
            out.append("\(key): '\(value)' here, absent on rank 0")
        }
        return out
    }
}

/// What goes wrong between the ranks of a job.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// `ranks` started with a configuration other than rank 0's; `differences` are this rank's
    /// (empty on rank 0 and on ranks that agree with it).
    case configurationMismatch(ranks: [Int], rank: Int, differences: [String])

    public var description: String {
        switch self {
        case let .configurationMismatch(ranks, rank, differences):
            let who = ranks.count == 1 ? "rank \(ranks[0]) was" : "ranks \(ranks.map(String.init).joined(separator: ", ")) were"
            var text = "\(who) started with a configuration different from rank 0's; start every rank with the same options and data"
            if !differences.isEmpty { text += " (rank \(rank): " + differences.joined(separator: "; ") + ")" }
            return text
        }
    }
}
