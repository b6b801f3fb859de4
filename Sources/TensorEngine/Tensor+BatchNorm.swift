#if arch(x86_64)
    import CKernels
#endif

/// Batch normalisation over the channel dimension 1 of `[N, C, ...]` inputs
/// (`torch.nn.functional.batch_norm`), with gradients for the input, weight and bias, optionally
/// fused with the ReLU that follows it.
extension Tensor {
    /// Normalises each channel of `x` (`[N, C]`, `[N, C, L]` or `[N, C, H, W]`).
    ///
    /// - Training: uses the batch mean and biased variance over `N` and the spatial dimensions;
    ///   when given, `runningMean`/`runningVar` (`[C]`) are updated in place (outside autograd)
    ///   as `(1 − momentum)·running + momentum·batch`, with the unbiased batch variance.
    /// - Evaluation (`training: false`): uses `runningMean`/`runningVar`, which must be given.
    ///
    /// `y = (x − mean) / sqrt(var + eps) · weight + bias`; `weight`/`bias` (`[C]`) are optional.
    /// With `relu: true` the result is `max(y, 0)` in the same pass, and the backward masks the
    /// gradient in the same pass as BatchNorm's own (`relu(batchNorm(x))` in one op: two passes
    /// over memory fewer forward and backward, and one tensor less kept for the backward).
    ///
    /// Per channel, sums run in eight float lanes per plane and in double across planes: the
    /// result does not depend on the thread count.
    public static func batchNorm(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool = false
    ) -> Tensor {
        batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                  momentum: momentum, eps: eps, relu: relu, avx2: BatchNormKernels.hasAVX2)
    }

    /// `batchNorm` with the plane loops as the C kernels (`avx2`, bit-identical) or the Swift loops.
    static func batchNorm(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
        training: Bool, momentum: Float, eps: Float, relu: Bool, avx2: Bool
    ) -> Tensor {
        precondition(!avx2 || BatchNormKernels.hasAVX2, "batchNorm: the AVX2 kernels need a processor with AVX2")
        let (n, c, s, m) = batchNormGeometry("batchNorm", x, runningMean: runningMean, runningVar: runningVar,
                                             weight: weight, bias: bias)
        let (mean, invstd) = batchNormStatistics(x, runningMean: runningMean, runningVar: runningVar, training: training,
                                                 momentum: momentum, eps: eps, avx2: avx2)
        let mp = mean.storage.pointer, ip = invstd.storage.pointer, px = x.storage.pointer
        let out = Tensor.empty(x.shape)
        let po = out.storage.pointer
        let pw = weight?.storage.pointer, pb = bias?.storage.pointer
        Parallel.forRanges(n * c, costPerItem: s) { r in
            for plane in r {
                let ch = plane % c
                let scale = ip[ch] * (pw?[ch] ?? 1)
                let shift = (pb?[ch] ?? 0) - mp[ch] * scale
                BatchNormKernels.affine(px + plane * s, po + plane * s, s, scale, shift, relu: relu, avx2)
            }
        }
        let savedX = x.detach(), savedW = weight?.detach(), savedOut = relu ? out.detach() : nil
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasW = weight != nil, hasB = bias != nil
        return Autograd.record(relu ? "batch_norm_relu" : "batch_norm", output: out, inputs: inputs) { g in
            let pg = g.storage.pointer, px = savedX.storage.pointer, py = savedOut?.storage.pointer
            let pw = savedW?.storage.pointer, mp = mean.storage.pointer, ip = invstd.storage.pointer
            let gx = needX ? Tensor.empty(savedX.shape) : nil
            let gw = Tensor.empty([c]), gb = Tensor.empty([c])
            let pgx = gx?.storage.pointer, pgw = gw.storage.pointer, pgb = gb.storage.pointer
            Parallel.forRanges(c, costPerItem: 3 * m) { r in
                for ch in r {
                    let mu = mp[ch], inv = ip[ch]
                    // Σg and Σ g·(x − mean) over the channel (g masked by the ReLU when fused).
                    var sumG: Double = 0, sumGX: Double = 0
                    for b in 0..<n {
                        let o = (b * c + ch) * s
                        let (a, bb) = BatchNormKernels.gradientSums(pg + o, px + o, py.map { $0 + o }, s, mu, avx2)
                        sumG += Double(a)
                        sumGX += Double(bb)
                    }
                    sumGX *= Double(inv)
                    pgb[ch] = Float(sumG)
                    pgw[ch] = Float(sumGX)
                    guard let pgx else { continue }
                    let k = (pw?[ch] ?? 1) * inv
                    // Training: gx = k·(g − mean(g) − x̂·mean(g·x̂)); evaluation: gx = k·g.
                    let meanG = training ? Float(sumG / Double(m)) : 0
                    let meanGX = training ? Float(sumGX / Double(m)) : 0
                    for b in 0..<n {
                        let o = (b * c + ch) * s
                        BatchNormKernels.inputGradient(pg + o, px + o, py.map { $0 + o }, pgx + o, s, mu: mu, inv: inv, k: k,
                                                       meanG: meanG, meanGX: meanGX, avx2)
                    }
                }
            }
            var grads: [Tensor?] = [gx]
            if hasW { grads.append(needW ? gw : nil) }
            if hasB { grads.append(needB ? gb : nil) }
            return grads
        }
    }

    /// The geometry of a batch-norm input `[N, C, ...]`: `n`, `c`, `s` (elements per plane) and
    /// `m = n * s` (elements per channel), after checking that every per-channel tensor has `C`
    /// elements. `op` names the caller in the precondition messages.
    static func batchNormGeometry(
        _ op: String, _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?
    ) -> (n: Int, c: Int, s: Int, m: Int) {
        precondition(x.rank >= 2, "\(op): input must be [N, C, ...], got shape \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        let s = x.shape.dropFirst(2).reduce(1, *)
        for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
            if let t { precondition(t.count == c, "\(op): \(name) of shape \(t.shape) does not match \(c) channels of input \(x.shape)") }
        }
        return (n, c, s, n * s)
    }

    /// The per-channel mean and `1/√(var + eps)` that `batchNorm` normalises with (`[C]` each):
    /// in training the batch's (two passes: the mean, then the squared deviations), updating
    /// `runningMean`/`runningVar` in place when given; in evaluation the running statistics.
    static func batchNormStatistics(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, training: Bool, momentum: Float, eps: Float, avx2: Bool
    ) -> (mean: Tensor, invstd: Tensor) {
        let n = x.shape[0], c = x.shape[1]
        let s = x.shape.dropFirst(2).reduce(1, *)
        let m = n * s
        let mean = Tensor.empty([c]), invstd = Tensor.empty([c])
        let px = x.storage.pointer, mp = mean.storage.pointer, ip = invstd.storage.pointer
        if training {
            precondition(m > 1 || n == 0, "batchNorm: expected more than 1 value per channel when training, got input of shape \(x.shape)")
            Parallel.forRanges(c, costPerItem: 2 * m) { r in
                for ch in r {
                    var sum: Double = 0
                    for b in 0..<n { sum += Double(BatchNormKernels.sum(px + (b * c + ch) * s, s, avx2)) }
                    let muF = Float(m > 0 ? sum / Double(m) : 0)
                    var sq: Double = 0
                    for b in 0..<n { sq += Double(BatchNormKernels.squaredDeviations(px + (b * c + ch) * s, s, muF, avx2)) }
                    let variance = m > 0 ? sq / Double(m) : 0
                    mp[ch] = muF
                    ip[ch] = Float(1 / (variance + Double(eps)).squareRoot())
                    // Running statistics (unbiased variance).
                    if let runningMean, m > 0 {
                        let rm = runningMean.storage.pointer
                        rm[ch] = (1 - momentum) * rm[ch] + momentum * muF
                    }
                    if let runningVar, m > 1 {
                        let rv = runningVar.storage.pointer
                        rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(variance * Double(m) / Double(m - 1))
                    }
                }
            }
        } else {
            guard let runningMean, let runningVar else {
                preconditionFailure("batchNorm: evaluation mode needs runningMean and runningVar")
            }
            for ch in 0..<c {
                mp[ch] = runningMean.storage.pointer[ch]
                ip[ch] = 1 / (runningVar.storage.pointer[ch] + eps).squareRoot()
            }
        }
        return (mean, invstd)
    }
}

/// The loops of `batchNorm` over one plane of `s` contiguous floats, eight lanes at a time (the
/// default x86-64 target does not vectorise a float sum on its own: it keeps the sequential
/// order). Each sum adds the lanes in a fixed order, so results depend only on `s`.
///
/// With `avx2` each loop runs as its C kernel (CKernels/batch_norm.c: AVX2, or AVX-512 where the
/// processor has it), which does the same float operations in the same order: bit for bit the
/// same results, without the baseline target's 4-wide split of every 8-lane operation.
enum BatchNormKernels {
    typealias V = SIMD8<Float>

    /// Whether the C kernels can run on this processor (AVX2 and FMA or better).
    #if arch(x86_64)
        static let hasAVX2 = ck_vector_level() >= 1
    #else
        static let hasAVX2 = false
    #endif

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ j: Int) -> V {
        UnsafeRawPointer(p + j).loadUnaligned(as: V.self)
    }

    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ j: Int) {
        UnsafeMutableRawPointer(p + j).storeBytes(of: v, as: V.self)
    }

    /// Σ p[j].
    static func sum(_ p: UnsafePointer<Float>, _ s: Int, _ avx2: Bool) -> Float {
        #if arch(x86_64)
            if avx2 { return ck_bn_sum(p, s) }
        #endif
        var a = V(), j = 0
        while j + 8 <= s { a += load(p, j); j += 8 }
        var total = a.sum()
        while j < s { total += p[j]; j += 1 }
        return total
    }

    /// Σ (p[j] − mu)².
    static func squaredDeviations(_ p: UnsafePointer<Float>, _ s: Int, _ mu: Float, _ avx2: Bool) -> Float {
        #if arch(x86_64)
            if avx2 { return ck_bn_squared_deviations(p, s, mu) }
        #endif
        var a = V(), j = 0
        let vm = V(repeating: mu)
        while j + 8 <= s {
            let d = load(p, j) - vm
            a += d * d
            j += 8
        }
        var total = a.sum()
        while j < s { let d = p[j] - mu; total += d * d; j += 1 }
        return total
    }

    /// `dst = max(src·scale + shift, 0)` with `relu`, else `src·scale + shift`.
    static func affine(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ s: Int, _ scale: Float, _ shift: Float,
                       relu: Bool, _ avx2: Bool) {
        #if arch(x86_64)
            if avx2 { ck_bn_affine(src, dst, s, scale, shift, relu ? 1 : 0); return }
        #endif
        let vs = V(repeating: scale), vt = V(repeating: shift), zero = V()
        var j = 0
        if relu {
            while j + 8 <= s {
                let y = load(src, j) * vs + vt
                store(y.replacing(with: zero, where: y .<= zero), dst, j)  // NaN stays NaN, as `relu()`
                j += 8
            }
            while j < s { let y = src[j] * scale + shift; dst[j] = y > 0 ? y : (y.isNaN ? y : 0); j += 1 }
        } else {
            while j + 8 <= s { store(load(src, j) * vs + vt, dst, j); j += 8 }
            while j < s { dst[j] = src[j] * scale + shift; j += 1 }
        }
    }

    /// (Σ g, Σ g·(x − mu)), with g zeroed where the fused ReLU's output `y` is not positive.
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>?, _ s: Int,
                             _ mu: Float, _ avx2: Bool) -> (Float, Float) {
        #if arch(x86_64)
            if avx2 {
                var sa: Float = 0, sb: Float = 0
                ck_bn_gradient_sums(g, x, y, s, mu, &sa, &sb)
                return (sa, sb)
            }
        #endif
        var a = V(), b = V(), j = 0
        let vm = V(repeating: mu), zero = V()
        if let y {
            while j + 8 <= s {
                let gv = load(g, j).replacing(with: zero, where: .!(load(y, j) .> zero))
                a += gv
                b += gv * (load(x, j) - vm)
                j += 8
            }
        } else {
            while j + 8 <= s {
                let gv = load(g, j)
                a += gv
                b += gv * (load(x, j) - vm)
                j += 8
            }
        }
        var sa = a.sum(), sb = b.sum()
        while j < s {
            let gv = (y.map { $0[j] > 0 } ?? true) ? g[j] : 0
            sa += gv
            sb += gv * (x[j] - mu)
            j += 1
        }
        return (sa, sb)
    }

    /// `gx = k·(g − meanG − (x − mu)·inv·meanGX)`, g masked by the fused ReLU.
    static func inputGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>?,
                              _ gx: UnsafeMutablePointer<Float>, _ s: Int, mu: Float, inv: Float, k: Float, meanG: Float,
                              meanGX: Float, _ avx2: Bool) {
        #if arch(x86_64)
            if avx2 { ck_bn_input_gradient(g, x, y, gx, s, mu, inv, k, meanG, meanGX); return }
        #endif
        let vm = V(repeating: mu), vi = V(repeating: inv), vk = V(repeating: k), vg = V(repeating: meanG)
        let vgx = V(repeating: meanGX), zero = V()
        var j = 0
        while j + 8 <= s {
            var gv = load(g, j)
            if let y { gv = gv.replacing(with: zero, where: .!(load(y, j) .> zero)) }
            let xhat = (load(x, j) - vm) * vi
            store(vk * (gv - vg - xhat * vgx), gx, j)
            j += 8
        }
        while j < s {
            let gv = (y.map { $0[j] > 0 } ?? true) ? g[j] : 0
            let xhat = (x[j] - mu) * inv
            gx[j] = k * (gv - meanG - xhat * meanGX)
            j += 1
        }
    }
}
