/// Elementwise kernels: unary maps and broadcasting binary/ternary maps over contiguous storage.
/// These are the building blocks of every pointwise op; they allocate only the output.
///
/// Two flavours:
/// - generic over a `UnaryScalarFunction`/`BinaryScalarFunction`/`TernaryScalarFunction` struct:
///   multithreaded, and the function is inlined into every thread's loop. Use these for ops on
///   large tensors.
/// - closure-based: single-threaded (a closure cannot be inlined into a worker's copy of the
///   loop, and calling it per element costs more than the second core gains); inlined at the
///   call site, so the loop vectorises.
@usableFromInline
enum Kernels {
    // MARK: generic, multithreaded

    /// `out[i] = f(x[i])`.
    @inline(__always)
    static func map<F: UnaryScalarFunction>(_ x: Tensor, _ f: F) -> Tensor { x.map(f) }

    /// `out = f(a, b)` with broadcasting.
    @inline(__always)
    static func zip<F: BinaryScalarFunction>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor { Tensor.zipMap(a, b, f) }

    /// `out = f(a, b)` where the shapes differ and broadcast.
    @inlinable
    static func zipBroadcasting<F: BinaryScalarFunction>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor {
        let outShape = ShapeMath.broadcast(a.shape, b.shape)
        let out = Tensor.empty(outShape)
        let n = out.count
        if n == 0 { return out }
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        if a.count == n && b.count == n {
            Parallel.forRanges(n) { r in for i in r { po[i] = f(pa[i], pb[i]) } }
            return out
        }
        if b.count == 1 && a.count == n {
            let s = pb[0]
            Parallel.forRanges(n) { r in for i in r { po[i] = f(pa[i], s) } }
            return out
        }
        if a.count == 1 && b.count == n {
            let s = pa[0]
            Parallel.forRanges(n) { r in for i in r { po[i] = f(s, pb[i]) } }
            return out
        }
        let plan = BroadcastPlan(outShape: outShape, operands: [a.shape, b.shape])
        let inner = plan.shape.last!
        let sa = plan.strides[0].last!, sb = plan.strides[1].last!
        let outer = n / inner
        Parallel.forRanges(outer, costPerItem: inner) { r in
            var oa = 0, ob = 0
            offsets(plan, r.lowerBound, &oa, &ob)
            for o in r {
                let base = o * inner
                if sa == 1 && sb == 0 {
                    let bv = pb[ob]
                    for j in 0..<inner { po[base + j] = f(pa[oa + j], bv) }
                } else if sa == 0 && sb == 1 {
                    let av = pa[oa]
                    for j in 0..<inner { po[base + j] = f(av, pb[ob + j]) }
                } else if sa == 1 && sb == 1 {
                    for j in 0..<inner { po[base + j] = f(pa[oa + j], pb[ob + j]) }
                } else {
                    for j in 0..<inner { po[base + j] = f(pa[oa + j * sa], pb[ob + j * sb]) }
                }
                advance(plan, o + 1, &oa, &ob)
            }
        }
        return out
    }

    /// `out = f(a, b, c)` with broadcasting (operands of another shape are first expanded).
    static func zip3<F: TernaryScalarFunction>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ f: F) -> Tensor {
        let shape = a.shape == b.shape && b.shape == c.shape
            ? a.shape : ShapeMath.broadcast(ShapeMath.broadcast(a.shape, b.shape), c.shape)
        let ea = broadcast(a, to: shape), eb = broadcast(b, to: shape), ec = broadcast(c, to: shape)
        let out = Tensor.empty(shape)
        let pa = ea.storage.pointer, pb = eb.storage.pointer, pc = ec.storage.pointer
        let po = out.storage.pointer
        Parallel.forRanges(out.count) { r in for i in r { po[i] = f(pa[i], pb[i], pc[i]) } }
        return out
    }

    // MARK: closure-based, single-threaded

    /// `out[i] = f(x[i])`.
    @inline(__always)
    static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let out = Tensor.empty(x.shape)
        let src = x.storage.pointer
        let dst = out.storage.pointer
        for i in 0..<x.count { dst[i] = f(src[i]) }
        return out
    }

    /// `out = f(a, b)` with broadcasting.
    @inline(__always)
    static func zip(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        let outShape = a.shape == b.shape ? a.shape : ShapeMath.broadcast(a.shape, b.shape)
        let out = Tensor.empty(outShape)
        let n = out.count
        if n == 0 { return out }
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        if a.count == n && b.count == n {
            for i in 0..<n { po[i] = f(pa[i], pb[i]) }
            return out
        }
        if b.count == 1 && a.count == n {
            let s = pb[0]
            for i in 0..<n { po[i] = f(pa[i], s) }
            return out
        }
        if a.count == 1 && b.count == n {
            let s = pa[0]
            for i in 0..<n { po[i] = f(s, pb[i]) }
            return out
        }
        let plan = BroadcastPlan(outShape: outShape, operands: [a.shape, b.shape])
        let inner = plan.shape.last!
        let sa = plan.strides[0].last!, sb = plan.strides[1].last!
        let outer = n / inner
        var oa = 0, ob = 0
        offsets(plan, 0, &oa, &ob)
        for o in 0..<outer {
            let base = o * inner
            for j in 0..<inner { po[base + j] = f(pa[oa + j * sa], pb[ob + j * sb]) }
            advance(plan, o + 1, &oa, &ob)
        }
        return out
    }

    /// `out = f(a, b, c)` with broadcasting (all three are first expanded to the output shape).
    @inline(__always)
    static func zip3(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ f: (Float, Float, Float) -> Float) -> Tensor {
        let shape = a.shape == b.shape && b.shape == c.shape
            ? a.shape : ShapeMath.broadcast(ShapeMath.broadcast(a.shape, b.shape), c.shape)
        let ea = broadcast(a, to: shape), eb = broadcast(b, to: shape), ec = broadcast(c, to: shape)
        let out = Tensor.empty(shape)
        let pa = ea.storage.pointer, pb = eb.storage.pointer, pc = ec.storage.pointer
        let po = out.storage.pointer
        for i in 0..<out.count { po[i] = f(pa[i], pb[i], pc[i]) }
        return out
    }

    // MARK: broadcasting layout

    /// Broadcast layout of operands against an output shape, with adjacent dimensions merged
    /// where every operand is contiguous across them.
    @usableFromInline
    struct BroadcastPlan {
        @usableFromInline var shape: [Int]
        @usableFromInline var strides: [[Int]]

        @inlinable
        init(outShape: [Int], operands: [[Int]]) {
            let n = outShape.count
            var strides: [[Int]] = operands.map { s in
                var st = [Int](repeating: 0, count: n)
                let real = ShapeMath.strides(s)
                for i in 0..<s.count {
                    let od = i + (n - s.count)
                    st[od] = s[i] == 1 ? 0 : real[i]
                }
                return st
            }
            var shape = outShape
            // Merge dimension i into i+1 when every operand satisfies stride[i] == stride[i+1]*shape[i+1].
            var i = shape.count - 2
            while i >= 0 {
                let canMerge = strides.allSatisfy { $0[i] == $0[i + 1] * shape[i + 1] }
                if canMerge || shape[i] == 1 {
                    shape[i + 1] *= shape[i]
                    shape.remove(at: i)
                    for k in 0..<strides.count { strides[k].remove(at: i) }
                }
                i -= 1
            }
            if shape.isEmpty {
                shape = [1]
                strides = strides.map { _ in [0] }
            }
            self.shape = shape
            self.strides = strides
        }
    }

    /// Operand offsets of outer row `row` (all dimensions but the last).
    @inlinable @inline(__always)
    static func offsets(_ plan: BroadcastPlan, _ row: Int, _ oa: inout Int, _ ob: inout Int) {
        var rem = row
        oa = 0
        ob = 0
        var d = plan.shape.count - 2
        while d >= 0 {
            let ix = rem % plan.shape[d]
            rem /= plan.shape[d]
            oa += ix * plan.strides[0][d]
            ob += ix * plan.strides[1][d]
            d -= 1
        }
    }

    @inlinable @inline(__always)
    static func advance(_ plan: BroadcastPlan, _ nextRow: Int, _ oa: inout Int, _ ob: inout Int) {
        // Recompute only when a carry happens beyond the second-to-last dimension.
        let d2 = plan.shape.count - 2
        if d2 < 0 { return }
        if nextRow % plan.shape[d2] != 0 {
            oa += plan.strides[0][d2]
            ob += plan.strides[1][d2]
        } else {
            offsets(plan, nextRow, &oa, &ob)
        }
    }

    /// Materialises `x` broadcast to `shape` (a contiguous copy; `x` itself when shapes agree).
    static func broadcast(_ x: Tensor, to shape: [Int]) -> Tensor {
        if x.shape == shape { return x }
        precondition(
            ShapeMath.broadcast(x.shape, shape) == shape, "cannot expand shape \(x.shape) to \(shape)")
        let out = Tensor.empty(shape)
        let n = out.count
        if n == 0 { return out }
        let px = x.storage.pointer, po = out.storage.pointer
        if x.count == 1 {
            po.update(repeating: px[0], count: n)
            return out
        }
        let plan = BroadcastPlan(outShape: shape, operands: [x.shape, shape])
        let inner = plan.shape.last!
        let sx = plan.strides[0].last!
        Parallel.forRanges(n / inner, costPerItem: inner) { r in
            var ox = 0, unused = 0
            offsets(plan, r.lowerBound, &ox, &unused)
            for o in r {
                let base = o * inner
                if sx == 0 {
                    let v = px[ox]
                    for j in 0..<inner { po[base + j] = v }
                } else {
                    for j in 0..<inner { po[base + j] = px[ox + j * sx] }
                }
                advance(plan, o + 1, &ox, &unused)
            }
        }
        return out
    }
}
