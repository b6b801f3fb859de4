import Foundation

/// `torch.kthvalue`: the k-th smallest element (1-based) along a dimension, found by selection
/// (linear time), with the gradient routed to the selected element.
///
/// Values are exact. Indices match PyTorch's CPU kernel also with ties: the value is found with a
/// fast selection (radix select on large rows); when it occurs more than once, PyTorch's own
/// quickselect (median of three, on values and indices) is replayed on the row to pick the same
/// index. NaN counts as larger than every number, as in PyTorch.
extension Tensor {
    /// The k-th smallest value along `dim` and its index, `torch.kthvalue(x, k, dim, keepdim)`.
    /// For the flattened form use `x.reshape([-1]).kthvalue(k)`.
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
        values.withUnsafeMutableBufferPointer { vb in
            indices.withUnsafeMutableBufferPointer { ib in
                let vp = vb.baseAddress!, ip = ib.baseAddress!
                let doRows = { (range: Range<Int>) in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: inner == 1 ? 1 : n)
                    defer { scratch.deallocate() }
                    for row in range {
                        let o = row / inner, i = row % inner
                        let base = o * n * inner + i
                        let rowPtr: UnsafePointer<Float>
                        if inner == 1 {
                            rowPtr = UnsafePointer(src + base)
                        } else {
                            for j in 0..<n { scratch[j] = src[base + j * inner] }
                            rowPtr = UnsafePointer(scratch)
                        }
                        let (v, idx) = Kernels.kthSmallest(rowPtr, n, k - 1)
                        vp[row] = v
                        ip[row] = idx
                    }
                }
                if n >= Kernels.radixThreshold {
                    doRows(0..<rows)  // each row is multithreaded inside
                } else {
                    Parallel.forRanges(rows, costPerItem: 4 * n) { r in doRows(r) }
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
    /// Rows at least this long use radix select (multithreaded) instead of quickselect.
    static let radixThreshold = 1 << 15

    /// `gt_or_nan` of PyTorch's kthvalue: `x > y`, with NaN above every number.
    @inline(__always) static func gtOrNaN(_ x: Float, _ y: Float) -> Bool { (x.isNaN && !y.isNaN) || x > y }

    /// The element of rank `k` (0-based) among `x[0..<n]` and the index PyTorch returns for it.
    static func kthSmallest(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> (Float, Int) {
        if n <= 32 { return torchSelect(x, n, k) }
        if n >= 1 << 14, let found = sampleSelect(x, n, k) { return found }
        let v: Float
        if n >= radixThreshold {
            v = radixSelect(x, n, k)
        } else {
            v = Workspace.withBuffer(n) { buf in
                var m = 0
                for j in 0..<n where !x[j].isNaN { buf[m] = x[j]; m += 1 }
                return k >= m ? Float.nan : select(buf, m, k)
            }
        }
        // Unique value: its only position is the answer.
        let (count, first) = countEqual(x, n, v)
        if count == 1 { return (x[first], first) }
        return torchSelect(x, n, k)
    }

    /// Floyd–Rivest style selection: order statistics of a deterministic pseudo-random sample
    /// bracket rank `k` with `[lo, hi]`; one (multithreaded) pass counts the elements below `lo`
    /// and collects those inside the bracket with their positions, and the answer is selected
    /// among those few. Returns `nil` when the bracket misses rank `k` (an unlucky sample, or a
    /// NaN answer), so the caller falls back to radix select.
    static func sampleSelect(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> (Float, Int)? {
        let p = (Double(k) + 0.5) / Double(n)
        let s = Swift.min(n / 4, Swift.max(1024, Int(Foundation.pow(6 * Double(n), 2.0 / 3.0))))
        var sample = [Float](repeating: 0, count: s)
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<s {
            h ^= h << 13; h ^= h >> 7; h ^= h << 17
            sample[i] = x[Int(h % UInt64(n))]
        }
        let r = p * Double(s)
        let delta = 3 * (Double(s) * p * (1 - p)).squareRoot() + 3
        // A bracket end beyond the sample is open (±inf), which keeps the tails covered.
        let loRank = Int((r - delta).rounded(.down)), hiRank = Int((r + delta).rounded(.up))
        let (lo, hi): (Float, Float) = sample.withUnsafeMutableBufferPointer { b in
            if b.contains(where: { $0.isNaN }) { return (.nan, .nan) }
            let top = Swift.min(hiRank, s - 1)
            let hiV = hiRank >= s ? Float.infinity : select(b.baseAddress!, s, top)
            // After selecting `top`, the ranks below it sit in front of it.
            let loV = loRank < 0 ? -Float.infinity : select(b.baseAddress!, top + 1, Swift.min(loRank, top))
            return (loV, hiV)
        }
        if lo.isNaN || hi.isNaN { return nil }
        // One pass: count x < lo, collect lo <= x <= hi.
        let blocks = Swift.max(1, Swift.min(64, n >> 14))
        var below = [Int](repeating: 0, count: blocks)
        var found = [[(Float, Int)]](repeating: [], count: blocks)
        below.withUnsafeMutableBufferPointer { bb in
            found.withUnsafeMutableBufferPointer { fb in
                let bp = bb.baseAddress!, fp = fb.baseAddress!
                Parallel.forRanges(blocks, costPerItem: n / blocks) { range in
                    for b in range {
                        var count = 0
                        var local: [(Float, Int)] = []
                        var j = n * b / blocks
                        let end = n * (b + 1) / blocks
                        while j < end {
                            let v = x[j]
                            if v < lo {
                                count &+= 1
                            } else if v <= hi {
                                local.append((v, j))
                            }
                            j &+= 1
                        }
                        bp[b] = count
                        fp[b] = local
                    }
                }
            }
        }
        let nBelow = below.reduce(0, +)
        let cand = found.flatMap { $0 }
        if k < nBelow || k >= nBelow + cand.count { return nil }
        var values = cand.map(\.0)
        let v = values.withUnsafeMutableBufferPointer { select($0.baseAddress!, cand.count, k - nBelow) }
        // Every element equal to v lies inside the bracket.
        var hits = 0, at = -1
        for (cv, ci) in cand where cv == v {
            hits += 1
            if at < 0 || ci < at { at = ci }
        }
        if hits == 1 { return (x[at], at) }
        return torchSelect(x, n, k)
    }

    /// Number of elements equal to `v` (NaN matches NaN) and the first position.
    static func countEqual(_ x: UnsafePointer<Float>, _ n: Int, _ v: Float) -> (Int, Int) {
        if v.isNaN {
            var count = 0, first = -1
            for j in 0..<n where x[j].isNaN {
                if first < 0 { first = j }
                count += 1
            }
            return (count, first)
        }
        let blocks = Swift.max(1, Swift.min(64, n >> 16))
        var counts = [Int](repeating: 0, count: blocks), firsts = [Int](repeating: -1, count: blocks)
        counts.withUnsafeMutableBufferPointer { cb in
            firsts.withUnsafeMutableBufferPointer { fb in
                let cp = cb.baseAddress!, fp = fb.baseAddress!
                Parallel.forRanges(blocks, costPerItem: n / blocks) { r in
                    for b in r {
                        let lo = n * b / blocks, hi = n * (b + 1) / blocks
                        var c = 0
                        for j in lo..<hi { c &+= x[j] == v ? 1 : 0 }
                        cp[b] = c
                        if c > 0 { for j in lo..<hi where x[j] == v { fp[b] = j; break } }
                    }
                }
            }
        }
        return (counts.reduce(0, +), firsts.first { $0 >= 0 } ?? -1)
    }

    /// PyTorch's CPU `quick_select_template` on a copy of the row with its indices (median of
    /// three pivot, Hoare partition), so ties resolve to the same index as `torch.kthvalue`.
    static func torchSelect(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> (Float, Int) {
        let arr = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let idx = UnsafeMutablePointer<Int>.allocate(capacity: n)
        defer { arr.deallocate(); idx.deallocate() }
        arr.initialize(from: x, count: n)
        for j in 0..<n { idx[j] = j }
        @inline(__always) func swapAt(_ i: Int, _ j: Int) {
            let t = arr[i]; arr[i] = arr[j]; arr[j] = t
            let u = idx[i]; idx[i] = idx[j]; idx[j] = u
        }
        var L = 0, R = n - 1
        while true {
            if R <= L { break }
            if R == L + 1 {
                if gtOrNaN(arr[L], arr[R]) { swapAt(L, R) }
                break
            }
            let P = L + (R - L) / 2
            swapAt(P, L + 1)
            if gtOrNaN(arr[L + 1], arr[R]) { swapAt(L + 1, R) }
            if gtOrNaN(arr[L], arr[R]) { swapAt(L, R) }
            if gtOrNaN(arr[L + 1], arr[L]) { swapAt(L + 1, L) }
            var i = L + 1, j = R
            let piv = arr[L]
            while true {
                repeat { i += 1 } while gtOrNaN(piv, arr[i])
                repeat { j -= 1 } while gtOrNaN(arr[j], piv)
                if j < i { break }
                swapAt(i, j)
            }
            swapAt(L, j)
            if j <= k { L = i }
            if j >= k { R = j - 1 }
        }
        return (arr[k], idx[k])
    }

    /// Order-preserving map of floats to unsigned keys (NaN above +inf; -0 just below +0).
    @inline(__always) static func sortKey(_ v: Float) -> UInt32 {
        let b = v.bitPattern
        let flip = UInt32(bitPattern: Int32(bitPattern: b) >> 31) | 0x8000_0000
        return v.isNaN ? 0xFFFF_FFFF : b ^ flip
    }

    @inline(__always) static func floatFromKey(_ k: UInt32) -> Float {
        k & 0x8000_0000 != 0 ? Float(bitPattern: k & 0x7FFF_FFFF) : Float(bitPattern: ~k)
    }

    /// The value of rank `k` (0-based) among `x[0..<n]` by three rounds of radix selection on the
    /// sort keys (11 + 11 + 10 bits): each round histograms the remaining candidates and keeps
    /// the bucket holding rank `k`. The first round, over all `n` elements, is multithreaded with
    /// a fixed block split, so the result does not depend on the thread count.
    static func radixSelect(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> Float {
        let bins = 2048
        let blocks = Swift.max(1, Swift.min(64, n >> 16))
        var hist = [Int32](repeating: 0, count: blocks * bins)
        hist.withUnsafeMutableBufferPointer { hb in
            let hp = hb.baseAddress!
            Parallel.forRanges(blocks, costPerItem: n / blocks) { r in
                // Four interleaved sub-histograms break the store-to-load dependency chains
                // when neighbouring elements fall into the same bucket.
                let sub = UnsafeMutablePointer<Int32>.allocate(capacity: 4 * bins)
                defer { sub.deallocate() }
                for b in r {
                    sub.initialize(repeating: 0, count: 4 * bins)
                    let lo = n * b / blocks, hi = n * (b + 1) / blocks
                    var j = lo
                    while j + 4 <= hi {
                        sub[Int(sortKey(x[j]) >> 21)] &+= 1
                        sub[bins + Int(sortKey(x[j + 1]) >> 21)] &+= 1
                        sub[2 * bins + Int(sortKey(x[j + 2]) >> 21)] &+= 1
                        sub[3 * bins + Int(sortKey(x[j + 3]) >> 21)] &+= 1
                        j += 4
                    }
                    while j < hi { sub[Int(sortKey(x[j]) >> 21)] &+= 1; j += 1 }
                    let h = hp + b * bins
                    for i in 0..<bins { h[i] = sub[i] &+ sub[bins + i] &+ sub[2 * bins + i] &+ sub[3 * bins + i] }
                }
            }
        }
        var total = [Int](repeating: 0, count: bins)
        for b in 0..<blocks { for i in 0..<bins { total[i] += Int(hist[b * bins + i]) } }
        var rank = k, bucket = 0
        while rank >= total[bucket] { rank -= total[bucket]; bucket += 1 }
        // Gather the candidates of that bucket, block by block.
        let m = total[bucket]
        var offsets = [Int](repeating: 0, count: blocks + 1)
        for b in 0..<blocks { offsets[b + 1] = offsets[b] + Int(hist[b * bins + bucket]) }
        let cand = UnsafeMutablePointer<UInt32>.allocate(capacity: Swift.max(m, 1))
        defer { cand.deallocate() }
        let top = UInt32(bucket)
        offsets.withUnsafeBufferPointer { ob in
            let op = ob.baseAddress!
            Parallel.forRanges(blocks, costPerItem: n / blocks) { r in
                for b in r {
                    var w = op[b]
                    for j in (n * b / blocks)..<(n * (b + 1) / blocks) {
                        let key = sortKey(x[j])
                        if key >> 21 == top { cand[w] = key; w += 1 }
                    }
                }
            }
        }
        // Two more rounds on the candidates.
        var count = m
        var prefix = top << 21
        for (shift, width) in [(UInt32(10), 11), (UInt32(0), 10)] {
            let nb = 1 << width
            let mask = UInt32(nb - 1)
            var h = [Int](repeating: 0, count: nb)
            for j in 0..<count { h[Int((cand[j] >> shift) & mask)] += 1 }
            var bkt = 0
            while rank >= h[bkt] { rank -= h[bkt]; bkt += 1 }
            var w = 0
            for j in 0..<count where (cand[j] >> shift) & mask == UInt32(bkt) { cand[w] = cand[j]; w += 1 }
            count = w
            prefix |= UInt32(bkt) << shift
        }
        return floatFromKey(prefix)
    }

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
