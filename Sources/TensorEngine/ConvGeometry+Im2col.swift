import CKernels

/// Unfolding image patches into GEMM columns (im2col) and folding column gradients back (col2im).
///
/// Both go through a zero-padded copy of one channel plane at a time (`ck_im2col_plane`,
/// `ck_col2im_plane` in CKernels/im2col.c): every tap then reads or writes whole rows without
/// bounds checks, which for the 8- to 32-float rows of small feature maps is one or a few vector
/// moves per row (a bounds-checked row loop spent more on its bookkeeping than on the copy).
extension ConvGeometry {
    /// Floats after a padded plane that a stride-2 row may read (im2col) or write +0 to (col2im).
    static let planeSlack = 16

    /// Unfolds `images` images (`imageStride` floats apart, `cg` channels each) side by side:
    /// image `b` fills columns `b·l ..< (b+1)·l` of `col` (row stride `ld`), channel `c` rows
    /// `c·kH·kW ..< (c+1)·kH·kW`. Channel planes run in parallel.
    func im2col(images: Int, _ src: UnsafePointer<Float>, imageStride: Int, _ col: UnsafeMutablePointer<Float>, ld: Int) {
        let kk = kH * kW, l = self.l, cg = self.cg
        let (inH, inW, outH, outW, kH, kW, sH, sW, pH, pW, dH, dW) = (
            self.inH, self.inW, self.outH, self.outW, self.kH, self.kW, self.sH, self.sW, self.pH, self.pW,
            self.dH, self.dW)
        let padW = inW + 2 * pW, planeCount = (inH + 2 * pH) * padW + Self.planeSlack
        Parallel.forRanges(images * cg, costPerItem: l * kk, minWork: 1 << 15) { range in
            // One scratch plane per task: its border stays zero, each channel overwrites the inside.
            let pp = UnsafeMutablePointer<Float>.allocate(capacity: planeCount)
            defer { pp.deallocate() }
            pp.initialize(repeating: 0, count: planeCount)
            for item in range {
                let b = item / cg, c = item % cg
                ck_pad_plane(src + b * imageStride + c * inH * inW, inH, inW, pp, padW, pH, pW)
                ck_im2col_plane(pp, padW, outH, outW, kH, kW, sH, sW, dH, dW, col + c * kk * ld + b * l, ld)
            }
        }
    }

    /// Folds `col` (`[cg·kH·kW, outH·outW]`, row stride `ld`) back into `cg` image planes at
    /// `dst`, summing the overlapping contributions (overwrites `dst`). Channels are independent,
    /// so they run in parallel; each element's contributions are added in tap, row, column order.
    func col2im(_ col: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, ld: Int) {
        let kk = kH * kW, l = self.l
        let (inH, inW, outH, outW, kH, kW, sH, sW, pH, pW, dH, dW) = (
            self.inH, self.inW, self.outH, self.outW, self.kH, self.kW, self.sH, self.sW, self.pH, self.pW,
            self.dH, self.dW)
        let padW = inW + 2 * pW, planeCount = (inH + 2 * pH) * padW + Self.planeSlack
        Parallel.forRanges(cg, costPerItem: l * kk, minWork: 1 << 15) { range in
            let pp = UnsafeMutablePointer<Float>.allocate(capacity: planeCount)
            defer { pp.deallocate() }
            for c in range {
                pp.initialize(repeating: 0, count: planeCount)
                ck_col2im_plane(col + c * kk * ld, ld, pp, padW, outH, outW, kH, kW, sH, sW, dH, dW)
                ck_unpad_plane(pp, padW, pH, pW, dst + c * inH * inW, inH, inW)
            }
        }
    }
}
