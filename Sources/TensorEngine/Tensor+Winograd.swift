#if arch(x86_64)
    import CKernels
#endif

/// 3x3, stride-1 convolutions by Winograd's minimal filtering F(m x m, 3x3): each m x m output
/// tile takes (m + 2)² multiplications per input channel instead of 9m², so the GEMMs that
/// dominate a convolution shrink 2.25 times (F(2x2, 3x3)) or 4 times (F(4x4, 3x3)), for a few
/// additions per element in the input and output transforms (kernels in `CKernels`).
///
/// F(4x4, 3x3) runs where the processor has AVX-512 and the map is wide enough for its tiles
/// (`winogradTile`); otherwise F(2x2, 3x3) (AVX2).
///
/// The tiles of an image are processed a few tile rows at a time (about `winogradBlockTiles`
/// tiles), so the transformed input and the products stay in the caches: for each block, the
/// input rows it reads are copied into zero-padded planes, transformed, multiplied by the
/// transformed weights ((m + 2)² GEMMs `[outC, inC] x [inC, tiles]`) and transformed back into
/// the output.
///
/// Results differ from the direct sum by rounding only (the transforms add and subtract
/// neighbouring inputs first): a few units in the last place of the inputs' magnitude for
/// F(2x2), several times that for F(4x4) (its transforms scale by up to 8 and 1/24).
extension ConvGeometry {
    /// Whether this convolution runs as Winograd: 3x3, stride 1, no dilation, one group, padding
    /// at most 2, enough channels for the GEMMs to dominate (at least 16 in and out), at least 8
    /// output rows, and rows whose F(2x2) tiles fill at least 3/4 of the 8-tile groups the
    /// kernels work in (an 8-wide map would waste half), on a processor with AVX2.
    var usesWinograd: Bool {
        #if arch(x86_64)
            return Self.winogradEnabled && kH == 3 && kW == 3 && sH == 1 && sW == 1 && dH == 1 && dW == 1
                && groups == 1 && pH <= 2 && pW <= 2 && inC >= 16 && outC >= 16 && outH >= 8
                && 4 * ((outW + 1) / 2) >= 3 * winogradTileColumns(tile: 2)
        #else
            return false
        #endif
    }

    /// The output tile size m of the Winograd path (requires `usesWinograd`): 4 where the
    /// processor has AVX-512 and the F(4x4) tiles of a row fill at least 3/4 of their 8-tile
    /// groups, else 2.
    var winogradTile: Int {
        Self.winograd4Enabled && 4 * ((outW + 3) / 4) >= 3 * winogradTileColumns(tile: 4) ? 4 : 2
    }

    /// Tiles per tile row in the kernels' layout: the m x m tiles of an output row, rounded up to
    /// a multiple of 8.
    func winogradTileColumns(tile m: Int) -> Int { ((outW + m - 1) / m + 7) / 8 * 8 }

    /// Tiles per block (whole tile rows), the GEMMs' column count, for tiles of m x m: the
    /// transformed input and products of a block take about the same memory for both sizes.
    static func winogradBlockTiles(tile m: Int) -> Int { m == 4 ? 128 : 256 }

    #if arch(x86_64)
        /// Whether Winograd can run: the processor has AVX2.
        static let winogradEnabled = ck_has_avx2() != 0
        /// Whether F(4x4, 3x3) can run: the processor has AVX-512.
        static let winograd4Enabled = ck_vector_level() == 2
    #else
        /// Winograd needs the x86-64 kernels; elsewhere it is always off.
        static let winogradEnabled = false
        static let winograd4Enabled = false
    #endif

    #if arch(x86_64)

        /// The tiling shared by the Winograd forward and weight gradient: blocks of whole tile
        /// rows (about `winogradBlockTiles` tiles) and the zero-padded input rows a block reads.
        struct WinogradBlocks {
            let geo: ConvGeometry
            /// Output tile size m (2 or 4) and transformed tile size m + 2; `xiCount` = (m + 2)²
            /// transformed positions ξ, one GEMM each.
            let m: Int, alpha: Int, xiCount: Int
            let tileRows: Int, tileCols: Int, blockRows: Int, blocksPerImage: Int
            /// Padded input rows of a block: `rowsP` rows of `wp` floats per input channel.
            let rowsP: Int, wp: Int

            init(_ geo: ConvGeometry) {
                self.geo = geo
                m = geo.winogradTile
                alpha = m + 2
                xiCount = alpha * alpha
                tileRows = (geo.outH + m - 1) / m
                tileCols = geo.winogradTileColumns(tile: m)
                blockRows = Swift.max(1, Swift.min(tileRows, ConvGeometry.winogradBlockTiles(tile: m) / tileCols))
                blocksPerImage = (tileRows + blockRows - 1) / blockRows
                rowsP = m * blockRows + 2
                wp = m * tileCols + 2
            }

            /// Tiles in a full block.
            var tiles: Int { blockRows * tileCols }
            /// Floats of the padded input rows of one block, plus 16 that the F(4x4) input
            /// transform may read (and ignore) past the last row.
            var paddedCount: Int { geo.inC * rowsP * wp + 16 }

            /// The weight transform: `u[ξ][o][c]`, `xiCount · outC · inC` floats.
            func transformWeights(_ w: UnsafePointer<Float>, _ u: UnsafeMutablePointer<Float>) {
                guard m == 4 else {
                    ck_wino_weights(w, u, geo.outC, geo.inC)
                    return
                }
                // Eight kernels per vector, groups of eight in parallel (each kernel's transform
                // is independent, so the split does not change a bit).
                let oc = geo.outC * geo.inC
                Parallel.forRanges((oc + 7) / 8, costPerItem: 8 * 36 * 12, minWork: 1 << 14) { r in
                    ck_wino4_weights_range(w, u, r.lowerBound * 8, Swift.min(oc, r.upperBound * 8), oc)
                }
            }

            /// The input transform of the `rows` tile rows in `p` (see `padInput`) into `v`.
            func transformInput(_ p: UnsafePointer<Float>, rows: Int, _ v: UnsafeMutablePointer<Float>) {
                if m == 4 {
                    ck_wino4_input(p, geo.inC, rowsP, wp, rows, tileCols, v)
                } else {
                    ck_wino_input_avx2(p, geo.inC, rowsP, wp, rows, tileCols, v)
                }
            }

            /// Tile rows of block `b` (the last may be short) and its first tile row.
            func rows(_ b: Int) -> (first: Int, count: Int) {
                let first = b * blockRows
                return (first, Swift.min(blockRows, tileRows - first))
            }

            /// Copies the input rows that the tiles of block `b` of image `img` read into `p`,
            /// zero-padded: plane row k is input row m·first + k − pH, column j is input column
            /// j − pW. Only the rows the block's tiles read are written (the padding columns and
            /// rows outside the input as zeros), each once.
            func padInput(_ x: UnsafePointer<Float>, image img: Int, block b: Int, into p: UnsafeMutablePointer<Float>) {
                let (first, count) = rows(b)
                let (inC, inH, inW, pH, pW) = (geo.inC, geo.inH, geo.inW, geo.pH, geo.pW)
                let right = wp - pW - inW
                // Plane rows k0 ..< k1 hold input rows; those before and after are zero.
                let rowsRead = m * count + 2, k0 = Swift.min(Swift.max(pH - m * first, 0), rowsRead)
                let k1 = Swift.max(Swift.min(inH + pH - m * first, rowsRead), k0)
                for c in 0..<inC {
                    let plane = p + c * rowsP * wp
                    plane.update(repeating: 0, count: k0 * wp)
                    ck_copy_rows(x + (img * inC + c) * inH * inW + (m * first + k0 - pH) * inW, inW, plane + k0 * wp + pW, wp,
                                 k1 - k0, inW, pW, right)
                    (plane + k1 * wp).update(repeating: 0, count: (rowsRead - k1) * wp)
                }
            }
        }

        /// The forward by Winograd F(m x m, 3x3) (requires `usesWinograd`).
        func winogradForward(
            _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>
        ) {
            let blk = WinogradBlocks(self)
            let (n, inC, outC, outH, outW) = (n, inC, outC, outH, outW)
            let pad = Int(CK_WINO_PLANE_PAD), xis = blk.xiCount
            Workspace.withBuffer(xis * outC * inC) { u in
                blk.transformWeights(w, u)
                let uu = UnsafePointer(u)
                Parallel.forRanges(n * blk.blocksPerImage, costPerItem: xis * outC * inC * blk.tiles) { range in
                    // Scratch (cached, so no fresh pages): padded input rows, transformed input,
                    // products (ξ planes each, `CK_WINO_PLANE_PAD` floats between planes).
                    Workspace.withBuffer(blk.paddedCount + xis * ((inC + outC) * blk.tiles + 2 * pad)) { scratch in
                        let p = scratch, v = scratch + blk.paddedCount, m = v + xis * (inC * blk.tiles + pad)
                        for item in range {
                            let img = item / blk.blocksPerImage, b = item % blk.blocksPerImage
                            let (first, rows) = blk.rows(b), t = rows * blk.tileCols
                            blk.padInput(x, image: img, block: b, into: p)
                            blk.transformInput(p, rows: rows, v)
                            for xi in 0..<xis {
                                BLAS.sgemm(
                                    transA: false, transB: false, m: outC, n: t, k: inC, a: uu + xi * outC * inC, lda: inC,
                                    b: v + xi * (inC * t + pad), ldb: t, c: m + xi * (outC * t + pad), ldc: t)
                            }
                            let dst = out + img * outC * outH * outW
                            if blk.m == 4 {
                                ck_wino4_output(m, outC, rows, blk.tileCols, bias, dst, outH, outW, first)
                            } else {
                                ck_wino_output_avx2(m, outC, rows, blk.tileCols, bias, dst, outH, outW, first)
                            }
                        }
                    }
                }
            }
        }

        /// The weight gradient by Winograd F(m x m, 3x3) (requires `usesWinograd`): per image and
        /// tile block, the transformed input V and the transformed output gradient A·dY·Aᵀ give
        /// the gradient of the transformed weights as (m + 2)² GEMMs `[outC, tiles] x [tiles, inC]`,
        /// summed over the blocks of the images of a group (`group` consecutive images, at most 8
        /// groups), then over the groups in order (the grouping depends on the shape only, so the
        /// result does not depend on the thread count), and mapped back by Gᵀ·dU·G.
        func winogradWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gw: UnsafeMutablePointer<Float>) {
            let blk = WinogradBlocks(self)
            let tm = blk.m, rowsQ = tm * blk.blockRows, wq = tm * blk.tileCols
            let (n, inC, outC, outH, outW) = (n, inC, outC, outH, outW)
            let xis = blk.xiCount, du = xis * outC * inC, pad = Int(CK_WINO_PLANE_PAD)
            // Images per partial sum: at most 8 partial sums of `du` floats, whatever the batch.
            let group = Swift.max(1, (n + 7) / 8), groups = (n + group - 1) / group
            Workspace.withBuffer(groups * du) { partial in
                Parallel.forRanges(groups, costPerItem: xis * outC * inC * blk.tiles * blk.blocksPerImage * group) { range in
                    let scratchCount = blk.paddedCount + outC * rowsQ * wq + xis * ((inC + outC) * blk.tiles + 2 * pad)
                    Workspace.withBuffer(scratchCount) { scratch in
                        let p = scratch, q = p + blk.paddedCount, v = q + outC * rowsQ * wq
                        let dm = v + xis * (inC * blk.tiles + pad)
                        for gi in range {
                            let acc = partial + gi * du
                            for img in (gi * group)..<Swift.min(n, (gi + 1) * group) {
                                for b in 0..<blk.blocksPerImage {
                                    let firstTerm = img == gi * group && b == 0
                                    let (first, rows) = blk.rows(b), t = rows * blk.tileCols
                                    blk.padInput(x, image: img, block: b, into: p)
                                    // The output-gradient rows of the block, zero beyond the map (every
                                    // row and column the tiles read is written once).
                                    let inside = Swift.max(0, Swift.min(tm * rows, outH - tm * first))
                                    for o in 0..<outC {
                                        let plane = q + o * rowsQ * wq
                                        ck_copy_rows(g + ((img * outC + o) * outH + tm * first) * outW, outW, plane, wq, inside, outW, 0, wq - outW)
                                        (plane + inside * wq).update(repeating: 0, count: (tm * rows - inside) * wq)
                                    }
                                    blk.transformInput(p, rows: rows, v)
                                    if tm == 4 {
                                        ck_wino4_grad_output(q, outC, rowsQ, wq, rows, blk.tileCols, dm)
                                    } else {
                                        ck_wino_grad_output_avx2(q, outC, rowsQ, wq, rows, blk.tileCols, dm)
                                    }
                                    for xi in 0..<xis {
                                        BLAS.sgemm(
                                            transA: false, transB: true, m: outC, n: inC, k: t, a: dm + xi * (outC * t + pad), lda: t,
                                            b: v + xi * (inC * t + pad), ldb: t, beta: firstTerm ? 0 : 1, c: acc + xi * outC * inC, ldc: inC)
                                    }
                                }
                            }
                        }
                    }
                }
                // Sum the groups in order, then back to 3x3.
                for gi in 1..<Swift.max(groups, 1) {
                    let src = partial + gi * du
                    for i in 0..<du { partial[i] += src[i] }
                }
                if tm == 4 { ck_wino4_weights_grad(partial, gw, outC, inC) } else { ck_wino_weights_grad(partial, gw, outC, inC) }
            }
        }
    #endif
}
