#if arch(x86_64)
    import CKernels
#endif

/// 3x3, stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3): each 2x2 output tile
/// takes 16 multiplications per input channel instead of 36, so the GEMMs that dominate a
/// convolution shrink 2.25 times, for a few additions per element in the input and output
/// transforms (AVX2 kernels in `CKernels`).
///
/// The tiles of an image are processed a few tile rows at a time (about 128 tiles), so the
/// transformed input and the products stay in the caches: for each block, the input rows it
/// reads are copied into zero-padded planes, transformed, multiplied by the transformed weights
/// (16 GEMMs `[outC, inC] x [inC, tiles]`) and transformed back into the output.
///
/// Results differ from the direct sum by rounding only (the transforms add and subtract
/// neighbouring inputs first): a few units in the last place of the inputs' magnitude.
extension ConvGeometry {
    /// Whether this convolution runs as Winograd F(2x2, 3x3): 3x3, stride 1, no dilation, one
    /// group, padding at most 2, enough channels for the GEMMs to dominate (at least 16 in and
    /// out), at least 8 output rows, and rows whose tiles fill at least 3/4 of the 8-tile
    /// groups the kernels work in (an 8-wide map would waste half), on a processor with AVX2.
    var usesWinograd: Bool {
        #if arch(x86_64)
            return Self.winogradEnabled && kH == 3 && kW == 3 && sH == 1 && sW == 1 && dH == 1 && dW == 1
                && groups == 1 && pH <= 2 && pW <= 2 && inC >= 16 && outC >= 16 && outH >= 8
                && 4 * ((outW + 1) / 2) >= 3 * winogradTileColumns
        #else
            return false
        #endif
    }

    /// Tiles per tile row in the kernels' layout: the 2x2 tiles of an output row, rounded up to a
    /// multiple of 8.
    var winogradTileColumns: Int { ((outW + 1) / 2 + 7) / 8 * 8 }

    /// Tiles per block (whole tile rows): the GEMMs' column count.
    static let winogradBlockTiles = 256

    #if arch(x86_64)
        /// Whether Winograd can run: the processor has AVX2.
        static let winogradEnabled = ck_has_avx2() != 0
    #else
        /// Winograd needs the x86-64 kernels; elsewhere it is always off.
        static let winogradEnabled = false
    #endif

    #if arch(x86_64)

        /// The tiling shared by the Winograd forward and weight gradient: blocks of whole tile
        /// rows (about `winogradBlockTiles` tiles) and the zero-padded input rows a block reads.
        struct WinogradBlocks {
            let geo: ConvGeometry
            let tileRows: Int, tileCols: Int, blockRows: Int, blocksPerImage: Int
            /// Padded input rows of a block: `rowsP` rows of `wp` floats per input channel.
            let rowsP: Int, wp: Int

            init(_ geo: ConvGeometry) {
                self.geo = geo
                tileRows = (geo.outH + 1) / 2
                tileCols = geo.winogradTileColumns
                blockRows = Swift.max(1, Swift.min(tileRows, ConvGeometry.winogradBlockTiles / tileCols))
                blocksPerImage = (tileRows + blockRows - 1) / blockRows
                rowsP = 2 * blockRows + 2
                wp = 2 * tileCols + 2
            }

            /// Tiles in a full block.
            var tiles: Int { blockRows * tileCols }
            /// Floats of the padded input rows of one block.
            var paddedCount: Int { geo.inC * rowsP * wp }

            /// Tile rows of block `b` (the last may be short) and its first tile row.
            func rows(_ b: Int) -> (first: Int, count: Int) {
                let first = b * blockRows
                return (first, Swift.min(blockRows, tileRows - first))
            }

            /// Copies the input rows that the tiles of block `b` of image `img` read into `p`,
            /// zero-padded: plane row k is input row 2·first + k − pH, column j is input column
            /// j − pW.
            func padInput(_ x: UnsafePointer<Float>, image img: Int, block b: Int, into p: UnsafeMutablePointer<Float>) {
                let (first, count) = rows(b)
                let (inC, inH, inW, pH, pW) = (geo.inC, geo.inH, geo.inW, geo.pH, geo.pW)
                p.update(repeating: 0, count: paddedCount)
                for c in 0..<inC {
                    let src = x + (img * inC + c) * inH * inW
                    for k in 0..<(2 * count + 2) {
                        let ih = 2 * first + k - pH
                        if ih < 0 || ih >= inH { continue }
                        (p + (c * rowsP + k) * wp + pW).update(from: src + ih * inW, count: inW)
                    }
                }
            }
        }

        /// The forward by Winograd F(2x2, 3x3) (requires `usesWinograd`).
        func winogradForward(
            _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>
        ) {
            let blk = WinogradBlocks(self)
            let (n, inC, outC, outH, outW) = (n, inC, outC, outH, outW)
            let pad = Int(CK_WINO_PLANE_PAD)
            Workspace.withBuffer(16 * outC * inC) { u in
                ck_wino_weights(w, u, outC, inC)
                let uu = UnsafePointer(u)
                Parallel.forRanges(n * blk.blocksPerImage, costPerItem: 16 * outC * inC * blk.tiles) { range in
                    // Scratch (cached, so no fresh pages): padded input rows, transformed input,
                    // products (16 planes each, `CK_WINO_PLANE_PAD` floats between planes).
                    Workspace.withBuffer(blk.paddedCount + 16 * ((inC + outC) * blk.tiles + 2 * pad)) { scratch in
                        let p = scratch, v = scratch + blk.paddedCount, m = v + 16 * (inC * blk.tiles + pad)
                        for item in range {
                            let img = item / blk.blocksPerImage, b = item % blk.blocksPerImage
                            let (first, rows) = blk.rows(b), t = rows * blk.tileCols
                            blk.padInput(x, image: img, block: b, into: p)
                            ck_wino_input_avx2(p, inC, blk.rowsP, blk.wp, rows, blk.tileCols, v)
                            for xi in 0..<16 {
                                BLAS.sgemm(
                                    transA: false, transB: false, m: outC, n: t, k: inC, a: uu + xi * outC * inC, lda: inC,
                                    b: v + xi * (inC * t + pad), ldb: t, c: m + xi * (outC * t + pad), ldc: t)
                            }
                            ck_wino_output_avx2(m, outC, rows, blk.tileCols, bias, out + img * outC * outH * outW, outH, outW, first)
                        }
                    }
                }
            }
        }

        /// The weight gradient by Winograd F(2x2, 3x3) (requires `usesWinograd`): per image and
        /// tile block, the transformed input V and the transformed output gradient A·dY·Aᵀ give
        /// the gradient of the transformed weights as 16 GEMMs `[outC, tiles] x [tiles, inC]`,
        /// summed over the blocks of an image, then over the images in order (so the result does
        /// not depend on the thread count), and mapped back by Gᵀ·dU·G.
        func winogradWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gw: UnsafeMutablePointer<Float>) {
            let blk = WinogradBlocks(self)
            let rowsQ = 2 * blk.blockRows, wq = 2 * blk.tileCols
            let (n, inC, outC, outH, outW) = (n, inC, outC, outH, outW)
            let du = 16 * outC * inC, pad = Int(CK_WINO_PLANE_PAD)
            Workspace.withBuffer(n * du) { partial in
                Parallel.forRanges(n, costPerItem: 16 * outC * inC * blk.tiles * blk.blocksPerImage) { range in
                    let scratchCount = blk.paddedCount + outC * rowsQ * wq + 16 * ((inC + outC) * blk.tiles + 2 * pad)
                    Workspace.withBuffer(scratchCount) { scratch in
                        let p = scratch, q = p + blk.paddedCount, v = q + outC * rowsQ * wq
                        let dm = v + 16 * (inC * blk.tiles + pad)
                        for img in range {
                            let acc = partial + img * du
                            for b in 0..<blk.blocksPerImage {
                                let (first, rows) = blk.rows(b), t = rows * blk.tileCols
                                blk.padInput(x, image: img, block: b, into: p)
                                // The output-gradient rows of the block, zero beyond the map.
                                q.update(repeating: 0, count: outC * rowsQ * wq)
                                for o in 0..<outC {
                                    let src = g + (img * outC + o) * outH * outW
                                    for k in 0..<(2 * rows) where 2 * first + k < outH {
                                        (q + (o * rowsQ + k) * wq).update(from: src + (2 * first + k) * outW, count: outW)
                                    }
                                }
                                ck_wino_input_avx2(p, inC, blk.rowsP, blk.wp, rows, blk.tileCols, v)
                                ck_wino_grad_output_avx2(q, outC, rowsQ, wq, rows, blk.tileCols, dm)
                                for xi in 0..<16 {
                                    BLAS.sgemm(
                                        transA: false, transB: true, m: outC, n: inC, k: t, a: dm + xi * (outC * t + pad), lda: t,
                                        b: v + xi * (inC * t + pad), ldb: t, beta: b == 0 ? 0 : 1, c: acc + xi * outC * inC, ldc: inC)
                                }
                            }
                        }
                    }
                }
                // Sum the images in order, then back to 3x3.
                for img in 1..<Swift.max(n, 1) {
                    let src = partial + img * du
                    for i in 0..<du { partial[i] += src[i] }
                }
                ck_wino_weights_grad(partial, gw, outC, inC)
            }
        }
    #endif
}
