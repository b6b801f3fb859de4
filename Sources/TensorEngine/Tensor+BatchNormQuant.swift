#if arch(x86_64)
    import CKernels
#endif

/// A per-tensor fake quantizer applied in the epilogue of another op (Brevitas `IntQuant` with a
/// constant bit width, as `FakeQuantize` in QuantCore computes it):
///
///     q = clamp(round(v / s + z), minInt, maxInt)      (half-to-even)
///     y = (q − z) · s
///
/// `scale` and `zeroPoint` are one-element tensors and receive gradients (the activation
/// quantizer's straight-through rules: clipped elements pass no input gradient, give `G·(q − z)`
/// to the scale and `−G·s` to the zero point; the others pass `G` and give `G·(q − z − v/s)`).
public struct FakeQuantEpilogue {
    public let scale: Tensor
    public let zeroPoint: Tensor
    public let minInt: Float
    public let maxInt: Float

    public init(scale: Tensor, zeroPoint: Tensor, minInt: Float, maxInt: Float) {
        precondition(scale.count == 1 && zeroPoint.count == 1,
                     "FakeQuantEpilogue: per-tensor only, got scale \(scale.shape) and zero point \(zeroPoint.shape)")
        precondition(minInt <= maxInt, "FakeQuantEpilogue: minInt \(minInt) > maxInt \(maxInt)")
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.minInt = minInt
        self.maxInt = maxInt
    }
}

/// BatchNorm, ReLU and the activation quantizer that follows them as one op, for a quantized
/// ReLU that is the only consumer of a BatchNorm (conv → BN → QuantReLU in a ResNet), or, without
/// the ReLU, BatchNorm and a signed quantizer (conv → BN → the input quantizer of a residual add):
///
///     a = (x − mean)·invstd·γ + β,   y = (clamp(round(max(a, 0)/s + z), minInt, maxInt) − z)·s
///     (relu: false)                  y = (clamp(round(a/s + z), minInt, maxInt) − z)·s
///
/// Unfused, the BatchNorm writes `a`, the quantizer reads it and writes `y`, and the backward
/// writes and reads the masked gradient once more. Fused, the forward is the statistics passes
/// and one pass (read `x`, write `y`); the backward is two passes over `g` and `x` (the first
/// gathers BatchNorm's sums, the quantizer's scale and zero-point sums, recomputing `a` and the
/// masks; the second writes `dx`), and no `[N, C, H, W]` intermediate is kept.
///
/// Gradients (G upstream; g' = 0 where the code clipped or, with the ReLU, where a ≤ 0, else G;
/// v = max(a, 0)/s or a/s; BatchNorm's own rules from g'):
///
/// | input | gradient |
/// |---|---|
/// | x, γ, β | BatchNorm's backward of g' (`batchNorm`) |
/// | s | Σ G·(q − z) over clipped elements + Σ G·(q − z − v) over the others |
/// | z | −s·Σ_clipped G |
///
/// Values, input gradients, affine gradients and running statistics are bit-identical to
/// `batchNorm` followed by `FakeQuantize.apply(fusedReLU: relu)` (the same float operations in
/// the same order). So are the scale and zero-point gradients where planes have a multiple of 8
/// elements and divide 16384 or are made of 16384-element blocks (every power of two from 8 up:
/// the first pass then runs in `FakeQuantize`'s order, `BatchNormQuantKernels+FlatOrder.swift`).
/// Other plane sizes take those sums per plane instead of per 16384-element block, so they agree
/// to float rounding: each 8-lane float partial covers at most 128 terms and the lanes are added
/// in 7 more steps either way, so the two differ by at most 2·136·2⁻²⁴·Σ|term| (tested). Sums are
/// fixed per plane or block and added in order: the result does not depend on the thread count.
extension Tensor {
    /// `FakeQuant(relu(batchNorm(x)))` in one op; see the extension's documentation. Arguments as
    /// `batchNorm`; `x` is `[N, C, ...]`.
    public static func batchNormReLUFakeQuant(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, quant: FakeQuantEpilogue
    ) -> Tensor {
        batchNormFakeQuant(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                           training: training, momentum: momentum, eps: eps, relu: true, quant: quant,
                           avx2: BatchNormKernels.hasAVX2)
    }

    /// `FakeQuant(batchNorm(x))` (`relu: false`) or `FakeQuant(relu(batchNorm(x)))` in one op;
    /// see the extension's documentation. Arguments as `batchNorm`; `x` is `[N, C, ...]`.
    public static func batchNormFakeQuant(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool, quant: FakeQuantEpilogue
    ) -> Tensor {
        batchNormFakeQuant(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                           training: training, momentum: momentum, eps: eps, relu: relu, quant: quant,
                           avx2: BatchNormKernels.hasAVX2)
    }

    /// `batchNormReLUFakeQuant` with the plane loops as the C kernels (`avx2`, bit-identical) or
    /// the Swift loops.
    static func batchNormReLUFakeQuant(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
        training: Bool, momentum: Float, eps: Float, quant: FakeQuantEpilogue, avx2: Bool
    ) -> Tensor {
        batchNormFakeQuant(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                           training: training, momentum: momentum, eps: eps, relu: true, quant: quant, avx2: avx2)
    }

    /// `batchNormFakeQuant` with the plane loops as the C kernels (`avx2`, bit-identical) or the
    /// Swift loops.
    static func batchNormFakeQuant(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
        training: Bool, momentum: Float, eps: Float, relu: Bool, quant: FakeQuantEpilogue, avx2: Bool
    ) -> Tensor {
        precondition(!avx2 || BatchNormKernels.hasAVX2, "batchNormFakeQuant: the AVX2 kernels need a processor with AVX2")
        let (n, c, s, m) = batchNormGeometry("batchNormFakeQuant", x, runningMean: runningMean, runningVar: runningVar,
                                             weight: weight, bias: bias)
        let (mean, invstd) = batchNormStatistics(x, runningMean: runningMean, runningVar: runningVar, training: training,
                                                 momentum: momentum, eps: eps, avx2: avx2)
        let q = BatchNormQuantKernels.Quant(s: quant.scale.storage.pointer[0], z: quant.zeroPoint.storage.pointer[0],
                                            minInt: quant.minInt, maxInt: quant.maxInt, relu: relu)
        let out = Tensor.empty(x.shape)
        let px = x.storage.pointer, po = out.storage.pointer
        let mp = mean.storage.pointer, ip = invstd.storage.pointer
        let pw = weight?.storage.pointer, pb = bias?.storage.pointer
        Parallel.forRanges(n * c, costPerItem: s) { r in
            for plane in r {
                let ch = plane % c
                let scale = ip[ch] * (pw?[ch] ?? 1)
                let shift = (pb?[ch] ?? 0) - mp[ch] * scale
                BatchNormQuantKernels.forward(px + plane * s, po + plane * s, s, scale, shift, q, avx2)
            }
        }
        let savedX = x.detach(), savedW = weight?.detach()
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        let needS = quant.scale.requiresGrad, needZ = quant.zeroPoint.requiresGrad
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        inputs += [quant.scale, quant.zeroPoint]
        let hasW = weight != nil, hasB = bias != nil
        let scaleShape = quant.scale.shape, zeroShape = quant.zeroPoint.shape
        return Autograd.record(relu ? "batch_norm_relu_int_quant" : "batch_norm_int_quant", output: out, inputs: inputs) { g in
            let pg = g.storage.pointer, px = savedX.storage.pointer
            let pw = savedW?.storage.pointer, pb = bias?.storage.pointer
            let mp = mean.storage.pointer, ip = invstd.storage.pointer
            let gx = needX ? Tensor.empty(savedX.shape) : nil
            let gw = Tensor.empty([c]), gb = Tensor.empty([c])
            let pgx = gx?.storage.pointer, pgw = gw.storage.pointer, pgb = gb.storage.pointer
            // Per channel: the quantizer's scale and zero-point sums (added in channel order below),
            // or, in the flat order, the per-plane BatchNorm sums and the quantizer's exact sums.
            let partial = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, 2 * c))
            defer { partial.deallocate() }
            var flat: (scale: Double, zeroPoint: Double)? = nil
            let planes = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, 2 * n * c))
            defer { planes.deallocate() }
            if BatchNormQuantKernels.usesFlatOrder(planeSize: s) {
                let constants = UnsafeMutablePointer<Float>.allocate(capacity: 3 * c)
                defer { constants.deallocate() }
                for ch in 0..<c {
                    constants[ch] = ip[ch] * (pw?[ch] ?? 1)
                    constants[c + ch] = (pb?[ch] ?? 0) - mp[ch] * constants[ch]
                }
                flat = BatchNormQuantKernels.flatGradientSums(pg, px, n: n, c: c, s: s, scale: constants, shift: constants + c, mu: mp,
                                                              q, planes: planes, avx2)
            }
            let isFlat = flat != nil
            Parallel.forRanges(c, costPerItem: 3 * m) { r in
                for ch in r {
                    let mu = mp[ch], inv = ip[ch]
                    let scale = inv * (pw?[ch] ?? 1)
                    let shift = (pb?[ch] ?? 0) - mu * scale
                    var sumG: Double = 0, sumGX: Double = 0, accS: Double = 0, accZ: Double = 0
                    for b in 0..<n {
                        let o = (b * c + ch) * s
                        if isFlat {
                            sumG += Double(planes[2 * (b * c + ch)])
                            sumGX += Double(planes[2 * (b * c + ch) + 1])
                            continue
                        }
                        let sums = BatchNormQuantKernels.gradientSums(pg + o, px + o, s, scale, shift, mu, q, avx2)
                        sumG += Double(sums.g)
                        sumGX += Double(sums.gx)
                        accS += sums.scale
                        accZ += sums.clipped
                    }
                    partial[2 * ch] = accS
                    partial[2 * ch + 1] = accZ
                    sumGX *= Double(inv)
                    pgb[ch] = Float(sumG)
                    pgw[ch] = Float(sumGX)
                    guard let pgx else { continue }
                    let k = (pw?[ch] ?? 1) * inv
                    let meanG = training ? Float(sumG / Double(m)) : 0
                    let meanGX = training ? Float(sumGX / Double(m)) : 0
                    for b in 0..<n {
                        let o = (b * c + ch) * s
                        BatchNormQuantKernels.inputGradient(pg + o, px + o, pgx + o, s, scale, shift, q, mu: mu, inv: inv, k: k,
                                                            meanG: meanG, meanGX: meanGX, avx2)
                    }
                }
            }
            var sumS: Double = 0, sumZ: Double = 0
            for ch in 0..<c {
                sumS += partial[2 * ch]
                sumZ += partial[2 * ch + 1]
            }
            var grads: [Tensor?] = [gx]
            if hasW { grads.append(needW ? gw : nil) }
            if hasB { grads.append(needB ? gb : nil) }
            // `0 + …` as FakeQuantize's block reduction: no clipped element gives +0, not −0.
            let gradS = flat?.scale ?? sumS, gradZ = flat?.zeroPoint ?? 0 + -sumZ * Double(q.s)
            grads.append(needS ? Tensor(shape: scaleShape, [Float(gradS)]) : nil)
            grads.append(needZ ? Tensor(shape: zeroShape, [Float(gradZ)]) : nil)
            return grads
        }
    }
}

/// The loops of `batchNormReLUFakeQuant` over one plane of `s` contiguous floats, eight lanes at
/// a time, with the exact float operations of `BatchNormKernels` and of QuantCore's
/// `FakeQuantize` segment loops (so the fused op reproduces the unfused one bit for bit). With
/// `avx2` each loop runs as its C kernel (CKernels/batch_norm.c), bit for bit the same.
enum BatchNormQuantKernels {
    typealias V = SIMD8<Float>
    typealias Mask = SIMDMask<V.MaskStorage>

    /// The quantizer's constants, and whether a ReLU comes before it.
    struct Quant {
        let s: Float, z: Float, minInt: Float, maxInt: Float
        var relu = true
        /// `relu` as the C kernels take it.
        var cRelu: Int32 { relu ? 1 : 0 }
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ j: Int) -> V {
        UnsafeRawPointer(p + j).loadUnaligned(as: V.self)
    }

    /// One 8-element step of the gradient sums: the quantizer's scale and clipped sums (`fs`,
    /// `fz`) and the BatchNorm's Σ g' and Σ g'·(x − mu) (`a`, `b`), g' = g where the quantizer
    /// passes the gradient.
    @inline(__always)
    static func sums8(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ q: Quant, _ vsc: V, _ vt: V, _ vm: V, _ vz: V,
                      _ fs: inout V, _ fz: inout V, _ a: inout V, _ b: inout V) {
        let xv = load(x, 0), gv = load(g, 0)
        let r = quantize(xv * vsc + vt, q)
        var vv = r.v
        vv.replace(with: 0, where: r.clipped)
        fs += gv * ((r.q - vz) - vv)
        var gc = V()
        gc.replace(with: gv, where: r.clipped)
        fz += gc
        var gp = gv
        gp.replace(with: 0, where: r.clipped .| r.dead)
        a += gp
        b += gp * (xv - vm)
    }

    /// For eight BatchNorm outputs `a`: the quantizer's input `v = max(a, 0)/s` (`a/s` without
    /// the ReLU), its code `q` (clamped), and the masks where the code clipped and where the ReLU
    /// cut (`a ≤ 0`; nowhere without the ReLU).
    @inline(__always)
    static func quantize(_ a: V, _ q: Quant) -> (v: V, q: V, clipped: Mask, dead: Mask) {
        let magic = V(repeating: 12_582_912), limit = V(repeating: 4_194_304)
        let vs = V(repeating: q.s), vz = V(repeating: q.z), vmin = V(repeating: q.minInt), vmax = V(repeating: q.maxInt)
        let dead = q.relu ? a .<= V() : Mask(repeating: false)
        var x = a
        if q.relu { x.replace(with: 0, where: x .< V()) }
        let v = x / vs
        let u = v + vz
        var r = (u + magic) - magic
        r.replace(with: u, where: .!((u .< limit) .& (-limit .< u)))
        let over = r .> vmax, under = r .< vmin
        r.replace(with: vmax, where: over)
        r.replace(with: vmin, where: under)
        return (v, r, over .| under, dead)
    }

    /// The scalar form of `quantize`, for the tail of a plane.
    @inline(__always)
    static func quantize(_ a: Float, _ q: Quant) -> (v: Float, q: Float, clipped: Bool, dead: Bool) {
        let x = q.relu && a < 0 ? 0 : a
        let v = x / q.s
        let rq = roundHalfEven(v + q.z)
        let clipped = rq > q.maxInt || rq < q.minInt
        return (v, rq > q.maxInt ? q.maxInt : (rq < q.minInt ? q.minInt : rq), clipped, q.relu && !(a > 0))
    }

    /// `dst = FakeQuant(max(src·scale + shift, 0))`.
    static func forward(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ s: Int, _ scale: Float, _ shift: Float,
                        _ q: Quant, _ avx2: Bool) {
        #if arch(x86_64)
            if avx2 { ck_bnq_forward(src, dst, s, scale, shift, q.cRelu, q.s, q.z, q.minInt, q.maxInt); return }
        #endif
        let vsc = V(repeating: scale), vt = V(repeating: shift), vs = V(repeating: q.s), vz = V(repeating: q.z)
        var j = 0
        while j + 8 <= s {
            let r = quantize(load(src, j) * vsc + vt, q)
            UnsafeMutableRawPointer(dst + j).storeBytes(of: (r.q - vz) * vs, as: V.self)
            j += 8
        }
        while j < s {
            let r = quantize(src[j] * scale + shift, q)
            dst[j] = (r.q - q.z) * q.s
            j += 1
        }
    }

    /// Over one plane, with `g'` the gradient that reaches the BatchNorm output (`g`, zero where
    /// the code clipped or the ReLU cut): `Σ g'` and `Σ g'·(x − mu)` (in `BatchNormKernels`'
    /// lane order), the scale sum `Σ g·(q − z − [not clipped]·v)` and `Σ_clipped g` (in
    /// `FakeQuantize`'s lane order, flushed to double every 1024 elements).
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ s: Int, _ scale: Float, _ shift: Float,
                             _ mu: Float, _ q: Quant, _ avx2: Bool) -> (g: Float, gx: Float, scale: Double, clipped: Double) {
        #if arch(x86_64)
            if avx2 {
                var sums: (Float, Float) = (0, 0)
                var quantSums: (Double, Double) = (0, 0)
                withUnsafeMutableBytes(of: &sums) { ps in
                    withUnsafeMutableBytes(of: &quantSums) { pq in
                        ck_bnq_gradient_sums(g, x, s, scale, shift, q.cRelu, mu, q.s, q.z, q.minInt, q.maxInt,
                                             ps.baseAddress!.assumingMemoryBound(to: Float.self),
                                             pq.baseAddress!.assumingMemoryBound(to: Double.self))
                    }
                }
                return (sums.0, sums.1, quantSums.0, quantSums.1)
            }
        #endif
        let vsc = V(repeating: scale), vt = V(repeating: shift), vm = V(repeating: mu), vz = V(repeating: q.z)
        var a = V(), b = V(), j = 0
        var accS: Double = 0, accZ: Double = 0
        while j + 8 <= s {
            let chunkEnd = Swift.min(s, j + 1024)
            var fs = V(), fz = V()
            while j + 8 <= chunkEnd {
                sums8(g + j, x + j, q, vsc, vt, vm, vz, &fs, &fz, &a, &b)
                j += 8
            }
            accS += Double(fs.sum())
            accZ += Double(fz.sum())
        }
        var sa = a.sum(), sb = b.sum()
        while j < s {
            let gi = g[j]
            let r = quantize(x[j] * scale + shift, q)
            accS += Double(r.clipped ? gi * (r.q - q.z) : gi * ((r.q - q.z) - r.v))
            accZ += r.clipped ? Double(gi) : 0
            let gp = r.clipped || r.dead ? 0 : gi
            sa += gp
            sb += gp * (x[j] - mu)
            j += 1
        }
        return (sa, sb, accS, accZ)
    }

    /// `gx = k·(g' − meanG − (x − mu)·inv·meanGX)`, with `g'` as in `gradientSums`.
    static func inputGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>, _ s: Int,
                              _ scale: Float, _ shift: Float, _ q: Quant, mu: Float, inv: Float, k: Float, meanG: Float,
                              meanGX: Float, _ avx2: Bool) {
        #if arch(x86_64)
            if avx2 {
                ck_bnq_input_gradient(g, x, gx, s, scale, shift, q.cRelu, q.s, q.z, q.minInt, q.maxInt, mu, inv, k, meanG,
                                      meanGX)
                return
            }
        #endif
        let vsc = V(repeating: scale), vt = V(repeating: shift)
        let vm = V(repeating: mu), vi = V(repeating: inv), vk = V(repeating: k), vg = V(repeating: meanG)
        let vgx = V(repeating: meanGX)
        var j = 0
        while j + 8 <= s {
            let xv = load(x, j)
            let r = quantize(xv * vsc + vt, q)
            var gp = load(g, j)
            gp.replace(with: 0, where: r.clipped .| r.dead)
            let xhat = (xv - vm) * vi
            UnsafeMutableRawPointer(gx + j).storeBytes(of: vk * (gp - vg - xhat * vgx), as: V.self)
            j += 8
        }
        while j < s {
            let r = quantize(x[j] * scale + shift, q)
            let gp = r.clipped || r.dead ? 0 : g[j]
            let xhat = (x[j] - mu) * inv
            gx[j] = k * (gp - meanG - xhat * meanGX)
            j += 1
        }
    }
}
