/// 3-D convolution (`torch.nn.functional.conv3d`), NCDHW, with input, weight and bias gradients,
/// by im2col + one BLAS GEMM per image and group.
///
/// Per image and group `g` (`cg = Cin/groups` input, `og = Cout/groups` output channels,
/// `K = cg·kD·kH·kW`, `L = Do·Ho·Wo`):
///
/// | pass | GEMM |
/// |---|---|
/// | forward | `Y_g [og, L] = W_g [og, K] · col [K, L]` (+ bias) |
/// | `dL/dW_g` | `Σ_img dY_g [og, L] · colᵀ [L, K]` (images in order: thread-count independent) |
/// | `dL/dx` | `dcol [K, L] = W_gᵀ · dY_g`, folded back by col2im |
///
/// Output size per spatial dimension: `(in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1`.
/// Example: `x` `[1, 2, 4, 4, 4]`, weight `[3, 2, 2, 2, 2]` → `[1, 3, 3, 3, 3]`.
extension Tensor {
    /// 3-D convolution: `x` is `[N, C, D, H, W]`, `weight` is `[O, C/groups, kD, kH, kW]`, `bias`
    /// is `[O]`; the result is `[N, O, Do, Ho, Wo]`.
    public static func conv3d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int, Int) = (1, 1, 1),
        padding: (Int, Int, Int) = (0, 0, 0), dilation: (Int, Int, Int) = (1, 1, 1), groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 5, "conv3d: input must be [N, C, D, H, W], got shape \(x.shape)")
        precondition(weight.rank == 5, "conv3d: weight must be [O, C/groups, kD, kH, kW], got shape \(weight.shape)")
        let geo = Conv3dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
        if let bias {
            precondition(bias.shape == [geo.outC], "conv3d: bias shape \(bias.shape) must be [\(geo.outC)] for weight \(weight.shape)")
        }
        let out = Tensor.empty([geo.n, geo.outC, geo.out[0], geo.out[1], geo.out[2]])
        Autograd.noGrad { geo.forward(x.storage.pointer, weight.storage.pointer, bias?.storage.pointer, out.storage.pointer) }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let dx = x.detach(), dw = weight.detach()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record("conv3d", output: out, inputs: inputs) { g in
            let gp = g.storage.pointer
            var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
            if needX {
                let t = Tensor.empty(dx.shape)
                geo.inputGradient(gp, dw.storage.pointer, t.storage.pointer)
                gx = t
            }
            if needW {
                let t = Tensor.empty(dw.shape)
                geo.weightGradient(gp, dx.storage.pointer, t.storage.pointer)
                gw = t
            }
            if needB {
                let t = Tensor.empty([geo.outC])
                channelSums(gp, t.storage.pointer, n: geo.n, c: geo.outC, plane: geo.l)
                gb = t
            }
            var grads: [Tensor?] = [gx, gw]
            if bias != nil { grads.append(gb) }
            return grads
        }
    }
}

/// Sizes of one 3-D convolution and its im2col/GEMM kernels. Spatial triples are `[D, H, W]`.
struct Conv3dGeometry {
    let n: Int, inC: Int, outC: Int, groups: Int
    let inp: [Int], k: [Int], s: [Int], p: [Int], d: [Int], out: [Int]

    var cg: Int { inC / groups }
    var og: Int { outC / groups }
    var kk: Int { k[0] * k[1] * k[2] }
    var kg: Int { cg * kk }
    var l: Int { out[0] * out[1] * out[2] }
    var inPlane: Int { inp[0] * inp[1] * inp[2] }

    init(input: [Int], weight: [Int], stride: (Int, Int, Int), padding: (Int, Int, Int), dilation: (Int, Int, Int), groups: Int) {
        precondition(groups >= 1, "conv3d: groups must be >= 1, got \(groups)")
        n = input[0]; inC = input[1]; outC = weight[0]
        precondition(inC % groups == 0 && outC % groups == 0,
                     "conv3d: input channels \(inC) and output channels \(outC) must be divisible by groups \(groups)")
        precondition(weight[1] * groups == inC,
                     "conv3d: weight \(weight) expects \(weight[1] * groups) input channels (groups \(groups)), input \(input) has \(inC)")
        self.groups = groups
        inp = Array(input[2...]); k = Array(weight[2...])
        s = [stride.0, stride.1, stride.2]; p = [padding.0, padding.1, padding.2]; d = [dilation.0, dilation.1, dilation.2]
        precondition(s.allSatisfy { $0 >= 1 } && d.allSatisfy { $0 >= 1 } && p.allSatisfy { $0 >= 0 },
                     "conv3d: stride \(s) and dilation \(d) must be >= 1, padding \(p) >= 0")
        var o: [Int] = []
        for i in 0..<3 {
            let span = inp[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1
            precondition(span >= 0, "conv3d: kernel \(k) (dilation \(d)) is larger than the padded input \(input) (padding \(p))")
            o.append(span / s[i] + 1)
        }
        out = o
    }

    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>) {
        let (kg, l, og, cg) = (self.kg, self.l, self.og, self.cg)
        Parallel.forRanges(n, costPerItem: outC * kg * l, minWork: 1 << 16) { r in
            Workspace.withBuffer(kg * l) { col in
                for img in r {
                    for gi in 0..<groups {
                        im2col(x + (img * inC + gi * cg) * inPlane, col)
                        let dst = y + (img * outC + gi * og) * l
                        for o in 0..<og { (dst + o * l).update(repeating: bias?[gi * og + o] ?? 0, count: l) }
                        BLAS.sgemm(transA: false, transB: false, m: og, n: l, k: kg, a: w + gi * og * kg, lda: kg,
                                   b: col, ldb: l, beta: 1, c: dst, ldc: l)
                    }
                }
            }
        }
    }

    /// `gx = Σ_g col2im(W_gᵀ · dY_g)`, images in parallel (each image is written by one task).
    func inputGradient(_ g: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>) {
        let (kg, l, og, cg) = (self.kg, self.l, self.og, self.cg)
        Parallel.forRanges(n, costPerItem: outC * kg * l, minWork: 1 << 16) { r in
            Workspace.withBuffer(kg * l) { dcol in
                for img in r {
                    for gi in 0..<groups {
                        BLAS.sgemm(transA: true, transB: false, m: kg, n: l, k: og, a: w + gi * og * kg, lda: kg,
                                   b: g + (img * outC + gi * og) * l, ldb: l, c: dcol, ldc: l)
                        col2im(dcol, gx + (img * inC + gi * cg) * inPlane)
                    }
                }
            }
        }
    }

    /// `gw_g = Σ_img dY_g · colᵀ`, images in order (the GEMMs split themselves over threads).
    func weightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gw: UnsafeMutablePointer<Float>) {
        let (kg, l, og, cg) = (self.kg, self.l, self.og, self.cg)
        gw.update(repeating: 0, count: outC * kg)
        Workspace.withBuffer(kg * l) { col in
            for img in 0..<n {
                for gi in 0..<groups {
                    im2col(x + (img * inC + gi * cg) * inPlane, col)
                    BLAS.sgemm(transA: false, transB: true, m: og, n: kg, k: l, a: g + (img * outC + gi * og) * l, lda: l,
                               b: col, ldb: l, beta: 1, c: gw + gi * og * kg, ldc: kg)
                }
            }
        }
    }

    /// Unfolds the `cg` channels at `src` into `col` (`[cg·kD·kH·kW, Do·Ho·Wo]`), zeros outside
    /// the input.
    func im2col(_ src: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        let (iD, iH, iW) = (inp[0], inp[1], inp[2]), (oD, oH, oW) = (out[0], out[1], out[2])
        let l = self.l
        for c in 0..<cg {
            let plane = src + c * inPlane
            for a in 0..<k[0] {
                for b in 0..<k[1] {
                    for e in 0..<k[2] {
                        let row = col + (((c * k[0] + a) * k[1] + b) * k[2] + e) * l
                        for od in 0..<oD {
                            let id = od * s[0] - p[0] + a * d[0]
                            for oh in 0..<oH {
                                let ih = oh * s[1] - p[1] + b * d[1]
                                let dst = row + (od * oH + oh) * oW
                                if id < 0 || id >= iD || ih < 0 || ih >= iH {
                                    dst.update(repeating: 0, count: oW)
                                    continue
                                }
                                let srow = plane + (id * iH + ih) * iW
                                for ow in 0..<oW {
                                    let iw = ow * s[2] - p[2] + e * d[2]
                                    dst[ow] = iw >= 0 && iw < iW ? srow[iw] : 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Folds `col` back into `cg` channels at `dst`, summing overlaps (overwrites `dst`).
    func col2im(_ col: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let (iD, iH, iW) = (inp[0], inp[1], inp[2]), (oD, oH, oW) = (out[0], out[1], out[2])
        let l = self.l
        dst.update(repeating: 0, count: cg * inPlane)
        for c in 0..<cg {
            let plane = dst + c * inPlane
            for a in 0..<k[0] {
                for b in 0..<k[1] {
                    for e in 0..<k[2] {
                        let row = col + (((c * k[0] + a) * k[1] + b) * k[2] + e) * l
                        for od in 0..<oD {
                            let id = od * s[0] - p[0] + a * d[0]
                            if id < 0 || id >= iD { continue }
                            for oh in 0..<oH {
                                let ih = oh * s[1] - p[1] + b * d[1]
                                if ih < 0 || ih >= iH { continue }
                                let srow = row + (od * oH + oh) * oW
                                let drow = plane + (id * iH + ih) * iW
                                for ow in 0..<oW {
                                    let iw = ow * s[2] - p[2] + e * d[2]
                                    if iw >= 0 && iw < iW { drow[iw] += srow[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
