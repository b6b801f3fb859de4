import TensorEngine

#if arch(x86_64)
    import CKernels
#endif

/// The fused integer fake-quantization kernel behind Brevitas's `IntQuant`:
///
///     q = clamp(round(x / s + z), minInt, maxInt)      (half-to-even; rounded, then clamped)
///     y = (q − z) · s
///
/// `scale` and `zeroPoint` broadcast against `x` (per tensor: shape `[]`; per channel: e.g.
/// `[1, C, 1, 1]` or `[C, 1, 1, 1]`). The forward is one pass over memory; the backward is one
/// pass that produces the input gradient and accumulates the scale and zero-point gradients.
///
/// Gradients (G is the upstream gradient, u = x/s + z):
///
/// | element | dL/dx | dL/ds | dL/dz |
/// |---|---|---|---|
/// | minInt ≤ round(u) ≤ maxInt | G | G·(q − z − x/s) | 0 |
/// | clipped, `clampSte == false` (activations) | 0 | G·(q − z) | −G·s |
/// | clipped, `clampSte == true` (weights) | G | G·(q − z − x/s) | 0 |
public enum FakeQuantize {
    /// Broadcast layout of a per-tensor or per-channel parameter against the input.
    struct Layout {
        /// Number of distinct parameter values (1 = per tensor).
        let channels: Int
        /// Elements sharing one parameter value in a row (`x.count / (outer * channels)`).
        let inner: Int

        init(param: [Int], input: [Int]) {
            let count = param.reduce(1, *)
            if count == 1 {
                channels = 1
                inner = input.reduce(1, *)
                return
            }
            precondition(param.count <= input.count, "quantization parameter shape \(param) does not broadcast to input \(input)")
            let aligned = [Int](repeating: 1, count: input.count - param.count) + param
            // One dimension, or a run of consecutive dimensions that together act as one (the
            // `[..., 1]` scales of per-row dynamic quantizers).
            let nonUnit = aligned.indices.filter { aligned[$0] != 1 }
            precondition(
                nonUnit.last! - nonUnit.first! + 1 == nonUnit.count && nonUnit.allSatisfy { aligned[$0] == input[$0] },
                "quantization parameter shape \(param) must be per-tensor or vary along one run of consecutive dimensions of input \(input)")
            channels = input[nonUnit.first!...nonUnit.last!].reduce(1, *)
            inner = input[(nonUnit.last! + 1)...].reduce(1, *)
        }
    }

    /// Segments of the input over which scale and zero point are constant: fixed-size blocks
    /// for per-tensor parameters, rows of `inner` elements for per-channel ones.
    struct Segments {
        let count: Int, length: Int, total: Int
        let sChannels: Int, zChannels: Int

        init(_ sl: Layout, _ zl: Layout, total: Int) {
            precondition(sl.channels == 1 || zl.channels == 1 || (sl.channels == zl.channels && sl.inner == zl.inner),
                         "per-channel scale and zero point must share their layout")
            self.total = total
            sChannels = sl.channels
            zChannels = zl.channels
            let inner = sl.channels > 1 ? sl.inner : (zl.channels > 1 ? zl.inner : 0)
            length = inner > 0 ? Swift.max(inner, 1) : FakeQuantize.block
            count = total == 0 ? 0 : (total + length - 1) / length
        }

        @inline(__always) func range(_ k: Int) -> Range<Int> { (k * length)..<Swift.min(total, (k + 1) * length) }
        @inline(__always) func sIndex(_ k: Int) -> Int { sChannels == 1 ? 0 : k % sChannels }
        @inline(__always) func zIndex(_ k: Int) -> Int { zChannels == 1 ? 0 : k % zChannels }
    }

    /// Fake-quantizes `x` (or `relu(x)` with `fusedReLU`, one pass instead of two; the input
    /// gradient is then also zero where `x ≤ 0`). See the type documentation for the formula and
    /// gradients.
    public static func apply(
        _ x: Tensor, scale: Tensor, zeroPoint: Tensor, minInt: Float, maxInt: Float, clampSte: Bool = false,
        fusedReLU: Bool = false
    ) -> Tensor {
        apply(x, scale: scale, zeroPoint: zeroPoint, minInt: minInt, maxInt: maxInt, clampSte: clampSte,
              fusedReLU: fusedReLU, avx2: hasAVX2)
    }

    /// `apply` with the segment loops chosen explicitly: the AVX2 kernels (`avx2`, only where
    /// `hasAVX2`) or the portable Swift loops. Both give the same results; tests compare them.
    static func apply(
        _ x: Tensor, scale: Tensor, zeroPoint: Tensor, minInt: Float, maxInt: Float, clampSte: Bool,
        fusedReLU: Bool, avx2: Bool
    ) -> Tensor {
        precondition(!avx2 || hasAVX2, "FakeQuantize: the AVX2 kernels need a processor with AVX2")
        let sl = Layout(param: scale.shape, input: x.shape)
        let zl = Layout(param: zeroPoint.shape, input: x.shape)
        let seg = Segments(sl, zl, total: x.count)
        let out = Tensor.empty(x.shape)
        let px = x.storage.pointer, po = out.storage.pointer
        let ps = scale.storage.pointer, pz = zeroPoint.storage.pointer
        let stream: Int32 = x.count >= streamingCount ? 1 : 0
        Parallel.forRanges(seg.count, costPerItem: seg.length) { r in
            for k in r {
                let range = seg.range(k), s = ps[seg.sIndex(k)], z = pz[seg.zIndex(k)]
                #if arch(x86_64)
                    if avx2 {
                        ck_fq_forward_avx2(px + range.lowerBound, po + range.lowerBound, range.count, s, z, minInt, maxInt, fusedReLU ? 1 : 0,
                                           stream)
                        continue
                    }
                #endif
                forwardSegment(range, px, po, s, z, minInt, maxInt, fusedReLU)
            }
        }
        // NaN inputs stay NaN (the comparisons above are false for NaN).
        let dx = x.detach(), ds = scale.detach(), dz = zeroPoint.detach()
        let needX = x.requiresGrad, needS = scale.requiresGrad, needZ = zeroPoint.requiresGrad
        return Autograd.record("int_quant", output: out, inputs: [x, scale, zeroPoint]) { g in
            backward(g, dx, ds, dz, seg, minInt, maxInt, clampSte, fusedReLU, needX, needS, needZ, avx2)
        }
    }

    static let block = 1 << 14

    /// From this many elements on (32 MB of floats, far more than the caches keep between two
    /// layers here) the AVX-512 kernels write outputs and input gradients with non-temporal
    /// stores: they skip reading each output line before writing it, a third of the forward's
    /// memory traffic and a quarter of the backward's. Same values either way.
    static let streamingCount = 1 << 23

    /// Whether the segment loops run as the AVX2 kernels of `CKernels` (same results, about twice
    /// the speed of the baseline x86-64 code Swift generates); otherwise the Swift loops below.
    #if arch(x86_64)
        public static let hasAVX2 = ck_has_avx2() != 0
    #else
        public static let hasAVX2 = false
    #endif

    static func backward(
        _ g: Tensor, _ x: Tensor, _ scale: Tensor, _ zp: Tensor, _ seg: Segments,
        _ minInt: Float, _ maxInt: Float, _ clampSte: Bool, _ fusedReLU: Bool, _ needX: Bool, _ needS: Bool,
        _ needZ: Bool, _ avx2: Bool
    ) -> [Tensor?] {
        let gx = needX ? Tensor.empty(x.shape) : Tensor.empty([0])
        let px = x.storage.pointer, pg = g.storage.pointer, pgx = gx.storage.pointer
        let ps = scale.storage.pointer, pz = zp.storage.pointer
        // One scale and one zero-point partial sum per segment, accumulated in Double, so the
        // result does not depend on how segments are spread over threads.
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, 2 * seg.count))
        defer { partial.deallocate() }
        let selectClamp = !clampSte
        let stream: Int32 = x.count >= streamingCount ? 1 : 0
        Parallel.forRanges(seg.count, costPerItem: seg.length) { r in
            for k in r {
                let s = ps[seg.sIndex(k)], z = pz[seg.zIndex(k)], range = seg.range(k)
                var accS: Double = 0, accZ: Double = 0
                #if arch(x86_64)
                    if avx2 {
                        let o = range.lowerBound
                        ck_fq_backward_avx2(px + o, pg + o, needX ? pgx + o : nil, range.count, s, z, minInt, maxInt,
                                            selectClamp ? 1 : 0, fusedReLU ? 1 : 0, stream, &accS, &accZ)
                    } else {
                        (accS, accZ) = backwardSegment(range, px, pg, needX ? pgx : nil, s, z, minInt, maxInt, selectClamp, fusedReLU)
                    }
                #else
                    (accS, accZ) = backwardSegment(range, px, pg, needX ? pgx : nil, s, z, minInt, maxInt, selectClamp, fusedReLU)
                #endif
                partial[2 * k] = accS
                partial[2 * k + 1] = -accZ * Double(s)
            }
        }
        func reduce(_ offset: Int, _ channels: Int, _ like: Tensor) -> Tensor {
            var sums = [Double](repeating: 0, count: channels)
            for k in 0..<seg.count { sums[channels == 1 ? 0 : k % channels] += partial[2 * k + offset] }
            return Tensor(shape: like.shape, sums.map { Float($0) })
        }
        return [
            needX ? gx : nil,
            needS ? reduce(0, seg.sChannels, scale) : nil,
            needZ ? reduce(1, seg.zChannels, zp) : nil,
        ]
    }

    /// The backward of one segment with constant `s` and `z`: writes the input gradient (when
    /// `gx` is given) and returns the scale partial sum Σ G·(q − z − [not clipped]·x/s) and
    /// Σ_clipped G. Eight lanes at a time, partial sums flushed to Double every 1024 elements.
    @inline(__always)
    static func backwardSegment(
        _ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ pg: UnsafeMutablePointer<Float>,
        _ gx: UnsafeMutablePointer<Float>?, _ s: Float, _ z: Float, _ minInt: Float, _ maxInt: Float,
        _ selectClamp: Bool, _ fusedReLU: Bool
    ) -> (Double, Double) {
        typealias V = SIMD8<Float>
        let magic = V(repeating: 12_582_912), limit = V(repeating: 4_194_304)
        let vs = V(repeating: s), vz = V(repeating: z), vmin = V(repeating: minInt), vmax = V(repeating: maxInt)
        var accS: Double = 0, accZ: Double = 0
        var i = range.lowerBound
        let end = range.upperBound
        while i + 8 <= end {
            let chunkEnd = Swift.min(end, i + 1024)
            var fs = V(), fz = V()
            while i + 8 <= chunkEnd {
                var x = UnsafeRawPointer(px + i).loadUnaligned(as: V.self)
                let g = UnsafeRawPointer(pg + i).loadUnaligned(as: V.self)
                let dead = x .<= V()
                if fusedReLU { x.replace(with: 0, where: x .< V()) }
                let v = x / vs
                let u = v + vz
                var r = (u + magic) - magic
                r.replace(with: u, where: .!((u .< limit) .& (-limit .< u)))
                let over = r .> vmax, under = r .< vmin
                var q = r
                q.replace(with: vmax, where: over)
                q.replace(with: vmin, where: under)
                let clipped = selectClamp ? (over .| under) : SIMDMask<V.MaskStorage>(repeating: false)
                var vv = v
                vv.replace(with: 0, where: clipped)
                fs += g * ((q - vz) - vv)
                var gc = V()
                gc.replace(with: g, where: clipped)
                fz += gc
                if let gx {
                    var out = g
                    out.replace(with: 0, where: fusedReLU ? (clipped .| dead) : clipped)
                    UnsafeMutableRawPointer(gx + i).storeBytes(of: out, as: V.self)
                }
                i += 8
            }
            accS += Double(fs.sum())
            accZ += Double(fz.sum())
        }
        while i < end {
            let gi = pg[i]
            let xi = fusedReLU && px[i] < 0 ? 0 : px[i]
            let v = xi / s
            let rq = roundHalfEven(v + z)
            let clipped = selectClamp && (rq > maxInt || rq < minInt)
            let q = rq > maxInt ? maxInt : (rq < minInt ? minInt : rq)
            if let gx { gx[i] = clipped || (fusedReLU && !(px[i] > 0)) ? 0 : gi }
            accS += Double(clipped ? gi * (q - z) : gi * ((q - z) - v))
            accZ += clipped ? Double(gi) : 0
            i += 1
        }
        return (accS, accZ)
    }

    /// The forward of one segment with constant `s` and `z`, eight lanes at a time.
    @inline(__always)
    static func forwardSegment(
        _ range: Range<Int>, _ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>,
        _ s: Float, _ z: Float, _ minInt: Float, _ maxInt: Float, _ fusedReLU: Bool
    ) {
        typealias V = SIMD8<Float>
        let magic = V(repeating: 12_582_912), limit = V(repeating: 4_194_304)
        let vs = V(repeating: s), vz = V(repeating: z), vmin = V(repeating: minInt), vmax = V(repeating: maxInt)
        var i = range.lowerBound
        let end = range.upperBound
        while i + 8 <= end {
            var x = UnsafeRawPointer(px + i).loadUnaligned(as: V.self)
            if fusedReLU { x.replace(with: 0, where: x .< V()) }
            let u = x / vs + vz
            var q = (u + magic) - magic
            q.replace(with: u, where: .!((u .< limit) .& (-limit .< u)))
            q.replace(with: vmax, where: q .> vmax)
            q.replace(with: vmin, where: q .< vmin)
            UnsafeMutableRawPointer(po + i).storeBytes(of: (q - vz) * vs, as: V.self)
            i += 8
        }
        while i < end {
            let xi = fusedReLU && px[i] < 0 ? 0 : px[i]
            var q = roundHalfEven(xi / s + z)
            q = q > maxInt ? maxInt : q
            q = q < minInt ? minInt : q
            po[i] = (q - z) * s
            i += 1
        }
    }
}
