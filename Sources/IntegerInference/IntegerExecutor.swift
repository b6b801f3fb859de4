import TensorEngine

/// Runs an ``IntegerProgram`` on integer inputs: integer arithmetic only (64-bit, exact; the
/// lowering proved every accumulator bound, so nothing wraps), bit for bit what the generated C
/// computes.
///
/// ```swift
/// let out = IntegerExecutor.run(program, input: codes)   // codes: [N] + program.inputShape
/// let classes = IntegerExecutor.argmax(out)
/// ```
///
/// Results do not depend on the thread count: examples and channels are split into ranges whose
/// elements are each computed by one thread, in a fixed order.
public enum IntegerExecutor {
    /// Which requantization form to run (see ``Requantization``).
    public enum Arithmetic: String, Sendable, CaseIterable {
        /// Integer multiplier and shift: what the generated C runs.
        case fixedPoint = "fixed-point"
        /// The exact float multiplier in double precision.
        case floatScale = "float-scale"
    }

    /// Runs the program on `input` (`[N] + program.inputShape`, codes on `program.inputGrid`)
    /// and returns the output slot. `observe` is called after each step with its index and all
    /// slots so far; it may replace the step's output (a verification feeding the reference).
    public static func run(_ program: IntegerProgram, input: IntegerTensor, arithmetic: Arithmetic = .fixedPoint,
                           observe: ((Int, inout [IntegerTensor]) -> Void)? = nil) -> IntegerTensor {
        precondition(Array(input.shape.dropFirst()) == program.inputShape,
                     "IntegerExecutor: input shape \(input.shape) does not fit the program's [N] + \(program.inputShape)")
        let g = program.inputGrid
        precondition(input.data.allSatisfy { $0 >= g.min && $0 <= g.max },
                     "IntegerExecutor: input codes must lie in [\(g.min), \(g.max)]")
        var slots = [input]
        slots.reserveCapacity(program.steps.count + 1)
        for (i, step) in program.steps.enumerated() {
            let x = step.inputs.map { slots[$0] }
            slots.append(apply(step, x, arithmetic: arithmetic))
            observe?(i, &slots)
        }
        return slots[program.outputSlot]
    }

    /// Runs the program and returns every slot as computed (`computed`) and as used by the later
    /// steps (`used`): a slot listed in `force` is computed, then replaced by the given tensor
    /// (verification feeds each layer the fake-quantized model's codes this way, so a difference
    /// is local to the layer that makes it).
    public static func runAll(_ program: IntegerProgram, input: IntegerTensor, arithmetic: Arithmetic = .fixedPoint,
                              force: [Int: IntegerTensor] = [:]) -> (computed: [IntegerTensor], used: [IntegerTensor]) {
        var computed = [input]
        var used = [force[0] ?? input]
        for step in program.steps {
            let y = apply(step, step.inputs.map { used[$0] }, arithmetic: arithmetic)
            computed.append(y)
            used.append(force[computed.count - 1] ?? y)
        }
        return (computed, used)
    }

    /// Applies one step to its inputs.
    public static func apply(_ step: IntegerProgram.Step, _ x: [IntegerTensor], arithmetic: Arithmetic) -> IntegerTensor {
        let n = x[0].shape[0]
        let outShape = [n] + step.shape
        switch step.op {
        case .conv2d(let c): return conv2d(x[0], c, outShape: outShape)
        case .convTranspose2d(let c): return convTranspose2d(x[0], c, outShape: outShape)
        case .conv3d(let c): return conv3d(x[0], c, outShape: outShape)
        case .linear(let l): return linear(x[0], l)
        case .requantize(let r): return requantize(x[0], r, fixedPoint: arithmetic == .fixedPoint)
        case .maxPool2d(let p): return pool(x[0], p, outShape: outShape, mode: .max)
        case .sumPool2d(let p): return pool(x[0], p, outShape: outShape, mode: .sum)
        case .truncAvgPool2d(let p, let shift, let floor, let lo, let hi):
            return pool(x[0], p, outShape: outShape, mode: .trunc(shift: shift, floor: floor, min: lo, max: hi))
        case .add:
            precondition(x[0].shape == x[1].shape, "IntegerExecutor.add: shapes \(x[0].shape) and \(x[1].shape)")
            return IntegerTensor(shape: x[0].shape, zip(x[0].data, x[1].data).map { $0 + $1 })
        case .concat:
            var out = [Int64]()
            out.reserveCapacity(outShape.reduce(1, *))
            for e in 0..<n {
                for t in x {
                    let per = t.perExample
                    out.append(contentsOf: t.data[e * per..<(e + 1) * per])
                }
            }
            return IntegerTensor(shape: outShape, out)
        case .clampMin(let z): return IntegerTensor(shape: x[0].shape, x[0].data.map { Swift.max($0, z) })
        case .reshape: return x[0].reshaped(outShape)
        }
    }

    /// The index of the largest element of each example (the first of equals), as `torch.argmax`.
    public static func argmax(_ t: IntegerTensor) -> [Int] {
        let per = t.perExample
        return (0..<t.shape[0]).map { e in
            var best = 0
            for j in 1..<per where t.data[e * per + j] > t.data[e * per + best] { best = j }
            return best
        }
    }

    /// A convolution as one GEMM per example and group: the input patches gathered into
    /// columns (`[C/G·kh·kw, oh·ow]`, zero outside the input), multiplied by the group's weights
    /// `[O/G, C/G·kh·kw]` in double precision, plus the bias. Exact: every product and partial
    /// sum is bounded by the accumulator bound (< 2^47, proved by the lowering), and integers
    /// below 2^53 are exact doubles in any summation order. The column buffers are allocated
    /// once per worker range, not per example.
    static func conv2d(_ x: IntegerTensor, _ c: IntegerOp.Conv2d, outShape: [Int]) -> IntegerTensor {
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, oh, ow) = (outShape[1], outShape[2], outShape[3])
        let (kh, kw) = (c.weightShape[2], c.weightShape[3])
        let cg = cin / c.groups, og = o / c.groups
        let kk = cg * kh * kw, pixels = oh * ow
        let weight = c.weight.map(Double.init)
        var out = [Int64](repeating: 0, count: n * o * pixels)
        x.data.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let optr = op.baseAddress!
                    Parallel.forRanges(n * c.groups, costPerItem: og * pixels * kk) { range in
                        var cols = [Double](repeating: 0, count: kk * pixels)
                        var acc = [Double](repeating: 0, count: og * pixels)
                        cols.withUnsafeMutableBufferPointer { cp in
                            acc.withUnsafeMutableBufferPointer { ap in
                                for item in range {
                                    let (e, g) = (item / c.groups, item % c.groups)
                                    for ci in 0..<cg {
                                        let plane = (e * cin + g * cg + ci) * h * w
                                        for i in 0..<kh {
                                            for j in 0..<kw {
                                                let row = ((ci * kh + i) * kw + j) * pixels
                                                for y in 0..<oh {
                                                    let iy = y * c.strideH + i * c.dilationH - c.padH
                                                    let inside = iy >= 0 && iy < h
                                                    for xo in 0..<ow {
                                                        let ix = xo * c.strideW + j * c.dilationW - c.padW
                                                        cp[row + y * ow + xo] = inside && ix >= 0 && ix < w ? Double(xp[plane + iy * w + ix]) : 0
                                                    }
                                                }
                                            }
                                        }
                                    }
                                    BLAS.dgemm(transA: false, transB: false, m: og, n: pixels, k: kk, a: wp.baseAddress! + g * og * kk, lda: kk,
                                               b: cp.baseAddress!, ldb: pixels, c: ap.baseAddress!, ldc: pixels)
                                    for ol in 0..<og {
                                        let oc = g * og + ol
                                        let b = c.bias?[oc] ?? 0
                                        let dst = optr + (e * o + oc) * pixels
                                        for p in 0..<pixels { dst[p] = b + Int64(ap[ol * pixels + p]) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return IntegerTensor(shape: outShape, out)
    }

    /// A 3-D convolution, directly: each output element is one thread's fixed-order sum.
    static func conv3d(_ x: IntegerTensor, _ c: IntegerOp.Conv3d, outShape: [Int]) -> IntegerTensor {
        let (n, cin, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let (o, od, oh, ow) = (outShape[1], outShape[2], outShape[3], outShape[4])
        let (kd, kh, kw) = (c.weightShape[2], c.weightShape[3], c.weightShape[4])
        let (s, p, dl) = (c.stride, c.padding, c.dilation)
        let cg = cin / c.groups, og = o / c.groups
        var out = [Int64](repeating: 0, count: n * o * od * oh * ow)
        x.data.withUnsafeBufferPointer { xp in
            c.weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let optr = op.baseAddress!
                    Parallel.forRanges(n * o, costPerItem: od * oh * ow * cg * kd * kh * kw) { range in
                        for item in range {
                            let (e, oc) = (item / o, item % o)
                            let g = oc / og
                            let b = c.bias?[oc] ?? 0
                            var at = item * od * oh * ow
                            for z in 0..<od {
                                for y in 0..<oh {
                                    for xo in 0..<ow {
                                        var acc = b
                                        for ci in 0..<cg {
                                            let volume = (e * cin + g * cg + ci) * d * h * w
                                            let wbase = (oc * cg + ci) * kd * kh * kw
                                            for l in 0..<kd {
                                                let iz = z * s[0] + l * dl[0] - p[0]
                                                if iz < 0 || iz >= d { continue }
                                                for i in 0..<kh {
                                                    let iy = y * s[1] + i * dl[1] - p[1]
                                                    if iy < 0 || iy >= h { continue }
                                                    for j in 0..<kw {
                                                        let ix = xo * s[2] + j * dl[2] - p[2]
                                                        if ix < 0 || ix >= w { continue }
                                                        acc += wp[wbase + (l * kh + i) * kw + j] * xp[volume + (iz * h + iy) * w + ix]
                                                    }
                                                }
                                            }
                                        }
                                        optr[at] = acc
                                        at += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return IntegerTensor(shape: outShape, out)
    }

    /// Gathers, for each output pixel, the input pixels that land on it (no scatter, so each
    /// output element is one thread's fixed-order sum).
    static func convTranspose2d(_ x: IntegerTensor, _ c: IntegerOp.ConvTranspose2d, outShape: [Int]) -> IntegerTensor {
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, oh, ow) = (outShape[1], outShape[2], outShape[3])
        let (kh, kw) = (c.weightShape[2], c.weightShape[3])
        let cg = cin / c.groups, og = o / c.groups
        var out = [Int64](repeating: 0, count: n * o * oh * ow)
        x.data.withUnsafeBufferPointer { xp in
            c.weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let optr = op.baseAddress!
                    Parallel.forRanges(n * o, costPerItem: oh * ow * cg * kh * kw) { range in
                        for item in range {
                            let (e, oc) = (item / o, item % o)
                            let (g, ol) = (oc / og, oc % og)
                            let b = c.bias?[oc] ?? 0
                            for y in 0..<oh {
                                for xo in 0..<ow {
                                    var acc = b
                                    for ci in g * cg..<(g + 1) * cg {
                                        let plane = (e * cin + ci) * h * w
                                        let wbase = (ci * og + ol) * kh * kw
                                        for i in 0..<kh {
                                            let ty = y + c.padH - i * c.dilationH
                                            if ty < 0 || ty % c.strideH != 0 || ty / c.strideH >= h { continue }
                                            let iy = ty / c.strideH
                                            for j in 0..<kw {
                                                let tx = xo + c.padW - j * c.dilationW
                                                if tx < 0 || tx % c.strideW != 0 || tx / c.strideW >= w { continue }
                                                acc += wp[wbase + i * kw + j] * xp[plane + iy * w + tx / c.strideW]
                                            }
                                        }
                                    }
                                    optr[(item * oh + y) * ow + xo] = acc
                                }
                            }
                        }
                    }
                }
            }
        }
        return IntegerTensor(shape: outShape, out)
    }

    /// `x · Wᵀ + b` as a double-precision GEMM over blocks of examples; exact for the same
    /// reason as ``conv2d(_:_:outShape:)``.
    static func linear(_ x: IntegerTensor, _ l: IntegerOp.Linear) -> IntegerTensor {
        let n = x.shape[0]
        precondition(x.perExample == l.inFeatures, "IntegerExecutor.linear: \(x.perExample) inputs, weights for \(l.inFeatures)")
        let (fin, fout) = (l.inFeatures, l.outFeatures)
        let weight = l.weight.map(Double.init)
        var out = [Int64](repeating: 0, count: n * fout)
        let block = 64
        x.data.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let optr = op.baseAddress!
                    Parallel.forRanges((n + block - 1) / block, costPerItem: block * fin * fout) { range in
                        var xs = [Double](repeating: 0, count: block * fin)
                        var acc = [Double](repeating: 0, count: block * fout)
                        xs.withUnsafeMutableBufferPointer { xsp in
                            acc.withUnsafeMutableBufferPointer { ap in
                                for blk in range {
                                    let lo = blk * block, rows = Swift.min(n, lo + block) - lo
                                    for i in 0..<rows * fin { xsp[i] = Double(xp[lo * fin + i]) }
                                    BLAS.dgemm(transA: false, transB: true, m: rows, n: fout, k: fin, a: xsp.baseAddress!, lda: fin,
                                               b: wp.baseAddress!, ldb: fin, c: ap.baseAddress!, ldc: fout)
                                    for r in 0..<rows {
                                        for f in 0..<fout { optr[(lo + r) * fout + f] = (l.bias?[f] ?? 0) + Int64(ap[r * fout + f]) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return IntegerTensor(shape: [n, l.outFeatures], out)
    }

    /// The channel of flat element `i` of a tensor of `shape` (dimension 1; 0 for per-tensor).
    @inline(__always)
    static func channel(_ i: Int, channels: Int, inner: Int) -> Int { (i / inner) % channels }

    static func requantize(_ x: IntegerTensor, _ r: Requantization, fixedPoint: Bool) -> IntegerTensor {
        let perTensor = r.isPerTensor
        let channels = x.shape.count > 1 ? x.shape[1] : 1
        let inner = x.shape.count > 2 ? x.shape.dropFirst(2).reduce(1, *) : 1
        precondition(perTensor || r.multipliers.count == channels,
                     "IntegerExecutor.requantize: \(r.multipliers.count) channel constants for \(channels) channels")
        var out = [Int64](repeating: 0, count: x.count)
        x.data.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let optr = op.baseAddress!
                Parallel.forRanges(x.count, costPerItem: 4) { range in
                    for i in range {
                        let c = perTensor ? 0 : channel(i, channels: channels, inner: inner)
                        optr[i] = r.apply(xp[i], channel: c, fixedPoint: fixedPoint)
                    }
                }
            }
        }
        return IntegerTensor(shape: x.shape, out)
    }

    enum PoolMode { case max, sum, trunc(shift: Int, floor: Bool, min: Int64, max: Int64) }

    static func pool(_ x: IntegerTensor, _ p: IntegerOp.Pool2d, outShape: [Int], mode: PoolMode) -> IntegerTensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[2], outShape[3])
        var out = [Int64](repeating: 0, count: n * c * oh * ow)
        for plane in 0..<(n * c) {
            for y in 0..<oh {
                for xo in 0..<ow {
                    var best = Int64.min, sum: Int64 = 0
                    for i in 0..<p.kernelH {
                        let iy = y * p.strideH + i - p.padH
                        if iy < 0 || iy >= h { continue }
                        for j in 0..<p.kernelW {
                            let ix = xo * p.strideW + j - p.padW
                            if ix < 0 || ix >= w { continue }
                            let v = x.data[(plane * h + iy) * w + ix]
                            best = Swift.max(best, v)
                            sum += v
                        }
                    }
                    let r: Int64
                    switch mode {
                    case .max: r = best
                    case .sum: r = sum
                    case .trunc(let shift, let floor, let lo, let hi):
                        let t: Int64
                        if shift <= 0 {
                            t = sum << Int64(-shift)
                        } else {
                            t = floor ? sum >> Int64(shift) : Requantization.roundShiftHalfEven(sum, shift)
                        }
                        r = Swift.min(Swift.max(t, lo), hi)
                    }
                    out[(plane * oh + y) * ow + xo] = r
                }
            }
        }
        return IntegerTensor(shape: outShape, out)
    }
}
