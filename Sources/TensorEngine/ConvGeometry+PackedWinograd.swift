import CKernels

/// Winograd for small feature maps, by laying images side by side.
///
/// The Winograd kernels tile an output row in groups of eight tiles, so a map of 8 columns (two
/// F(4x4) tiles, or four F(2x2) ones) would leave most of each group empty, and such layers ran as
/// im2col + GEMM, writing nine copies of their input. Instead, `k` images are placed side by side
/// in one wide "virtual" image, `2·pW` zero columns apart, and the virtual image is convolved:
///
///     packed row:   [ img0 row | 0 ... 0 | img1 row | 0 ... 0 | ... | img(k-1) row ]
///                     inW         2·pW       inW                        inW
///
/// With the convolution's own padding pW on both sides, every image sits in a slot of
/// `inW + 2·pW` padded columns, exactly what it reads alone, so the virtual output holds image
/// `j`'s output at columns `j·slot ..< j·slot + outW`; the two columns after each image (a 3x3
/// window straddling two slots) are computed and dropped. Backward: the output gradient packed
/// the same way, with zeros in those two columns, gives the weight gradient over exactly the real
/// outputs, and (through the stride-1 flipped convolution) the input gradient at every real input
/// position; the gap columns' input gradients are dropped.
///
/// | 3x3 stride 1, 16+ channels, map | Winograd | virtual width (k images) |
/// |---|---|---|
/// | 8x8, padding 1 | F(4x4) on AVX-512, F(2x2) on AVX2 | 10·k − 2 (k chosen by tile fill) |
/// | 16x16 and wider | unpacked (the map already fills its tile groups) | |
///
/// Where the last virtual image has fewer than `k` images, its empty slots are zero images whose
/// outputs are dropped. The packing and `k` depend on the shape only, so the results do not
/// depend on the thread count.
extension ConvGeometry {
    /// `k` images per virtual image and the virtual image's geometry.
    struct ImagePacking {
        let k: Int
        let virtual: ConvGeometry
        /// Padded columns per image: `inW + 2·pW`; image `j` starts at packed column `j·slot`.
        let slot: Int
    }

    /// The packing this convolution runs with, or nil where it runs unpacked: a 3x3 stride-1
    /// convolution that Winograd would take but for its narrow map (several images, at least 16
    /// channels each way, 8+ output rows). `k` (2...16) maximises the share of computed outputs
    /// that are real (the tile groups' fill times the slots' real columns, over the whole batch).
    var winogradPacking: ImagePacking? {
        #if arch(x86_64)
            guard Self.winogradEnabled, kH == 3, kW == 3, sH == 1, sW == 1, dH == 1, dW == 1, groups == 1,
                  pH <= 2, pW <= 2, n > 1, inC >= 16, outC >= 16, outH >= 8, outW >= 1, !usesWinograd
            else { return nil }
            let slot = inW + 2 * pW
            var best: (eff: Double, packing: ImagePacking)? = nil
            for k in 2...Swift.min(n, 16) {
                let v = ConvGeometry(
                    input: [(n + k - 1) / k, inC, inH, k * slot - 2 * pW], weight: [outC, inC, 3, 3], stride: (1, 1),
                    padding: (pH, pW), dilation: (1, 1), groups: 1)
                guard v.usesWinograd else { continue }
                let m = v.winogradTile
                let computed = Double(v.n * v.winogradTileColumns(tile: m) * m)
                let eff = Double(n * outW) / computed
                if best == nil || eff > best!.eff + 1e-12 { best = (eff, ImagePacking(k: k, virtual: v, slot: slot)) }
            }
            return best?.packing
        #else
            return nil
        #endif
    }

    /// Copies `n` images of `channels` planes `h x w` into `nv` virtual images of width
    /// `k·slot − gap` (image `j` of a group at column `j·slot`), zero elsewhere.
    static func pack(
        _ src: UnsafePointer<Float>, n: Int, channels: Int, h: Int, w: Int, k: Int, slot: Int, gap: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        let vw = k * slot - gap, nv = (n + k - 1) / k
        Parallel.forRanges(nv * channels, costPerItem: h * vw) { r in
            for item in r {
                let vi = item / channels, c = item % channels
                let plane = dst + item * h * vw
                plane.update(repeating: 0, count: h * vw)
                for j in 0..<Swift.min(k, n - vi * k) {
                    ck_copy_rows(src + ((vi * k + j) * channels + c) * h * w, w, plane + j * slot, vw, h, w, 0, 0)
                }
            }
        }
    }

    /// The inverse of `pack` for the real images: image `j` of virtual image `vi` from columns
    /// `j·slot ..< j·slot + w` of rows of width `vw`.
    static func unpack(
        _ src: UnsafePointer<Float>, n: Int, channels: Int, h: Int, w: Int, k: Int, slot: Int, vw: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        Parallel.forRanges(n * channels, costPerItem: h * w) { r in
            for item in r {
                let img = item / channels, c = item % channels, vi = img / k, j = img % k
                ck_copy_rows(src + (vi * channels + c) * h * vw + j * slot, vw, dst + item * h * w, w, h, w, 0, 0)
            }
        }
    }

    /// The forward through the packing (requires `winogradPacking`).
    func packedWinogradForward(
        _ p: ImagePacking, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
        _ out: UnsafeMutablePointer<Float>
    ) {
        let v = p.virtual
        Workspace.withBuffer(v.n * inC * v.inH * v.inW) { xp in
            Self.pack(x, n: n, channels: inC, h: inH, w: inW, k: p.k, slot: p.slot, gap: 2 * pW, into: xp)
            Workspace.withBuffer(v.n * outC * v.outH * v.outW) { op in
                v.forward(UnsafePointer(xp), w, bias, op)
                Self.unpack(UnsafePointer(op), n: n, channels: outC, h: outH, w: outW, k: p.k, slot: p.slot, vw: v.outW, into: out)
            }
        }
    }

    /// Input and weight gradients through the packing (requires `winogradPacking`; the bias
    /// gradient is the caller's).
    func packedWinogradBackward(
        _ p: ImagePacking, g: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
        gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?
    ) {
        let v = p.virtual
        Workspace.withBuffer(v.n * outC * v.outH * v.outW) { gp in
            // The two dropped columns after each image get a zero gradient.
            Self.pack(g, n: n, channels: outC, h: outH, w: outW, k: p.k, slot: p.slot, gap: 2, into: gp)
            Workspace.withBuffer(gw != nil ? v.n * inC * v.inH * v.inW : 0) { xp in
                if gw != nil {
                    Self.pack(x, n: n, channels: inC, h: inH, w: inW, k: p.k, slot: p.slot, gap: 2 * pW, into: xp)
                }
                Workspace.withBuffer(gx != nil ? v.n * inC * v.inH * v.inW : 0) { gxp in
                    v.backward(
                        g: UnsafePointer(gp), x: UnsafePointer(xp), w: w, gx: gx != nil ? gxp : nil, gw: gw, gb: nil)
                    if let gx {
                        Self.unpack(UnsafePointer(gxp), n: n, channels: inC, h: inH, w: inW, k: p.k, slot: p.slot, vw: v.inW, into: gx)
                    }
                }
            }
        }
    }
}
