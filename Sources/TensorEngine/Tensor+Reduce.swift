/// Reductions: sum, mean, max/min/amax/amin, argmax, and the broadcast-undoing `sum(toShape:)`.
extension Tensor {
    func normalizedDims(_ dims: [Int]) -> [Int] {
        Array(Set(dims.map { ShapeMath.normalize(dim: $0, rank: rank, "for shape \(shape)") })).sorted()
    }

    /// Sum over `dims` (all dimensions when empty would be ambiguous; use `sum()`).
    ///
    /// Shapes: `[2, 3, 4].sum(dims: [1]) -> [2, 4]`, with `keepDim` `-> [2, 1, 4]`.
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        let ds = normalizedDims(dims)
        var out = self
        Autograd.noGrad {
            // Reduce maximal runs of adjacent dimensions, from the last run to the first.
            var runs: [(Int, Int)] = []
            for d in ds {
                if let last = runs.last, last.1 == d - 1 { runs[runs.count - 1].1 = d } else { runs.append((d, d)) }
            }
            var t = self
            for (lo, hi) in runs.reversed() { t = Kernels.sumRun(t, lo, hi) }
            out = t === self ? self.copy() : t
        }
        var keptShape = shape
        for d in ds { keptShape[d] = 1 }
        let finalShape = keepDim ? keptShape : shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element)
        let result = Tensor(shape: finalShape, storage: out.storage)
        let inShape = shape
        return Autograd.record("sum", output: result, inputs: [self]) { g in
            [Kernels.broadcast(g.reshape(keptShape), to: inShape)]
        }
    }

    /// Sum of all elements, a scalar.
    public func sum() -> Tensor {
        rank == 0 ? self.reshape([]) * 1 : sum(dims: Array(0..<rank))
    }

    /// Sum over one dimension.
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// Mean over `dims`.
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        let ds = normalizedDims(dims)
        let n = ds.reduce(1) { $0 * shape[$1] }
        return sum(dims: ds, keepDim: keepDim) / Float(n)
    }

    /// Mean of all elements.
    public func mean() -> Tensor { rank == 0 ? self * 1 : mean(dims: Array(0..<rank)) }

    /// Reduces a broadcast gradient back to `target` by summing over the broadcast dimensions.
    public func sum(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let extra = rank - target.count
        precondition(extra >= 0, "sum(toShape:): cannot reduce \(shape) to larger rank \(target)")
        var dims: [Int] = Array(0..<extra)
        for (i, d) in target.enumerated() where d == 1 && shape[i + extra] != 1 { dims.append(i + extra) }
        var t = self
        if !dims.isEmpty { t = t.sum(dims: dims, keepDim: true) }
        return t.reshape(target)
    }

    /// Maximum over `dim` and the index of the first maximum (`torch.max(x, dim)`). NaN propagates.
    /// The gradient flows to the selected element.
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(dim: dim, keepDim: keepDim, max: true)
    }

    /// Minimum over `dim` and its index.
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(dim: dim, keepDim: keepDim, max: false)
    }

    func extremum(dim: Int, keepDim: Bool, max: Bool) -> (values: Tensor, indices: Tensor) {
        let d = ShapeMath.normalize(dim: dim, rank: rank, "for shape \(shape)")
        let x = rank == 0 ? self.reshape([1]) : self
        let (vals, idx) = Kernels.extremum(x, dim: rank == 0 ? 0 : d, max: max)
        var outShape = shape
        if rank > 0 { if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) } }
        let values = Tensor(shape: outShape, storage: vals.storage)
        let indices = Tensor(shape: outShape, idx.map(Float.init))
        let inShape = x.shape
        let (outer, reduced, inner) = Kernels.split(inShape, rank == 0 ? 0 : d, rank == 0 ? 0 : d)
        let selfShape = shape
        Autograd.record(max ? "max" : "min", output: values, inputs: [self]) { g in
            let gx = Tensor.zeros(selfShape)
            let pg = g.storage.pointer, px = gx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    px[(o * reduced + idx[o * inner + i]) * inner + i] = pg[o * inner + i]
                }
            }
            return [gx]
        }
        return (values, indices)
    }

    /// Index of the maximum along `dim`.
    public func argmax(dim: Int, keepDim: Bool = false) -> Tensor {
        Autograd.noGrad { max(dim: dim, keepDim: keepDim).indices }
    }

    /// Maximum over all elements (`torch.max(x)`); the gradient is shared evenly among ties, as
    /// in PyTorch.
    public func max() -> Tensor { amax(dims: Array(0..<rank)) }

    /// Minimum over all elements.
    public func min() -> Tensor { amin(dims: Array(0..<rank)) }

    /// Maximum over `dims` (`torch.amax`): the gradient is split evenly between tied maxima.
    public func amax(dims: [Int], keepDim: Bool = false) -> Tensor { aextremum(dims, keepDim, max: true) }

    /// Minimum over `dims` (`torch.amin`).
    public func amin(dims: [Int], keepDim: Bool = false) -> Tensor { aextremum(dims, keepDim, max: false) }

    func aextremum(_ dims: [Int], _ keepDim: Bool, max wantMax: Bool) -> Tensor {
        precondition(count > 0, "\(wantMax ? "amax" : "amin"): empty tensor of shape \(shape)")
        let ds = rank == 0 ? [] : normalizedDims(dims)
        var t = self.detach()
        for d in ds.reversed() {
            let r = Kernels.extremum(t, dim: d, max: wantMax)
            t = r.values
        }
        var keptShape = shape
        for d in ds { keptShape[d] = 1 }
        let finalShape = keepDim ? keptShape : shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element)
        let result = Tensor(shape: finalShape, storage: t === self ? self.copy().storage : t.storage)
        let input = self.detach()
        let kept = Tensor(shape: keptShape, storage: result.storage)
        return Autograd.record(wantMax ? "amax" : "amin", output: result, inputs: [self]) { g in
            let mask = Kernels.zip(input, kept) { x, m in x == m ? 1 : 0 }
            let counts = ds.isEmpty ? mask : Kernels.sumKeep(mask, ds)
            let gk = g.reshape(keptShape)
            let share = Kernels.zip(gk, counts) { a, c in a / c }
            return [Kernels.zip(mask, share) { m, s in m * s }]
        }
    }
}

extension Kernels {
    /// Sum over `dims` keeping them (no autograd).
    static func sumKeep(_ x: Tensor, _ dims: [Int]) -> Tensor {
        Autograd.noGrad { x.sum(dims: dims, keepDim: true) }
    }
}
