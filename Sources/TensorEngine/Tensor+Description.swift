import Foundation

/// PyTorch-style printing: `tensor([[ 0.1234, -1.0000]])`, four decimals, aligned columns,
/// `[…]` elision beyond 1000 elements.
extension Tensor: CustomStringConvertible {
    public var description: String {
        let vals = scalars
        let finite = vals.filter { $0.isFinite }
        let allInts = finite.allSatisfy { $0 == $0.rounded() }
        let maxAbs = finite.map { Swift.abs($0) }.max() ?? 0
        let useSci = !allInts && (maxAbs >= 1e8 || (maxAbs > 0 && maxAbs < 1e-4))
        func fmt(_ v: Float) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if allInts { return String(format: "%.0f.", Double(v)) }
            if useSci { return String(format: "%.4e", Double(v)) }
            return String(format: "%.4f", Double(v))
        }
        let strs = vals.map(fmt)
        let width = strs.map(\.count).max() ?? 0
        let padded = strs.map { String(repeating: " ", count: width - $0.count) + $0 }
        let summarize = count > 1000
        func render(_ dim: Int, _ offset: Int, _ indent: Int) -> String {
            if rank == 0 { return padded.first ?? "" }
            let n = shape[dim]
            let stride = shape[(dim + 1)...].reduce(1, *)
            var idxs = Array(0..<n)
            if summarize && n > 6 { idxs = [0, 1, 2, -1, n - 3, n - 2, n - 1] }
            if dim == rank - 1 {
                return "[" + idxs.map { $0 < 0 ? "..." : padded[offset + $0] }.joined(separator: ", ") + "]"
            }
            let sep = "," + String(repeating: "\n", count: rank - dim - 1) + String(repeating: " ", count: indent + 1)
            return "[" + idxs.map { $0 < 0 ? "..." : render(dim + 1, offset + $0 * stride, indent + 1) }.joined(separator: sep) + "]"
        }
        var body = count == 0 ? "[]" : render(0, 0, 7)
        if count == 0 && rank > 1 { body += ", size=(\(shape.map(String.init).joined(separator: ", ")))" }
        return "tensor(" + body + (requiresGrad && gradFn == nil ? ", requires_grad=True" : "") + ")"
    }
}
