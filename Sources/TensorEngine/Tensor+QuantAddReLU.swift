#if arch(x86_64)
    import CKernels
#endif

/// The tail of a quantized residual block as one op: the residual addition's input quantizer on
/// the shortcut, the addition, and the quantized ReLU after it (`relu2(add(a, add.input_quant(x)))`
/// in a ResNet basic block, where `a` is the other operand, already quantized by the same input
/// quantizer):
///
///     b = (clamp(round(x/sᵢ + zᵢ), minᵢ, maxᵢ) − zᵢ)·sᵢ          (the shortcut, quantized)
///     t = a + b
///     y = (clamp(round(max(t, 0)/sₒ + zₒ), minₒ, maxₒ) − zₒ)·sₒ   (ReLU and output quantizer)
///
/// Unfused this is three ops and three `[N, C, H, W]` results forward (b, t, y) and three
/// backward; fused, one pass reads `a` and `x` and writes `y`, and one backward pass reads `G`,
/// `a` and `x` (recomputing `b` and `t`) and writes both input gradients.
///
/// Gradients (G upstream; vₒ = max(t, 0)/sₒ, vᵢ = x/sᵢ; "clipped" where the rounded code left its
/// range; the activation rules of `FakeQuantize`, clamp without straight-through):
///
/// | input | gradient |
/// |---|---|
/// | a | Gₜ = 0 where t's code clipped or t ≤ 0, else G |
/// | x | 0 where x's code clipped, else Gₜ |
/// | sₒ | Σ G·(qₒ − zₒ) over clipped + Σ G·(qₒ − zₒ − vₒ) over the others |
/// | zₒ | −sₒ·Σ_clipped G |
/// | sᵢ | Σ Gₜ·(qᵢ − zᵢ) over clipped + Σ Gₜ·(qᵢ − zᵢ − vᵢ) over the others |
/// | zᵢ | −sᵢ·Σ_clipped Gₜ |
///
/// Every value and gradient is bit for bit that of `FakeQuantize.apply(x)`, `+`, and
/// `FakeQuantize.apply(fusedReLU: true)` one by one: the same float operations per element, and
/// the scale and zero-point sums in `FakeQuantize`'s order (16384-element blocks, 8 lanes flushed
/// to double every 1024 elements, blocks added in order), so nothing depends on the thread count.
/// With a shared input quantizer, `a`'s own scale gradient comes from the op that quantized `a`;
/// autograd adds both contributions as in the unfused graph.
extension Tensor {
    /// `FakeQuant_out(relu(a + FakeQuant_in(x)))` in one op; see the extension's documentation.
    /// `a` and `x` have the same shape; both quantizers are per tensor.
    ///
    /// Example (sᵢ = 0.5, codes −8…7; sₒ = 0.25, codes 0…15): a = 1, x = 0.8 → b = 1 (0.8/0.5 = 1.6
    /// rounds to 2), t = 2, y = 2; a = 1, x = −2.3 → b = −2.5, t = −1.5, y = 0.
    ///
    /// With `inputQuant` nil, `x` is taken as it is (`b = x`: an operand quantized already, in the
    /// epilogue of its own BatchNorm): `x` then gets `Gₜ`.
    public static func quantAddReLUFakeQuant(_ a: Tensor, _ x: Tensor, inputQuant: FakeQuantEpilogue?,
                                             outputQuant: FakeQuantEpilogue) -> Tensor {
        quantAddReLUFakeQuant(a, x, inputQuant: inputQuant, outputQuant: outputQuant, avx2: BatchNormKernels.hasAVX2)
    }

    /// `quantAddReLUFakeQuant` with the block loops as the C kernels (`avx2`, bit-identical) or
    /// the Swift loops.
    static func quantAddReLUFakeQuant(_ a: Tensor, _ x: Tensor, inputQuant: FakeQuantEpilogue?, outputQuant: FakeQuantEpilogue,
                                      avx2: Bool) -> Tensor {
        precondition(a.shape == x.shape, "quantAddReLUFakeQuant: operands \(a.shape) and \(x.shape) differ in shape")
        precondition(!avx2 || BatchNormKernels.hasAVX2, "quantAddReLUFakeQuant: the AVX2 kernels need a processor with AVX2")
        let qi = inputQuant.map { QuantAddReLUKernels.quant($0, relu: false) }, qo = QuantAddReLUKernels.quant(outputQuant, relu: true)
        let total = a.count, block = QuantAddReLUKernels.block
        let blocks = (total + block - 1) / block
        let out = Tensor.empty(a.shape)
        let pa = a.storage.pointer, px = x.storage.pointer, po = out.storage.pointer
        Parallel.forRanges(blocks, costPerItem: block) { r in
            for k in r {
                let o = k * block
                QuantAddReLUKernels.forward(pa + o, px + o, po + o, Swift.min(block, total - o), qi, qo, avx2)
            }
        }
        let savedA = a.detach(), savedX = x.detach()
        let needA = a.requiresGrad, needX = x.requiresGrad
        let quants = (inputQuant.map { [$0.scale, $0.zeroPoint] } ?? []) + [outputQuant.scale, outputQuant.zeroPoint]
        let need = quants.map(\.requiresGrad), shapes = quants.map(\.shape)
        let inputs = [a, x] + quants
        return Autograd.record("quant_add_relu_int_quant", output: out, inputs: inputs) { g in
            let ga = needA ? Tensor.empty(savedA.shape) : nil, gx = needX ? Tensor.empty(savedX.shape) : nil
            let pg = g.storage.pointer, pa = savedA.storage.pointer, px = savedX.storage.pointer
            let pga = ga?.storage.pointer, pgx = gx?.storage.pointer
            // Per block: the four sums (scale and clipped sums of the input, then the output
            // quantizer), added in block order below.
            let partial = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, 4 * blocks))
            defer { partial.deallocate() }
            Parallel.forRanges(blocks, costPerItem: 2 * block) { r in
                for k in r {
                    let o = k * block
                    let sums = QuantAddReLUKernels.backward(pg + o, pa + o, px + o, pga.map { $0 + o }, pgx.map { $0 + o },
                                                            Swift.min(block, total - o), qi, qo, avx2)
                    partial[4 * k] = sums.0
                    partial[4 * k + 1] = -sums.1 * Double(qi?.s ?? 0)
                    partial[4 * k + 2] = sums.2
                    partial[4 * k + 3] = -sums.3 * Double(qo.s)
                }
            }
            var totals = [Double](repeating: 0, count: 4)
            for k in 0..<blocks {
                for j in 0..<4 { totals[j] += partial[4 * k + j] }
            }
            let used = qi == nil ? [2, 3] : [0, 1, 2, 3]
            return [ga, gx] + used.indices.map { need[$0] ? Tensor(shape: shapes[$0], [Float(totals[used[$0]])]) : nil }
        }
    }
}

/// The loops of `quantAddReLUFakeQuant` over one block of contiguous floats, eight lanes at a
/// time, with the float operations of QuantCore's `FakeQuantize` segment loops (so the fused op
/// reproduces the unfused ones bit for bit). With `avx2` each loop runs as its C kernel
/// (CKernels/quant_add.c), bit for bit the same.
enum QuantAddReLUKernels {
    typealias V = SIMD8<Float>
    typealias Quant = BatchNormQuantKernels.Quant

    /// The elements that share one partial sum: `FakeQuantize.block` for a per-tensor quantizer
    /// (its sums are reproduced exactly only with the same blocks).
    static let block = 1 << 14

    /// The constants of `q` (the input quantizer without ReLU, the output one with).
    static func quant(_ q: FakeQuantEpilogue, relu: Bool) -> Quant {
        Quant(s: q.scale.storage.pointer[0], z: q.zeroPoint.storage.pointer[0], minInt: q.minInt, maxInt: q.maxInt, relu: relu)
    }

    /// The input quantizer's constants as the C kernels take them (`on` = 0 without one).
    static func cQuant(_ q: Quant?) -> (on: Int32, s: Float, z: Float, lo: Float, hi: Float) {
        guard let q else { return (0, 1, 0, 0, 0) }
        return (1, q.s, q.z, q.minInt, q.maxInt)
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ j: Int) -> V {
        UnsafeRawPointer(p + j).loadUnaligned(as: V.self)
    }

    /// `t = a + FakeQuant_in(x)` for eight lanes, with x's quantizer input `vᵢ`, code and clip
    /// mask (`qi` without ReLU); `t = a + x`, nothing clipped, without `qi`.
    @inline(__always)
    static func sum(_ a: V, _ x: V, _ qi: Quant?) -> (t: V, v: V, q: V, clipped: SIMDMask<V.MaskStorage>) {
        guard let qi else { return (a + x, V(), V(), SIMDMask(repeating: false)) }
        let r = BatchNormQuantKernels.quantize(x, qi)
        return (a + (r.q - V(repeating: qi.z)) * V(repeating: qi.s), r.v, r.q, r.clipped)
    }

    /// The scalar form of `sum`.
    @inline(__always)
    static func sum(_ a: Float, _ x: Float, _ qi: Quant?) -> (t: Float, v: Float, q: Float, clipped: Bool) {
        guard let qi else { return (a + x, 0, 0, false) }
        let r = BatchNormQuantKernels.quantize(x, qi)
        return (a + (r.q - qi.z) * qi.s, r.v, r.q, r.clipped)
    }

    /// `y = FakeQuant_out(max(a + FakeQuant_in(x), 0))` over `n` elements.
    static func forward(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                        _ qi: Quant?, _ qo: Quant, _ avx2: Bool) {
        #if arch(x86_64)
            if avx2 {
                let c = cQuant(qi)
                ck_qadd_forward(a, x, y, n, c.on, c.s, c.z, c.lo, c.hi, qo.s, qo.z, qo.minInt, qo.maxInt)
                return
            }
        #endif
        let vs = V(repeating: qo.s), vz = V(repeating: qo.z)
        var j = 0
        while j + 8 <= n {
            let r = BatchNormQuantKernels.quantize(sum(load(a, j), load(x, j), qi).t, qo)
            UnsafeMutableRawPointer(y + j).storeBytes(of: (r.q - vz) * vs, as: V.self)
            j += 8
        }
        while j < n {
            let r = BatchNormQuantKernels.quantize(sum(a[j], x[j], qi).t, qo)
            y[j] = (r.q - qo.z) * qo.s
            j += 1
        }
    }

    /// Over one block: writes `ga = Gₜ` and `gx` (each when given) and returns the input
    /// quantizer's scale sum and Σ_clipped Gₜ, then the output quantizer's (see the extension's
    /// table), each in `FakeQuantize`'s order.
    static func backward(_ g: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                         _ ga: UnsafeMutablePointer<Float>?, _ gx: UnsafeMutablePointer<Float>?, _ n: Int, _ qi: Quant?,
                         _ qo: Quant, _ avx2: Bool) -> (Double, Double, Double, Double) {
        #if arch(x86_64)
            if avx2 {
                var sums: (Double, Double, Double, Double) = (0, 0, 0, 0)
                withUnsafeMutableBytes(of: &sums) { p in
                    let c = cQuant(qi)
                    ck_qadd_backward(g, a, x, ga, gx, n, c.on, c.s, c.z, c.lo, c.hi, qo.s, qo.z, qo.minInt, qo.maxInt,
                                     p.baseAddress!.assumingMemoryBound(to: Double.self))
                }
                return sums
            }
        #endif
        let zpi = qi?.z ?? 0, vzi = V(repeating: zpi), vzo = V(repeating: qo.z)
        var si: Double = 0, zi: Double = 0, so: Double = 0, zo: Double = 0
        var j = 0
        while j + 8 <= n {
            let chunkEnd = Swift.min(n, j + 1024)
            var fsi = V(), fzi = V(), fso = V(), fzo = V()
            while j + 8 <= chunkEnd {
                let gv = load(g, j)
                let b = sum(load(a, j), load(x, j), qi)
                let r = BatchNormQuantKernels.quantize(b.t, qo)
                var vo = r.v
                vo.replace(with: 0, where: r.clipped)
                fso += gv * ((r.q - vzo) - vo)
                var gc = V()
                gc.replace(with: gv, where: r.clipped)
                fzo += gc
                var gt = gv
                gt.replace(with: 0, where: r.clipped .| r.dead)
                var vi = b.v
                vi.replace(with: 0, where: b.clipped)
                fsi += gt * ((b.q - vzi) - vi)
                var gci = V()
                gci.replace(with: gt, where: b.clipped)
                fzi += gci
                if let ga { UnsafeMutableRawPointer(ga + j).storeBytes(of: gt, as: V.self) }
                if let gx {
                    var gxv = gt
                    gxv.replace(with: 0, where: b.clipped)
                    UnsafeMutableRawPointer(gx + j).storeBytes(of: gxv, as: V.self)
                }
                j += 8
            }
            so += Double(fso.sum())
            zo += Double(fzo.sum())
            si += Double(fsi.sum())
            zi += Double(fzi.sum())
        }
        while j < n {
            let gj = g[j]
            let b = sum(a[j], x[j], qi)
            let r = BatchNormQuantKernels.quantize(b.t, qo)
            so += Double(r.clipped ? gj * (r.q - qo.z) : gj * ((r.q - qo.z) - r.v))
            zo += r.clipped ? Double(gj) : 0
            let gt = r.clipped || r.dead ? 0 : gj
            si += Double(b.clipped ? gt * (b.q - zpi) : gt * ((b.q - zpi) - b.v))
            zi += b.clipped ? Double(gt) : 0
            ga?[j] = gt
            gx?[j] = b.clipped ? 0 : gt
            j += 1
        }
        return (si, zi, so, zo)
    }
}
