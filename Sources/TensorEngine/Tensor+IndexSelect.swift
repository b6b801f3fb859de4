/// Picks slices along one dimension by index (`torch.index_select`): the gather behind ONNX
/// `Gather`, strided `Slice` and `Resize`.
///
/// For `x` of shape `[..., n, ...]` (dimension `dim` of size `n`) and `indices` (each in
/// `0..<n`, repeats allowed), the result has shape `[..., indices.count, ...]` and
/// `y[..., j, ...] = x[..., indices[j], ...]`. The gradient adds each output slice back into the
/// input slice it came from (so repeated indices accumulate).
///
/// ```swift
/// let x = Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
/// x.indexSelect(dim: 1, [2, 0, 0])   // [[3, 1, 1], [6, 4, 4]]
/// ```
extension Tensor {
    public func indexSelect(dim: Int, _ indices: [Int]) -> Tensor {
        let d = ShapeMath.normalize(dim: dim, rank: rank, "indexSelect")
        let n = shape[d]
        precondition(indices.allSatisfy { $0 >= 0 && $0 < n }, "indexSelect: indices \(indices) out of range 0..<\(n) for dimension \(dim) of shape \(shape)")
        var outShape = shape
        outShape[d] = indices.count
        let out = Tensor.empty(outShape)
        let (outer, _, inner) = Kernels.split(shape, d, d)
        let m = indices.count
        let src = storage.pointer, dst = out.storage.pointer
        for o in 0..<outer {
            for (j, i) in indices.enumerated() {
                (dst + (o * m + j) * inner).update(from: src + (o * n + i) * inner, count: inner)
            }
        }
        let inShape = shape
        return Autograd.record("index_select", output: out, inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let pg = g.storage.pointer, px = gx.storage.pointer
            for o in 0..<outer {
                for (j, i) in indices.enumerated() {
                    let s = pg + (o * m + j) * inner, t = px + (o * n + i) * inner
                    for k in 0..<inner { t[k] += s[k] }
                }
            }
            return [gx]
        }
    }
}
