/// `torch.kthvalue`: the k-th smallest element (1-based) along a dimension, by selection
/// (average linear time), with the gradient routed to the selected element.
extension Tensor {
    /// The k-th smallest value along `dim` and its index (the first occurrence among equal
    /// values). NaN counts as larger than every number, as in PyTorch.
    ///
    /// Shapes: `[2, 5].kthvalue(3, dim: 1) -> ([2], [2])`; with `keepDim`, `[2, 1]`.
    public func kthvalue(_ k: Int, dim: Int = -1, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        let x = rank == 0 ? reshape([1]) : self
        let d = ShapeMath.normalize(dim: dim, rank: x.rank, "for shape \(shape)")
        let (outer, n, inner) = Kernels.split(x.shape, d, d)
        precondition(k >= 1 && k <= n, "kthvalue: k = \(k) is out of range for dimension \(dim) of size \(n) (shape \(shape))")
        let rows = outer * inner
        var values = [Float](repeating: 0, count: rows)
        var indices = [Int](repeating: 0, count: rows)
        let src = x.storage.pointer
        var scratch = [Float](repeating: 0, count: n)
        scratch.withUnsafeMutableBufferPointer { buf in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var nanCount = 0, m = 0
                    for j in 0..<n {
                        let v = src[base + j * inner]
                        if v.isNaN { nanCount += 1 } else { buf[m] = v; m += 1 }
                    }
                    let row = o * inner + i
                    if k > m {
                        values[row] = .nan
                        var seen = 0
                        for j in 0..<n where src[base + j * inner].isNaN {
                            seen += 1
                            if seen == k - m { indices[row] = j; break }
                        }
                        continue
                    }
                    let v = Kernels.select(buf.baseAddress!, m, k - 1)
                    values[row] = v
                    for j in 0..<n where src[base + j * inner] == v { indices[row] = j; break }
                }
            }
        }
        var outShape = x.shape
        if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) }
        if rank == 0 { outShape = [] }
        let result = Tensor(shape: outShape, values)
        let idx = Tensor(shape: outShape, indices.map(Float.init))
        let inShape = shape
        Autograd.record("kthvalue", output: result, inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let pg = g.storage.pointer, px = gx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    let row = o * inner + i
                    px[o * n * inner + indices[row] * inner + i] += pg[row]
                }
            }
            return [gx]
        }
        return (result, idx)
    }
}

extension Kernels {
    /// Quickselect (Hoare partition, median of three): the value of rank `k` (0-based) among the
    /// first `n` elements of `a`, which are reordered. No NaNs allowed.
    static func select(_ a: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int) -> Float {
        var lo = 0, hi = n - 1
        while hi > lo {
            if hi - lo < 16 {
                for i in (lo + 1)...hi {
                    let v = a[i]
                    var j = i - 1
                    while j >= lo && a[j] > v { a[j + 1] = a[j]; j -= 1 }
                    a[j + 1] = v
                }
                return a[k]
            }
            let mid = lo + (hi - lo) / 2
            if a[mid] < a[lo] { swap(&a[mid], &a[lo]) }
            if a[hi] < a[lo] { swap(&a[hi], &a[lo]) }
            if a[hi] < a[mid] { swap(&a[hi], &a[mid]) }
            let pivot = a[mid]
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    let t = a[i]; a[i] = a[j]; a[j] = t
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return a[k] }
        }
        return a[k]
    }
}
