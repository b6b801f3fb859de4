/// One input channel per group (depthwise): direct loops, no GEMM.
extension ConvGeometry {
    /// Output columns `lo..<hi` whose input column `ow·sW + off` lies inside the image.
    @inline(__always) func validColumns(_ off: Int) -> (Int, Int) {
        // ow·sW + off >= 0  and  ow·sW + off < inW
        let lo = off >= 0 ? 0 : (-off + sW - 1) / sW
        let hi = inW - off <= 0 ? 0 : Swift.min(outW, (inW - off + sW - 1) / sW)
        return (Swift.min(lo, outW), Swift.max(Swift.min(lo, outW), hi))
    }

    /// Every kernel tap in order, `body(ki, tap, off, lo, hi)`: `tap = ki·kW + kj` indexes a
    /// channel's weights, output column `ow` reads input column `ow·sW + off` (`off = kj·dW − pW`),
    /// and `lo..<hi` are the output columns for which that lies inside the image (may be empty).
    @inline(__always) func forEachTap(_ body: (_ ki: Int, _ tap: Int, _ off: Int, _ lo: Int, _ hi: Int) -> Void) {
        for ki in 0..<kH {
            for kj in 0..<kW {
                let off = kj * dW - pW
                let (lo, hi) = validColumns(off)
                body(ki, ki * kW + kj, off, lo, hi)
            }
        }
    }

    /// The output rows `oh` whose input row `ih = oh·sH − pH + ki·dH` for tap row `ki` lies inside
    /// the image, in order: `body(oh, ih)`.
    @inline(__always) func forEachInsideRow(_ ki: Int, _ body: (_ oh: Int, _ ih: Int) -> Void) {
        for oh in 0..<outH {
            let ih = oh * sH - pH + ki * dH
            if ih < 0 || ih >= inH { continue }
            body(oh, ih)
        }
    }

    /// `out[img, o] = bias[o] + Σ_taps w[o, tap] · x[img, o / og] shifted`, one output plane per
    /// task.
    ///
    /// With column stride and dilation 1 (the common 3x3 depthwise layer), each output row is
    /// summed in registers, eight outputs at a time (`registerPlane`); a padded input plane is
    /// first copied into a zero-bordered scratch plane (a few KB, in L1), so the same loop runs
    /// without bounds checks. Other strides and dilations take the general loop. Both sum the bias
    /// first and then the taps in order, so they agree bit for bit.
    /// Every tap of channel weights `wo` and every output row it reaches inside the image, in
    /// the order the sums run (taps, then rows): `body(wv, inputRow, outputRow, lo, hi)` where
    /// output `outputRow + ow` meets input `inputRow + ow·sW` for `ow` in `lo..<hi`.
    @inline(__always) func forEachTapRow(_ wo: UnsafePointer<Float>, _ body: (_ wv: Float, _ inputRow: Int, _ outputRow: Int, _ lo: Int, _ hi: Int) -> Void) {
        forEachTap { ki, tap, off, lo, hi in
            if lo >= hi { return }
            let wv = wo[tap]
            forEachInsideRow(ki) { oh, ih in body(wv, ih * inW + off, oh * outW, lo, hi) }
        }
    }

    func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>) {
        let l = self.l, og = self.og
        let taps = kH * kW
        let registers = sW == 1 && dW == 1
        let padded = pH > 0 || pW > 0
        let pitch = inW + 2 * pW, paddedCount = (inH + 2 * pH) * pitch
        Parallel.forRanges(n * outC, costPerItem: l * taps) { r in
            if registers && padded {
                Workspace.withBuffer(paddedCount) { scratch in
                    // Zero the borders once; every plane overwrites only the interior.
                    scratch.update(repeating: 0, count: paddedCount)
                    for plane in r {
                        let img = plane / outC, o = plane % outC
                        let src = x + (img * inC + o / og) * inH * inW
                        for i in 0..<inH {
                            (scratch + (i + pH) * pitch + pW).update(from: src + i * inW, count: inW)
                        }
                        registerPlane(scratch, pitch: pitch, w + o * taps, bias?[o] ?? 0, out + plane * l)
                    }
                }
                return
            }
            for plane in r {
                let img = plane / outC, o = plane % outC
                let src = x + (img * inC + o / og) * inH * inW
                let dst = out + plane * l
                if registers {
                    registerPlane(src, pitch: inW, w + o * taps, bias?[o] ?? 0, dst)
                    continue
                }
                dst.update(repeating: bias?[o] ?? 0, count: l)
                forEachTapRow(w + o * taps) { wv, inputRow, outputRow, lo, hi in
                    let srow = src + inputRow, drow = dst + outputRow
                    if sW == 1 {
                        for ow in lo..<hi { drow[ow] += wv * srow[ow] }
                    } else {
                        for ow in lo..<hi { drow[ow] += wv * srow[ow * sW] }
                    }
                }
            }
        }
    }

    /// One output plane of a column-stride-1, column-dilation-1 depthwise convolution over an
    /// unpadded plane (`src`, rows `pitch` floats apart): eight outputs of a row at a time, all
    /// taps summed in registers (bias first, then the taps in order, as the general loop sums
    /// them).
    @inline(__always)
    func registerPlane(_ src: UnsafePointer<Float>, pitch inW: Int, _ wo: UnsafePointer<Float>, _ b: Float, _ dst: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let (kH, kW, sH, dH, outH, outW) = (self.kH, self.kW, self.sH, self.dH, self.outH, self.outW)
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
                        forEachTapRow(w + o * taps) { wv, inputRow, outputRow, lo, hi in
                            let drow = dst + inputRow, grow = gp + outputRow
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
        if let gw {
            // One output channel per task: dW[o, tap] = Σ_img Σ_pixels dY · x shifted.
            Parallel.forRanges(outC, costPerItem: n * l * taps) { r in
                for o in r {
                    let c = o / og
                    forEachTap { ki, tap, off, lo, hi in
                        var acc: Double = 0
                        if lo < hi {
                            for img in 0..<n {
                                let gp = g + (img * outC + o) * l, src = x + (img * inC + c) * inH * inW
                                var part: Float = 0
                                forEachInsideRow(ki) { oh, ih in
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
                        gw[o * taps + tap] = Float(acc)
                    }
                }
            }
        }
    }
}
