/// Row lookup (`torch.nn.functional.embedding`) with its scatter-add gradient.
extension Tensor {
    /// `out[i…, :] = weight[indices[i…], :]`: `weight` is `[numEmbeddings, dim]`, `indices` any
    /// shape `S` of integer-valued floats; the result is `S + [dim]`.
    ///
    /// Gradient: `dW[r, :] = Σ_{i : indices[i] = r} dOut[i, :]` (in index order), except that
    /// the row `paddingIdx` gets no gradient (torch semantics: the padding row is never trained,
    /// although it is still read). Indices carry no gradient.
    ///
    /// Example: weight `[[1, 2], [3, 4], [5, 6]]`, indices `[2, 0, 2]` gives
    /// `[[5, 6], [1, 2], [5, 6]]`; a gradient of ones gives `dW = [[1, 1], [0, 0], [2, 2]]`.
    public static func embedding(_ indices: Tensor, weight: Tensor, paddingIdx: Int? = nil) -> Tensor {
        precondition(weight.rank == 2, "embedding: weight must be [numEmbeddings, dim], got shape \(weight.shape)")
        let (rows, dim) = (weight.shape[0], weight.shape[1])
        let idx: [Int] = indices.scalars.map { v in
            precondition(v.isFinite && v == v.rounded() && v >= 0 && Int(v) < rows,
                         "embedding: index \(v) is not an integer in 0..<\(rows) (weight \(weight.shape))")
            return Int(v)
        }
        if let p = paddingIdx {
            precondition(p >= 0 && p < rows, "embedding: padding_idx \(p) outside 0..<\(rows)")
        }
        let out = Tensor.empty(indices.shape + [dim])
        let wp = weight.storage.pointer, op = out.storage.pointer
        for (i, r) in idx.enumerated() { (op + i * dim).update(from: wp + r * dim, count: dim) }
        return Autograd.record("embedding", output: out, inputs: [weight]) { g in
            let gw = Tensor.zeros([rows, dim])
            let gp = g.storage.pointer, dst = gw.storage.pointer
            for (i, r) in idx.enumerated() where r != paddingIdx {
                let s = gp + i * dim, d = dst + r * dim
                for j in 0..<dim { d[j] += s[j] }
            }
            return [gw]
        }
    }
}
