/// The convolution kernels: Winograd for 3x3 stride 1 with enough channels, direct loops for
/// depthwise, otherwise im2col + one BLAS GEMM per block of images and group (col2im, or for
/// stride 1 the flipped convolution, for the input gradient), blocks of images in parallel.
extension ConvGeometry {
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
            if columns == nil, let packing = winogradPacking {
                packedWinogradForward(packing, x, w, bias, out)
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
                    // Per image plane: 16 lane sums (vectorised: a float sum in one chain runs
                    // at one add per 4 cycles), added in lane order, then the tail.
                    var acc: Double = 0
                    for img in 0..<n {
                        let p = g + (img * outC + o) * l
                        var lanes = SIMD16<Float>()
                        var i = 0
                        while i + 16 <= l {
                            lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
                            i += 16
                        }
                        var s: Float = 0
                        for k in 0..<16 { s += lanes[k] }
                        while i < l {
                            s += p[i]
                            i += 1
                        }
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
            if let packing = winogradPacking {
                packedWinogradBackward(packing, g: g, x: x, w: w, gx: gx, gw: gw)
                return
            }
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
}
