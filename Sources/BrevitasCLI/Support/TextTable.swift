import Foundation

/// A plain-text table with aligned columns, for summaries printed to a terminal or a log:
///
/// ```
/// model        test accuracy  weights
/// ───────────  ─────────────  ─────────
/// float 32     97.78%         138.2 KiB
/// ```
struct TextTable {
    enum Alignment { case left, right }

    var header: [String]
    var alignments: [Alignment]
    var rows: [[String]] = []

    init(_ header: [String], alignments: [Alignment]? = nil) {
        self.header = header
        self.alignments = alignments ?? header.indices.map { $0 == 0 ? .left : .right }
    }

    mutating func add(_ row: [String]) {
        precondition(row.count == header.count, "TextTable: row of \(row.count) cells for \(header.count) columns")
        rows.append(row)
    }

    func render(indent: String = "") -> String {
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { c, text -> String in
                let pad = String(repeating: " ", count: widths[c] - text.count)
                return alignments[c] == .left ? text + pad : pad + text
            }
            return indent + padded.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        let rule = indent + widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// A byte count as `123 B`, `12.3 KiB` or `1.2 MiB`.
func byteSize(_ bytes: Int) -> String {
    if bytes < 1024 { return "\(bytes) B" }
    if bytes < 1024 * 1024 { return f(Double(bytes) / 1024, 1) + " KiB" }
    return f(Double(bytes) / 1024 / 1024, 2) + " MiB"
}
