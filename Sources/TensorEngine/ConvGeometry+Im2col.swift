/// Unfolding image patches into GEMM columns (im2col) and folding column gradients back (col2im).
extension ConvGeometry {
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
            // Stride 2 gathers eight outputs from sixteen consecutive inputs (`gatherEven`),
            // which may read one float past the last padded row: the plane has some slack.
            let slack = 16
            Parallel.forRanges(images * cg, costPerItem: l * kk, minWork: 1 << 15) { range in
                let pp = UnsafeMutablePointer<Float>.allocate(capacity: padH * padW + slack)
                defer { pp.deallocate() }
                pp.initialize(repeating: 0, count: padH * padW + slack)
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
                                } else if sW == 2 {
                                    gatherEven(drow, srow, outW)
                                } else {
                                    for ow in 0..<outW { drow[ow] = srow[ow &* sW] }
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
                                // Output columns lo..<hi read input columns inside the row.
                                let lo = iwOff >= 0 ? 0 : Swift.min((-iwOff + sW - 1) / sW, outW)
                                let hi = Swift.max(lo, Swift.min(outW, inW - iwOff > 0 ? (inW - iwOff + sW - 1) / sW : 0))
                                var d = drow + (lo &* sW &+ iwOff)
                                for ow in lo..<hi {
                                    d.pointee += s[ow]
                                    d += sW
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

/// `dst[i] = src[2·i]` for `i < n`, eight outputs from sixteen consecutive inputs at a time: it
/// reads `src[0 ..< 2·n]`, one float past the last one used.
@inline(__always)
func gatherEven(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 8 <= n {
        let v = s.loadUnaligned(fromByteOffset: i &* 8, as: SIMD16<Float>.self)
        d.storeBytes(of: v.evenHalf, toByteOffset: i &* 4, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < n {
        dst[i] = src[i &* 2]
        i &+= 1
    }
}
