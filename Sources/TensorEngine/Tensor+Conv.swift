/// Convolutions (NCHW) with input, weight and bias gradients:
/// - 3x3, stride 1, at least 16 channels: Winograd F(2x2, 3x3) (`Tensor+Winograd.swift`);
/// - one input channel per group (depthwise): direct loops;
/// - otherwise im2col + one BLAS GEMM per block of images and group (col2im, or for stride 1
///   the flipped convolution, for the input gradient), blocks of images in parallel.
/// The forward keeps its im2col columns for the weight gradient when they are small.
///
/// Output size per spatial dimension: `(in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1`,
/// as `torch.nn.functional.conv2d`.
extension Tensor {
    /// 2-D convolution (`torch.nn.functional.conv2d`): `x` is `[N, C, H, W]`, `weight` is
    /// `[O, C/groups, kH, kW]`, `bias` is `[O]`; the result is `[N, O, Ho, Wo]`.
    public static func conv2d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 4, "conv2d: input must be [N, C, H, W], got shape \(x.shape)")
        precondition(weight.rank == 4, "conv2d: weight must be [O, C/groups, kH, kW], got shape \(weight.shape)")
        let geo = ConvGeometry(
            input: x.shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation,
            groups: groups)
        if let bias {
            precondition(bias.shape == [geo.outC], "conv2d: bias shape \(bias.shape) must be [\(geo.outC)] for weight \(weight.shape)")
        }
        let out = Tensor.empty([geo.n, geo.outC, geo.outH, geo.outW])
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        // The weight gradient reads the same im2col columns as the forward: keep them when they
        // are not too large instead of unfolding the input twice.
        let columns: Tensor? =
            Autograd.isEnabled && needW && geo.savesColumns ? Tensor.empty([geo.columnCount]) : nil
        Autograd.noGrad {
            geo.forward(x.storage.pointer, weight.storage.pointer, bias?.storage.pointer, out.storage.pointer,
                        columns: columns?.storage.pointer)
        }
        let dx = x.detach(), dw = weight.detach()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record("conv2d", output: out, inputs: inputs) { g in
            let gx = needX ? Tensor.empty(dx.shape) : nil
            let gw = needW ? Tensor.empty(dw.shape) : nil
            let gb = needB ? Tensor.empty([geo.outC]) : nil
            geo.backward(
                g: g.storage.pointer, x: dx.storage.pointer, w: dw.storage.pointer,
                gx: gx?.storage.pointer, gw: gw?.storage.pointer, gb: gb?.storage.pointer,
                columns: columns.map { UnsafePointer($0.storage.pointer) })
            var grads: [Tensor?] = [gx, gw]
            if bias != nil { grads.append(gb) }
            return grads
        }
    }

    /// 1-D convolution (`torch.nn.functional.conv1d`): `x` is `[N, C, L]`, `weight` is
    /// `[O, C/groups, k]`; the result is `[N, O, Lo]`. Runs as a 2-D convolution with height 1.
    public static func conv1d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 3, "conv1d: input must be [N, C, L], got shape \(x.shape)")
        precondition(weight.rank == 3, "conv1d: weight must be [O, C/groups, k], got shape \(weight.shape)")
        let x4 = x.reshape([x.shape[0], x.shape[1], 1, x.shape[2]])
        let w4 = weight.reshape([weight.shape[0], weight.shape[1], 1, weight.shape[2]])
        let y = conv2d(
            x4, weight: w4, bias: bias, stride: (1, stride), padding: (0, padding), dilation: (1, dilation),
            groups: groups)
        return y.reshape([y.shape[0], y.shape[1], y.shape[3]])
    }
}

/// Sizes of one convolution and its im2col/GEMM kernels.
struct ConvGeometry {
    let n: Int, inC: Int, inH: Int, inW: Int
    let outC: Int, kH: Int, kW: Int
    let sH: Int, sW: Int, pH: Int, pW: Int, dH: Int, dW: Int
    let groups: Int
    let outH: Int, outW: Int

    var cg: Int { inC / groups }  // input channels per group
    var og: Int { outC / groups }  // output channels per group
    var kg: Int { cg * kH * kW }  // GEMM reduction size per group
    var l: Int { outH * outW }  // output pixels per image
    /// A 1x1, stride-1, unpadded convolution reads the input plane directly (no im2col).
    var isPointwise: Bool { kH == 1 && kW == 1 && sH == 1 && sW == 1 && pH == 0 && pW == 0 }

    init(input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) {
        precondition(groups >= 1, "conv: groups must be >= 1, got \(groups)")
        precondition(stride.0 >= 1 && stride.1 >= 1, "conv: stride must be >= 1, got \(stride)")
        precondition(padding.0 >= 0 && padding.1 >= 0, "conv: padding must be >= 0, got \(padding)")
        precondition(dilation.0 >= 1 && dilation.1 >= 1, "conv: dilation must be >= 1, got \(dilation)")
        n = input[0]; inC = input[1]; inH = input[2]; inW = input[3]
        outC = weight[0]; kH = weight[2]; kW = weight[3]
        precondition(inC % groups == 0 && outC % groups == 0,
                     "conv: input channels \(inC) and output channels \(outC) must be divisible by groups \(groups)")
        precondition(weight[1] * groups == inC,
                     "conv: weight \(weight) expects \(weight[1] * groups) input channels (groups \(groups)), input \(input) has \(inC)")
        (sH, sW) = stride; (pH, pW) = padding; (dH, dW) = dilation
        self.groups = groups
        outH = (inH + 2 * pH - dH * (kH - 1) - 1) / sH + 1
        outW = (inW + 2 * pW - dW * (kW - 1) - 1) / sW + 1
        precondition(inH + 2 * pH - dH * (kH - 1) - 1 >= 0 && inW + 2 * pW - dW * (kW - 1) - 1 >= 0,
                     "conv: kernel \(kH)x\(kW) (dilation \(dilation)) is larger than the padded input \(input) (padding \(padding))")
    }

    /// For stride 1 (and padding ≤ dilation·(kernel − 1)): the geometry of the convolution that
    /// computes the input gradient from the output gradient with the flipped, transposed kernel.
    var transposed: ConvGeometry? {
        guard sH == 1 && sW == 1, pH <= dH * (kH - 1), pW <= dW * (kW - 1), og > 0 else { return nil }
        return ConvGeometry(
            input: [n, outC, outH, outW], weight: [inC, og, kH, kW], stride: (1, 1),
            padding: (dH * (kH - 1) - pH, dW * (kW - 1) - pW), dilation: (dH, dW), groups: groups)
    }

    /// Floats of the im2col columns of the whole batch: block by block (`imagesPerGemm` images),
    /// group by group within a block, each `[kg, images·l]`.
    var columnCount: Int { n * groups * kg * l }

    /// Where the columns of the block starting at image `i0` (`cnt` images), group `gi`, start.
    @inline(__always) func columnOffset(_ i0: Int, _ cnt: Int, _ gi: Int) -> Int { (i0 * groups + gi * cnt) * kg * l }

    /// Whether the forward keeps its im2col columns for the weight gradient: GEMM convolutions
    /// (not 1x1, not depthwise) whose columns take at most 16 MB (beyond that, unfolding again streams no more memory than
    /// reading them back).
    var savesColumns: Bool {
        !isPointwise && !usesWinograd && !(cg == 1 && groups > 1) && cg > 0 && columnCount > 0 && columnCount <= 1 << 22
    }

    /// Images per GEMM: one when an image has enough output pixels to make a wide GEMM, more
    /// (their columns side by side) for small feature maps, within a ~16 MB column buffer.
    var imagesPerGemm: Int {
        let l = self.l
        if l >= 1024 || n <= 1 { return 1 }
        let want = (1024 + l - 1) / l
        let cap = Swift.max(1, (4 << 20) / Swift.max(kg * l, 1))
        return Swift.max(1, Swift.min(n, want, cap))
    }

    /// The forward; with `columns` (`columnCount` floats, GEMM paths only) the im2col columns are
    /// written there, laid out as `columnOffset` says, and kept.
    func forward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>,
        columns: UnsafeMutablePointer<Float>? = nil
    ) {
        let l = self.l, kg = self.kg, og = self.og, cg = self.cg
        if n == 0 || outC == 0 { return }
        if cg == 0 {
            for img in 0..<n {
                for o in 0..<outC { (out + (img * outC + o) * l).update(repeating: bias?[o] ?? 0, count: l) }
            }
            return
        }
        #if arch(x86_64)
            if usesWinograd && columns == nil {
                winogradForward(x, w, bias, out)
                return
            }
        #endif
        if cg == 1 && kH * kW <= 64 && columns == nil {
            depthwiseForward(x, w, bias, out)
            return
        }
        // Blocks of `imagesPerGemm` images run in parallel, each with its own scratch (the GEMMs
        // inside a block then run on that thread); a single block splits its GEMMs instead.
        let nb = imagesPerGemm, blocks = (n + nb - 1) / nb
        let scratchCount = (isPointwise && nb == 1) || columns != nil ? 0 : kg * nb * l
        Parallel.forRanges(blocks, costPerItem: og * kg * nb * l * groups) { r in
            Workspace.withBuffer(scratchCount) { scratch in
                Workspace.withBuffer(nb > 1 ? og * nb * l : 0) { tmp in
                    for blk in r {
                        let i0 = blk * nb, cnt = Swift.min(nb, n - i0), ld = cnt * l
                        for gi in 0..<groups {
                            let xg = x + (i0 * inC + gi * cg) * inH * inW
                            let b: UnsafePointer<Float>
                            if isPointwise && cnt == 1 {
                                b = xg
                            } else {
                                let col = columns.map { $0 + columnOffset(i0, cnt, gi) } ?? scratch
                                im2col(images: cnt, xg, imageStride: inC * inH * inW, col, ld: ld)
                                b = UnsafePointer(col)
                            }
                            let wg = w + gi * og * kg
                            if cnt == 1 {
                                // One image: the GEMM writes the output planes directly.
                                let dst = out + (i0 * outC + gi * og) * l
                                if let bias {
                                    for o in 0..<og { (dst + o * l).update(repeating: bias[gi * og + o], count: l) }
                                }
                                BLAS.sgemm(
                                    transA: false, transB: false, m: og, n: l, k: kg, a: wg, lda: kg,
                                    b: b, ldb: l, beta: bias == nil ? 0 : 1, c: dst, ldc: l)
                                continue
                            }
                            // Several images: [og, cnt·l] scattered to the images.
                            BLAS.sgemm(
                                transA: false, transB: false, m: og, n: ld, k: kg, a: wg, lda: kg,
                                b: b, ldb: ld, c: tmp, ldc: ld)
                            for item in 0..<(cnt * og) {
                                let bi = item / og, o = item % og
                                let dst = out + ((i0 + bi) * outC + gi * og + o) * l
                                let src = tmp + o * ld + bi * l
                                let bv = bias?[gi * og + o] ?? 0
                                for j in 0..<l { dst[j] = src[j] + bv }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The gradients; `columns`, when given, are the forward's im2col columns (see `forward`).
    func backward(
        g: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
        gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?, gb: UnsafeMutablePointer<Float>?,
        columns: UnsafePointer<Float>? = nil
    ) {
        let l = self.l, kg = self.kg, og = self.og, cg = self.cg
        if let gb {
            Parallel.forRanges(outC, costPerItem: n * l) { r in
                for o in r {
                    var acc: Double = 0
                    for img in 0..<n {
                        let p = g + (img * outC + o) * l
                        var s: Float = 0
                        for i in 0..<l { s += p[i] }
                        acc += Double(s)
                    }
                    gb[o] = Float(acc)
                }
            }
        }
        if let gw, n == 0 || l == 0 { gw.update(repeating: 0, count: outC * kg) }
        if let gx, cg == 0 || og == 0 || l == 0 { gx.update(repeating: 0, count: n * inC * inH * inW) }
        if n == 0 || cg == 0 || og == 0 || l == 0 { return }
        if gx == nil && gw == nil { return }
        #if arch(x86_64)
            if usesWinograd, let gw {
                winogradWeightGradient(g, x, gw)
                if gx != nil { backward(g: g, x: x, w: w, gx: gx, gw: nil, gb: nil) }
                return
            }
        #endif
        if cg == 1 && kH * kW <= 64 && (groups > 1 || gw == nil) {
            // Depthwise: direct loops. (A single-input-channel convolution's weight gradient is
            // a reduction over every pixel of every image: one GEMM does it far faster.)
            depthwiseBackward(g: g, x: x, w: w, gx: gx, gw: gw)
            return
        }
        if let gx, let geoT = transposed, og * inH * inW <= 2 * cg * l {
            // (Only when its columns, og·kH·kW per input pixel, are not much larger than those
            // of col2im, cg·kH·kW per output pixel: small maps with large kernels fold back.)
            // Stride 1: dX is the convolution of dY with the flipped, transposed kernel (a wide
            // GEMM with K = og·kH·kW, and no col2im).
            let kk = kH * kW
            Workspace.withBuffer(inC * og * kk) { wt in
                for gi in 0..<groups {
                    for o in 0..<og {
                        for c in 0..<cg {
                            let src = w + ((gi * og + o) * cg + c) * kk
                            let dst = wt + ((gi * cg + c) * og + o) * kk
                            for t in 0..<kk { dst[kk - 1 - t] = src[t] }
                        }
                    }
                }
                geoT.forward(g, UnsafePointer(wt), nil, gx)
            }
            if gw != nil { backward(g: g, x: x, w: w, gx: nil, gw: gw, gb: nil, columns: columns) }
            return
        }
        // Blocks of `imagesPerGemm` images run in parallel (see `forward`). Each block's weight
        // gradient goes to its own slot; the slots are summed in block order afterwards, so the
        // result does not depend on which thread ran which block.
        let nb = imagesPerGemm, blocks = (n + nb - 1) / nb
        let direct = nb == 1 && isPointwise  // x and dX planes are the GEMM operands themselves
        let colCount = direct || gw == nil || columns != nil ? 0 : kg * nb * l
        let dcolCount = gx != nil && !direct ? kg * nb * l : 0
        let gybCount = nb > 1 ? og * nb * l : 0
        Workspace.withBuffer(gw != nil && blocks > 1 ? blocks * outC * kg : 0) { slots in
            Parallel.forRanges(blocks, costPerItem: 2 * og * kg * nb * l * groups) { r in
                Workspace.withBuffer(colCount + dcolCount + gybCount) { scratch in
                    let col = scratch, dcol = scratch + colCount, gyb = dcol + dcolCount
                    for blk in r {
                        let i0 = blk * nb, cnt = Swift.min(nb, n - i0), ld = cnt * l
                        for gi in 0..<groups {
                            // dY of this block as [og, cnt·l].
                            let gy: UnsafePointer<Float>
                            if cnt == 1 {
                                gy = g + (i0 * outC + gi * og) * l
                            } else {
                                for item in 0..<(cnt * og) {
                                    let bi = item / og, o = item % og
                                    (gyb + o * ld + bi * l).update(from: g + ((i0 + bi) * outC + gi * og + o) * l, count: l)
                                }
                                gy = UnsafePointer(gyb)
                            }
                            let wg = w + gi * og * kg
                            if let gw {
                                let bm: UnsafePointer<Float>
                                if direct {
                                    bm = x + (i0 * inC + gi * cg) * inH * inW
                                } else if let columns {
                                    bm = columns + columnOffset(i0, cnt, gi)
                                } else {
                                    im2col(images: cnt, x + (i0 * inC + gi * cg) * inH * inW, imageStride: inC * inH * inW, col, ld: ld)
                                    bm = UnsafePointer(col)
                                }
                                // dW_g (this block) = dY_g · colᵀ
                                let dst = blocks > 1 ? slots + blk * outC * kg : gw
                                BLAS.sgemm(
                                    transA: false, transB: true, m: og, n: kg, k: ld, a: gy, lda: ld, b: bm, ldb: ld,
                                    c: dst + gi * og * kg, ldc: kg)
                            }
                            if let gx {
                                // dcol = W_gᵀ · dY_g, then folded back into the images (col2im).
                                if direct {
                                    BLAS.sgemm(
                                        transA: true, transB: false, m: kg, n: l, k: og, a: wg, lda: kg, b: gy, ldb: l,
                                        c: gx + (i0 * inC + gi * cg) * inH * inW, ldc: l)
                                } else {
                                    BLAS.sgemm(
                                        transA: true, transB: false, m: kg, n: ld, k: og, a: wg, lda: kg, b: gy, ldb: ld,
                                        c: dcol, ldc: ld)
                                    for bi in 0..<cnt {
                                        col2im(dcol + bi * l, gx + ((i0 + bi) * inC + gi * cg) * inH * inW, ld: ld)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if let gw, blocks > 1 {
                gw.update(from: slots, count: outC * kg)
                for blk in 1..<blocks {
                    let src = slots + blk * outC * kg
                    for i in 0..<(outC * kg) { gw[i] += src[i] }
                }
            }
        }
    }

    // MARK: one input channel per group (depthwise): direct loops, no GEMM

    /// Output columns `lo..<hi` whose input column `ow·sW + off` lies inside the image.
    @inline(__always) func validColumns(_ off: Int) -> (Int, Int) {
        // ow·sW + off >= 0  and  ow·sW + off < inW
        let lo = off >= 0 ? 0 : (-off + sW - 1) / sW
        let hi = inW - off <= 0 ? 0 : Swift.min(outW, (inW - off + sW - 1) / sW)
        return (Swift.min(lo, outW), Swift.max(Swift.min(lo, outW), hi))
    }

    /// `out[img, o] = bias[o] + Σ_taps w[o, tap] · x[img, o / og] shifted`, one output plane per
    /// task.
    func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>) {
        let l = self.l, og = self.og
        let taps = kH * kW
        let unpadded = pH == 0 && pW == 0 && sW == 1 && dW == 1
        Parallel.forRanges(n * outC, costPerItem: l * taps) { r in
            for plane in r {
                let img = plane / outC, o = plane % outC
                let src = x + (img * inC + o / og) * inH * inW
                let dst = out + plane * l
                if unpadded {
                    unpaddedPlane(src, w + o * taps, bias?[o] ?? 0, dst)
                    continue
                }
                dst.update(repeating: bias?[o] ?? 0, count: l)
                for ki in 0..<kH {
                    for kj in 0..<kW {
                        let wv = w[o * taps + ki * kW + kj]
                        let off = kj * dW - pW
                        let (lo, hi) = validColumns(off)
                        if lo >= hi { continue }
                        for oh in 0..<outH {
                            let ih = oh * sH - pH + ki * dH
                            if ih < 0 || ih >= inH { continue }
                            let srow = src + ih * inW + off, drow = dst + oh * outW
                            if sW == 1 {
                                for ow in lo..<hi { drow[ow] += wv * srow[ow] }
                            } else {
                                for ow in lo..<hi { drow[ow] += wv * srow[ow * sW] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One output plane of an unpadded, column-stride-1 depthwise convolution: eight outputs of
    /// a row at a time, all taps summed in registers (bias first, then the taps in order, as the
    /// general loop sums them).
    @inline(__always)
    func unpaddedPlane(_ src: UnsafePointer<Float>, _ wo: UnsafePointer<Float>, _ b: Float, _ dst: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let (kH, kW, sH, dH, inW, outH, outW) = (self.kH, self.kW, self.sH, self.dH, self.inW, self.outH, self.outW)
        for oh in 0..<outH {
            let srow = src + oh * sH * inW, drow = dst + oh * outW
            var ow = 0
            while ow + 8 <= outW {
                var acc = V(repeating: b)
                for ki in 0..<kH {
                    let p = UnsafeRawPointer(srow + ki * dH * inW + ow)
                    for kj in 0..<kW {
                        acc += V(repeating: wo[ki * kW + kj]) * p.loadUnaligned(fromByteOffset: kj * 4, as: V.self)
                    }
                }
                UnsafeMutableRawPointer(drow + ow).storeBytes(of: acc, as: V.self)
                ow += 8
            }
            while ow < outW {
                var acc = b
                for ki in 0..<kH {
                    let p = srow + ki * dH * inW + ow
                    for kj in 0..<kW { acc += wo[ki * kW + kj] * p[kj] }
                }
                drow[ow] = acc
                ow += 1
            }
        }
    }

    func depthwiseBackward(
        g: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
        gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?
    ) {
        let l = self.l, og = self.og
        let taps = kH * kW
        if let gx {
            // One input plane per task: gathers from the og output planes that read it.
            Parallel.forRanges(n * inC, costPerItem: og * l * taps) { r in
                for plane in r {
                    let img = plane / inC, c = plane % inC
                    let dst = gx + plane * inH * inW
                    dst.update(repeating: 0, count: inH * inW)
                    for o in (c * og)..<((c + 1) * og) {
                        let gp = g + (img * outC + o) * l
                        for ki in 0..<kH {
                            for kj in 0..<kW {
                                let wv = w[o * taps + ki * kW + kj]
                                let off = kj * dW - pW
                                let (lo, hi) = validColumns(off)
                                if lo >= hi { continue }
                                for oh in 0..<outH {
                                    let ih = oh * sH - pH + ki * dH
                                    if ih < 0 || ih >= inH { continue }
                                    let drow = dst + ih * inW + off, grow = gp + oh * outW
                                    if sW == 1 {
                                        for ow in lo..<hi { drow[ow] += wv * grow[ow] }
                                    } else {
                                        for ow in lo..<hi { drow[ow * sW] += wv * grow[ow] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let gw {
            // One output channel per task: dW[o, tap] = Σ_img Σ_pixels dY · x shifted.
            Parallel.forRanges(outC, costPerItem: n * l * taps) { r in
                for o in r {
                    let c = o / og
                    for ki in 0..<kH {
                        for kj in 0..<kW {
                            let off = kj * dW - pW
                            let (lo, hi) = validColumns(off)
                            var acc: Double = 0
                            if lo < hi {
                                for img in 0..<n {
                                    let gp = g + (img * outC + o) * l, src = x + (img * inC + c) * inH * inW
                                    var part: Float = 0
                                    for oh in 0..<outH {
                                        let ih = oh * sH - pH + ki * dH
                                        if ih < 0 || ih >= inH { continue }
                                        let srow = src + ih * inW + off, grow = gp + oh * outW
                                        if sW == 1 {
                                            for ow in lo..<hi { part += grow[ow] * srow[ow] }
                                        } else {
                                            for ow in lo..<hi { part += grow[ow] * srow[ow * sW] }
                                        }
                                    }
                                    acc += Double(part)
                                }
                            }
                            gw[o * taps + ki * kW + kj] = Float(acc)
                        }
                    }
                }
            }
        }
    }

    /// Unfolds `images` images (`imageStride` floats apart, `cg` channels each) side by side:
    /// image `b` fills columns `b·l ..< (b+1)·l` of `col` (row stride `ld`). Rows of all images
    /// run in parallel.
    func im2col(images: Int, _ src: UnsafePointer<Float>, imageStride: Int, _ col: UnsafeMutablePointer<Float>, ld: Int) {
        let rows = cg * kH * kW
        let l = self.l
        let (inH, inW, outH, outW, kH, kW, sH, sW, pH, pW, dH, dW) = (
            self.inH, self.inW, self.outH, self.outW, self.kH, self.kW, self.sH, self.sW, self.pH, self.pW,
            self.dH, self.dW)
        if outW < 32 {
            // Narrow maps: per-row bookkeeping would dominate. Each task copies one channel
            // plane into a zero-padded scratch plane once, then fills its kH·kW rows without
            // bounds checks.
            let kk = kH * kW
            let padH = inH + 2 * pH, padW = inW + 2 * pW
            Parallel.forRanges(images * cg, costPerItem: l * kk, minWork: 1 << 15) { range in
                let pp = UnsafeMutablePointer<Float>.allocate(capacity: padH * padW)
                defer { pp.deallocate() }
                pp.initialize(repeating: 0, count: padH * padW)
                for item in range {
                    let b = item / cg, c = item % cg
                    let plane = src + b * imageStride + c * inH * inW
                    for ih in 0..<inH { copyShort(pp + (ih + pH) * padW + pW, plane + ih * inW, inW) }
                    for ki in 0..<kH {
                        for kj in 0..<kW {
                            let d = col + (c * kk + ki * kW + kj) * ld + b * l
                            for oh in 0..<outH {
                                let srow = pp + (oh * sH + ki * dH) * padW + kj * dW
                                let drow = d + oh * outW
                                if sW == 1 {
                                    copyShort(drow, srow, outW)
                                } else {
                                    for ow in 0..<outW { drow[ow] = srow[ow * sW] }
                                }
                            }
                        }
                    }
                }
            }
            return
        }
        Parallel.forRanges(images * rows, costPerItem: l, minWork: 1 << 15) { range in
            for item in range {
                let b = item / rows, r = item % rows
                let c = r / (kH * kW), ki = (r / kW) % kH, kj = r % kW
                let plane = src + b * imageStride + c * inH * inW
                let dstRow = col + r * ld + b * l
                let iwOff = kj * dW - pW
                // Output columns whose input column is inside the image.
                var lo = 0, hi = outW
                if sW == 1 {
                    lo = Swift.min(Swift.max(-iwOff, 0), outW)
                    hi = Swift.max(Swift.min(inW - iwOff, outW), lo)
                }
                for oh in 0..<outH {
                    let ih = oh * sH - pH + ki * dH
                    let d = dstRow + oh * outW
                    if ih < 0 || ih >= inH {
                        for ow in 0..<outW { d[ow] = 0 }
                        continue
                    }
                    let srow = plane + ih * inW + iwOff
                    if sW == 1 {
                        for ow in 0..<lo { d[ow] = 0 }
                        for ow in lo..<hi { d[ow] = srow[ow] }
                        for ow in hi..<outW { d[ow] = 0 }
                    } else {
                        for ow in 0..<outW {
                            let iw = ow * sW + iwOff
                            d[ow] = iw >= 0 && iw < inW ? srow[ow * sW] : 0
                        }
                    }
                }
            }
        }
    }

    /// Folds `col` (`[cg·kH·kW, outH·outW]`, row stride `ld`) back into `cg` image planes at
    /// `dst`, summing the overlapping contributions (overwrites `dst`). Channels are independent,
    /// so they run in parallel with a fixed summation order.
    func col2im(_ col: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, ld: Int) {
        let l = self.l
        let (inH, inW, outH, outW, kH, kW, sH, sW, pH, pW, dH, dW) = (
            self.inH, self.inW, self.outH, self.outW, self.kH, self.kW, self.sH, self.sW, self.pH, self.pW,
            self.dH, self.dW)
        Parallel.forRanges(cg, costPerItem: l * kH * kW, minWork: 1 << 15) { range in
            for c in range {
                let plane = dst + c * inH * inW
                plane.update(repeating: 0, count: inH * inW)
                for ki in 0..<kH {
                    for kj in 0..<kW {
                        let srcRow = col + ((c * kH + ki) * kW + kj) * ld
                        let iwOff = kj * dW - pW
                        var lo = 0, hi = outW
                        if sW == 1 {
                            lo = Swift.min(Swift.max(-iwOff, 0), outW)
                            hi = Swift.max(Swift.min(inW - iwOff, outW), lo)
                        }
                        for oh in 0..<outH {
                            let ih = oh * sH - pH + ki * dH
                            if ih < 0 || ih >= inH { continue }
                            let s = srcRow + oh * outW
                            let drow = plane + ih * inW
                            if sW == 1 {
                                let dd = drow + iwOff
                                for ow in lo..<hi { dd[ow] += s[ow] }
                            } else {
                                for ow in 0..<outW {
                                    let iw = ow * sW + iwOff
                                    if iw >= 0 && iw < inW { drow[iw] += s[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Copies a short run of floats with vector moves (a `memcpy` call costs more than the copy for
/// the handful of elements in a row of a small feature map).
@inline(__always)
func copyShort(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 4 <= n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self), toByteOffset: i * 4, as: SIMD4<Float>.self)
        i += 4
    }
    if i + 2 <= n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i * 4, as: SIMD2<Float>.self), toByteOffset: i * 4, as: SIMD2<Float>.self)
        i += 2
    }
    if i < n { dst[i] = src[i] }
}
