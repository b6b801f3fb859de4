/// Shape operations. `reshape`/`view`/`flatten`/`squeeze`/`unsqueeze` share storage; `permute`,
/// `transpose`, `narrow`, `expand`, `cat` and `stack` return contiguous copies.
extension Tensor {
    /// Same elements, new shape (one dimension may be `-1`). Shares storage (a view).
    public func reshape(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let inferred = target.indices.filter { target[$0] == -1 }
        precondition(inferred.count <= 1, "reshape: more than one -1 in \(newShape)")
        if let i = inferred.first {
            let known = target.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshape: cannot reshape \(shape) into \(newShape)")
            target[i] = count / known
        }
        precondition(
            ShapeMath.count(target) == count,
            "reshape: shape \(newShape) is invalid for input of shape \(shape) (\(count) elements)")
        if target == shape { return self }
        let out = Tensor(shape: target, storage: storage)
        let inShape = shape
        return Autograd.record("reshape", output: out, inputs: [self]) { g in [g.reshape(inShape)] }
    }

    /// Alias of `reshape` (PyTorch `view`; storage is always contiguous here).
    public func view(_ newShape: [Int]) -> Tensor { reshape(newShape) }

    /// Merges dimensions `startDim...endDim` into one.
    public func flatten(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let s = ShapeMath.normalize(dim: startDim, rank: rank), e = ShapeMath.normalize(dim: endDim, rank: rank)
        precondition(s <= e, "flatten: startDim \(startDim) after endDim \(endDim) for shape \(shape)")
        let merged = shape[s...e].reduce(1, *)
        return reshape(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Inserts a dimension of size 1 at `dim`.
    public func unsqueeze(_ dim: Int) -> Tensor {
        let d = ShapeMath.normalize(dim: dim, rank: rank + 1)
        var s = shape
        s.insert(1, at: d)
        return reshape(s)
    }

    /// Removes dimension `dim` if it has size 1.
    public func squeeze(_ dim: Int) -> Tensor {
        let d = ShapeMath.normalize(dim: dim, rank: rank)
        guard shape[d] == 1 else { return self }
        var s = shape
        s.remove(at: d)
        return reshape(s)
    }

    /// Reorders dimensions: `out.shape[i] = shape[dims[i]]`.
    public func permute(_ dims: [Int]) -> Tensor {
        precondition(dims.count == rank, "permute: \(dims) does not match rank of shape \(shape)")
        let ds = dims.map { ShapeMath.normalize(dim: $0, rank: rank) }
        precondition(Set(ds).count == rank, "permute: \(dims) is not a permutation")
        if ds == Array(0..<rank) { return self }
        let outShape = ds.map { shape[$0] }
        let out = Tensor.empty(outShape)
        let inStrides = strides
        let srcStrides = ds.map { inStrides[$0] }
        Kernels.strideCopy(from: storage.pointer, shape: outShape, strides: srcStrides, to: out.storage.pointer)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in ds.enumerated() { inverse[d] = i }
        return Autograd.record("permute", output: out, inputs: [self]) { g in [g.permute(inverse)] }
    }

    /// Swaps two dimensions.
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var ds = Array(0..<rank)
        ds.swapAt(ShapeMath.normalize(dim: a, rank: rank), ShapeMath.normalize(dim: b, rank: rank))
        return permute(ds)
    }

    /// Transpose of a matrix.
    public var t: Tensor {
        precondition(rank == 2, "t: expects a matrix, got shape \(shape)")
        return transpose(0, 1)
    }

    /// Elements `start..<start+length` along `dim` (`torch.narrow`).
    public func narrow(dim: Int, start: Int, length: Int) -> Tensor {
        let d = ShapeMath.normalize(dim: dim, rank: rank)
        precondition(
            start >= 0 && length >= 0 && start + length <= shape[d],
            "narrow: range \(start)..<\(start + length) out of bounds for dimension \(dim) of shape \(shape)")
        var outShape = shape
        outShape[d] = length
        let out = Tensor.empty(outShape)
        let (outer, full, inner) = Kernels.split(shape, d, d)
        let src = storage.pointer, dst = out.storage.pointer
        for o in 0..<outer {
            (dst + o * length * inner).update(from: src + (o * full + start) * inner, count: length * inner)
        }
        let inShape = shape
        return Autograd.record("narrow", output: out, inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let pg = g.storage.pointer, px = gx.storage.pointer
            for o in 0..<outer {
                (px + (o * full + start) * inner).update(from: pg + o * length * inner, count: length * inner)
            }
            return [gx]
        }
    }

    /// Broadcasts to `newShape` (a copy; `-1` keeps a dimension).
    public func expand(_ newShape: [Int]) -> Tensor {
        let off = newShape.count - rank
        precondition(off >= 0, "expand: target \(newShape) has lower rank than \(shape)")
        let target = newShape.enumerated().map { i, d in d == -1 ? shape[i - off] : d }
        if target == shape { return self }
        let out = Kernels.broadcast(self, to: target)
        let inShape = shape
        return Autograd.record("expand", output: out, inputs: [self]) { g in [g.sum(toShape: inShape)] }
    }

    /// Self (storage is always contiguous); kept for PyTorch familiarity.
    public func contiguous() -> Tensor { self }

    /// Concatenates along `dim`; all other dimensions must match.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "cat: expects at least one tensor")
        let first = tensors[0]
        let d = ShapeMath.normalize(dim: dim, rank: first.rank)
        for t in tensors {
            precondition(
                t.rank == first.rank && t.shape.enumerated().allSatisfy { $0.offset == d || $0.element == first.shape[$0.offset] },
                "cat: shapes \(tensors.map(\.shape)) differ outside dimension \(dim)")
        }
        var outShape = first.shape
        outShape[d] = tensors.reduce(0) { $0 + $1.shape[d] }
        let out = Tensor.empty(outShape)
        let (outer, total, inner) = Kernels.split(outShape, d, d)
        var start = 0
        let dst = out.storage.pointer
        var starts: [Int] = []
        for t in tensors {
            starts.append(start)
            let len = t.shape[d]
            let src = t.storage.pointer
            for o in 0..<outer {
                (dst + (o * total + start) * inner).update(from: src + o * len * inner, count: len * inner)
            }
            start += len
        }
        let lengths = tensors.map { $0.shape[d] }
        return Autograd.record("cat", output: out, inputs: tensors) { g in
            zip(starts, lengths).map { s, l in g.narrow(dim: d, start: s, length: l) }
        }
    }

    /// Stacks equally shaped tensors along a new dimension `dim`.
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: expects at least one tensor")
        let shape0 = tensors[0].shape
        precondition(tensors.allSatisfy { $0.shape == shape0 }, "stack: shapes differ: \(tensors.map(\.shape))")
        let d = ShapeMath.normalize(dim: dim, rank: shape0.count + 1)
        return cat(tensors.map { $0.unsqueeze(d) }, dim: d)
    }
}

extension Kernels {
    /// Copies a strided view (`strides` in source elements, per output dimension) into contiguous
    /// memory.
    static func strideCopy(from src: UnsafeMutablePointer<Float>, shape: [Int], strides: [Int], to dst: UnsafeMutablePointer<Float>) {
        let n = ShapeMath.count(shape)
        if n == 0 { return }
        let rank = shape.count
        let inner = shape[rank - 1], sInner = strides[rank - 1]
        let rows = n / inner
        Parallel.forRanges(rows, costPerItem: inner) { r in
            var idx = [Int](repeating: 0, count: rank)
            for row in r {
                var rem = row, off = 0
                var d = rank - 2
                while d >= 0 {
                    idx[d] = rem % shape[d]
                    rem /= shape[d]
                    off += idx[d] * strides[d]
                    d -= 1
                }
                let out = dst + row * inner
                if sInner == 1 {
                    out.update(from: src + off, count: inner)
                } else {
                    for j in 0..<inner { out[j] = src[off + j * sInner] }
                }
            }
        }
    }
}
