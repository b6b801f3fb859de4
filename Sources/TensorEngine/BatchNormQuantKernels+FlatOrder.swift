#if arch(x86_64)
    import CKernels
#endif

/// The first backward pass of `batchNormFakeQuant` in QuantCore `FakeQuantize`'s summation
/// order, so that the quantizer's scale and zero-point gradients are bit for bit those of the
/// unfused BatchNorm then fake quantization, not only to float rounding.
///
/// `FakeQuantize` sums a per-tensor gradient over the flat tensor: blocks of 16384 elements, each
/// in chunks of 1024 whose 8 float lanes are added in lane order and flushed to double, the block
/// partials (the zero point's times −s) added in block order. Here one pass walks the flat
/// tensor in that order: each piece of a chunk lies inside one plane, whose BatchNorm constants
/// it uses, and every element adds to the chunk's two quantizer lanes and to its plane's two
/// BatchNorm lanes (`Σ g'`, `Σ g'·(x − μ)`, closed when the plane ends, as the per-plane loop
/// would). That needs planes of a multiple of 8 elements (so every 8-lane step of one order is
/// one of the other) that either divide the 16384-element block or are made of whole blocks (so
/// each parallel work item, a block or a plane, owns its sums): `usesFlatOrder`. Other shapes keep
/// the per-channel pass, whose quantizer sums agree to float rounding.
extension BatchNormQuantKernels {
    /// `FakeQuantize`'s block of a per-tensor quantizer.
    static let flatBlock = 1 << 14

    /// Whether planes of `s` elements allow the flat order (see the extension's documentation).
    static func usesFlatOrder(planeSize s: Int) -> Bool {
        s > 0 && s % 8 == 0 && (flatBlock % s == 0 || s % flatBlock == 0)
    }

    /// Over `[n, c, s]` (`usesFlatOrder(s)`), with per-channel BatchNorm constants `scale`,
    /// `shift`, `mu`: writes each plane's `(Σ g', Σ g'·(x − μ))` to `planes[2p]`, `planes[2p + 1]`
    /// and returns the quantizer's scale sum and `−s·Σ_clipped G`, both in `FakeQuantize`'s order.
    static func flatGradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, n: Int, c: Int, s: Int,
                                 scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, mu: UnsafePointer<Float>, _ q: Quant,
                                 planes: UnsafeMutablePointer<Float>, _ avx2: Bool) -> (scale: Double, zeroPoint: Double) {
        precondition(usesFlatOrder(planeSize: s), "flatGradientSums: planes of \(s) elements do not allow the flat order")
        let total = n * c * s, block = flatBlock
        let blocks = (total + block - 1) / block
        let unit = Swift.max(block, s)
        let units = (total + unit - 1) / unit
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, 2 * blocks))
        defer { partial.deallocate() }
        Parallel.forRanges(units, costPerItem: 2 * unit) { r in
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: 32)
            defer { acc.deallocate() }
            for u in r {
                var start = u * unit
                let unitEnd = Swift.min(total, start + unit)
                while start < unitEnd {
                    let end = Swift.min(total, start + block)
                    var accS: Double = 0, accZ: Double = 0
                    var i = start
                    while i < end {
                        let chunkEnd = Swift.min(end, i + 1024)
                        acc.update(repeating: 0, count: 16)
                        while i < chunkEnd {
                            let plane = i / s, planeEnd = (plane + 1) * s
                            if i == plane * s { (acc + 16).update(repeating: 0, count: 16) }
                            let pieceEnd = Swift.min(chunkEnd, planeEnd), ch = plane % c
                            flatPiece(g + i, x + i, pieceEnd - i, scale[ch], shift[ch], mu[ch], q, acc, avx2)
                            if pieceEnd == planeEnd {
                                planes[2 * plane] = lanes(acc + 16, avx2)
                                planes[2 * plane + 1] = lanes(acc + 24, avx2)
                            }
                            i = pieceEnd
                        }
                        accS += Double(lanes(acc, avx2))
                        accZ += Double(lanes(acc + 8, avx2))
                    }
                    partial[2 * (start / block)] = accS
                    partial[2 * (start / block) + 1] = -accZ * Double(q.s)
                    start = end
                }
            }
        }
        var sumS: Double = 0, sumZ: Double = 0
        for k in 0..<blocks {
            sumS += partial[2 * k]
            sumZ += partial[2 * k + 1]
        }
        return (sumS, sumZ)
    }

    /// The 8 lanes at `p` added in lane order (`SIMD8.sum()`).
    @inline(__always) static func lanes(_ p: UnsafeMutablePointer<Float>, _ avx2: Bool) -> Float {
        #if arch(x86_64)
            if avx2 { return ck_bnq_lanes(p) }
        #endif
        return load(p, 0).sum()
    }

    /// One piece of `count` (a multiple of 8) elements inside one plane: adds to the four 8-lane
    /// accumulators at `acc` (chunk scale sum, chunk clipped sum, plane Σ g', plane Σ g'·(x − μ))
    /// with the element operations of `gradientSums`.
    static func flatPiece(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, _ scale: Float, _ shift: Float,
                          _ mu: Float, _ q: Quant, _ acc: UnsafeMutablePointer<Float>, _ avx2: Bool) {
        #if arch(x86_64)
            if avx2 {
                ck_bnq_flat_sums(g, x, count, scale, shift, q.cRelu, mu, q.s, q.z, q.minInt, q.maxInt, acc)
                return
            }
        #endif
        let vsc = V(repeating: scale), vt = V(repeating: shift), vm = V(repeating: mu), vz = V(repeating: q.z)
        var fs = load(acc, 0), fz = load(acc, 8), a = load(acc, 16), b = load(acc, 24)
        var j = 0
        while j + 8 <= count {
            sums8(g + j, x + j, q, vsc, vt, vm, vz, &fs, &fz, &a, &b)
            j += 8
        }
        UnsafeMutableRawPointer(acc).storeBytes(of: fs, as: V.self)
        UnsafeMutableRawPointer(acc + 8).storeBytes(of: fz, as: V.self)
        UnsafeMutableRawPointer(acc + 16).storeBytes(of: a, as: V.self)
        UnsafeMutableRawPointer(acc + 24).storeBytes(of: b, as: V.self)
    }
}
