/// Reduction kernels over an `outer × reduced × inner` view of contiguous storage.
extension Kernels {
    /// Splits `shape` around the contiguous run of dimensions `lo...hi`.
    static func split(_ shape: [Int], _ lo: Int, _ hi: Int) -> (outer: Int, reduced: Int, inner: Int) {
        var outer = 1, reduced = 1, inner = 1
        for (i, d) in shape.enumerated() {
            if i < lo { outer *= d } else if i <= hi { reduced *= d } else { inner *= d }
        }
        return (outer, reduced, inner)
    }

    /// Elements per block of a long contiguous sum.
    static let sumBlock = 4096

    /// Sum of `n ≤ sumBlock` floats with sixteen interleaved `Float` lanes (each adds at most 256
    /// terms), combined in `Double`.
    @inline(__always)
    static func blockSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var v0 = SIMD8<Float>(), v1 = SIMD8<Float>()
        let raw = UnsafeRawPointer(p)
        var j = 0
        while j + 16 <= n {
            v0 += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            v1 += raw.loadUnaligned(fromByteOffset: (j + 8) * 4, as: SIMD8<Float>.self)
            j += 16
        }
        var acc: Double = 0
        for i in 0..<8 { acc += Double(v0[i]) + Double(v1[i]) }
        while j < n { acc += Double(p[j]); j += 1 }
        return acc
    }

    /// Sums over the run of dimensions `lo...hi` (blocks of `Float` partial sums combined in
    /// `Double`), keeping them as size 1. The block split is fixed, so the result does not depend
    /// on the thread count.
    static func sumRun(_ x: Tensor, _ lo: Int, _ hi: Int) -> Tensor {
        var outShape = x.shape
        for d in lo...hi { outShape[d] = 1 }
        let (outer, reduced, inner) = split(x.shape, lo, hi)
        let out = Tensor.empty(outShape)
        let src = x.storage.pointer, dst = out.storage.pointer
        if inner == 1 && outer < Parallel.threadCount * 4 && reduced >= 1 << 16 {
            // Few long rows: split every row into fixed blocks, summed in parallel.
            let blocks = (reduced + sumBlock - 1) / sumBlock
            var partial = [Double](repeating: 0, count: outer * blocks)
            partial.withUnsafeMutableBufferPointer { pb in
                let pp = pb.baseAddress!
                Parallel.forRanges(outer * blocks, costPerItem: sumBlock) { r in
                    for i in r {
                        let o = i / blocks, b = i % blocks
                        let lo = b * sumBlock
                        pp[i] = blockSum(src + o * reduced + lo, Swift.min(sumBlock, reduced - lo))
                    }
                }
            }
            for o in 0..<outer {
                var acc: Double = 0
                for b in 0..<blocks { acc += partial[o * blocks + b] }
                dst[o] = Float(acc)
            }
        } else if inner == 1 {
            Parallel.forRanges(outer, costPerItem: reduced) { r in
                for o in r {
                    let base = src + o * reduced
                    var acc: Double = 0
                    var lo = 0
                    while lo < reduced {
                        acc += blockSum(base + lo, Swift.min(sumBlock, reduced - lo))
                        lo += sumBlock
                    }
                    dst[o] = Float(acc)
                }
            }
        } else {
            Parallel.forRanges(outer, costPerItem: reduced * inner) { r in
                var acc = [Double](repeating: 0, count: inner)
                acc.withUnsafeMutableBufferPointer { a in
                    for o in r {
                        for i in 0..<inner { a[i] = 0 }
                        for j in 0..<reduced {
                            let row = src + (o * reduced + j) * inner
                            for i in 0..<inner { a[i] += Double(row[i]) }
                        }
                        for i in 0..<inner { dst[o * inner + i] = Float(a[i]) }
                    }
                }
            }
        }
        return out
    }

    /// Max (or min) over dimension `dim` with the index of the first extreme element; NaN wins,
    /// as in PyTorch.
    static func extremum(_ x: Tensor, dim: Int, max wantMax: Bool) -> (values: Tensor, indices: [Int]) {
        var outShape = x.shape
        outShape[dim] = 1
        let (outer, reduced, inner) = split(x.shape, dim, dim)
        precondition(reduced > 0, "\(wantMax ? "max" : "min"): cannot reduce an empty dimension \(dim) of shape \(x.shape)")
        let out = Tensor.empty(outShape)
        var indices = [Int](repeating: 0, count: outer * inner)
        let src = x.storage.pointer, dst = out.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = src[o * reduced * inner + i]
                var bestJ = 0
                if !best.isNaN {
                    for j in 1..<max(reduced, 1) {
                        let v = src[(o * reduced + j) * inner + i]
                        if v.isNaN { best = v; bestJ = j; break }
                        if wantMax ? v > best : v < best { best = v; bestJ = j }
                    }
                }
                dst[o * inner + i] = best
                indices[o * inner + i] = bestJ
            }
        }
        return (out, indices)
    }
}
