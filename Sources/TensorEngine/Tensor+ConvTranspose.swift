/// Transposed convolutions (`torch.nn.functional.conv_transpose1d/2d`), NCHW, with input, weight
/// and bias gradients.
///
/// A transposed convolution is the adjoint of a convolution: for the convolution `C` that maps a
/// `[N, Cout, Ho, Wo]` image to `[N, Cin, H, W]` with the same weight, stride, padding, dilation
/// and groups, `convTranspose2d(x, W) = Cᵀ x`. So every pass reuses the im2col/GEMM kernels of
/// `ConvGeometry` (BLAS, blocks of images in parallel, thread-count independent):
///
/// | pass | computed as |
/// |---|---|
/// | forward `y = Cᵀ x` | the input gradient of `C` with `x` as its output gradient (GEMM + col2im) |
/// | `dL/dx = C dL/dy` | the forward of `C` on `dL/dy` (im2col + GEMM) |
/// | `dL/dW` | the weight gradient of `C` with input `dL/dy` and output gradient `x` |
/// | `dL/db` | `Σ_{n, h, w} dL/dy` |
///
/// Output size per spatial dimension (torch):
/// `out = (in − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1`,
/// with `0 ≤ output_padding < stride` (the extra rows/columns at the end that `C` would not read).
///
/// Example: `x` `[1, 2, 5]`, weight `[2, 3, 3]`, stride 2, padding 1, output_padding 1,
/// dilation 2 gives `[1, 3, (5−1)·2 − 2 + 4 + 1 + 1] = [1, 3, 12]`.
extension Tensor {
    /// 2-D transposed convolution: `x` is `[N, Cin, H, W]`, `weight` is
    /// `[Cin, Cout/groups, kH, kW]`, `bias` is `[Cout]`; the result is `[N, Cout, Ho, Wo]`.
    public static func convTranspose2d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
        groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 4, "convTranspose2d: input must be [N, Cin, H, W], got shape \(x.shape)")
        precondition(weight.rank == 4, "convTranspose2d: weight must be [Cin, Cout/groups, kH, kW], got shape \(weight.shape)")
        precondition(groups >= 1, "convTranspose2d: groups must be >= 1, got \(groups)")
        precondition(weight.shape[0] == x.shape[1],
                     "convTranspose2d: weight \(weight.shape) expects \(weight.shape[0]) input channels, input \(x.shape) has \(x.shape[1])")
        precondition(x.shape[1] % groups == 0, "convTranspose2d: input channels \(x.shape[1]) must be divisible by groups \(groups)")
        precondition(outputPadding.0 >= 0 && outputPadding.1 >= 0 && outputPadding.0 < stride.0 && outputPadding.1 < stride.1,
                     "convTranspose2d: output_padding \(outputPadding) must be >= 0 and smaller than stride \(stride)")
        precondition(stride.0 >= 1 && stride.1 >= 1 && dilation.0 >= 1 && dilation.1 >= 1 && padding.0 >= 0 && padding.1 >= 0,
                     "convTranspose2d: stride \(stride) and dilation \(dilation) must be >= 1, padding \(padding) >= 0")
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kH, kW) = (weight.shape[2], weight.shape[3])
        let cout = weight.shape[1] * groups
        let outH = (h - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kH - 1) + outputPadding.0 + 1
        let outW = (w - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kW - 1) + outputPadding.1 + 1
        precondition(outH >= 1 && outW >= 1,
                     "convTranspose2d: input \(x.shape) with kernel \(kH)x\(kW), stride \(stride), padding \(padding) gives an empty output \(outH)x\(outW)")
        if let bias {
            precondition(bias.shape == [cout], "convTranspose2d: bias shape \(bias.shape) must be [\(cout)] for weight \(weight.shape), groups \(groups)")
        }
        // The convolution whose adjoint this is: [N, Cout, Ho, Wo] -> [N, Cin, H, W].
        let geo = ConvGeometry(
            input: [n, cout, outH, outW], weight: [cin, weight.shape[1], kH, kW], stride: stride, padding: padding,
            dilation: dilation, groups: groups)
        precondition(geo.outH == h && geo.outW == w, "convTranspose2d: internal geometry \(geo.outH)x\(geo.outW) != input \(h)x\(w)")
        let out = Tensor.empty([n, cout, outH, outW])
        Autograd.noGrad {
            let xp = x.storage.pointer
            if n > 0 && cin > 0 {
                // `x` is passed as the (unread) input of the gradient-only call too.
                geo.backward(g: xp, x: xp, w: weight.storage.pointer, gx: out.storage.pointer, gw: nil, gb: nil)
            } else {
                out.storage.pointer.update(repeating: 0, count: out.count)
            }
            if let bias { addChannelBias(out.storage.pointer, bias.storage.pointer, n: n, c: cout, plane: outH * outW) }
        }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let dx = x.detach(), dw = weight.detach()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record("conv_transpose2d", output: out, inputs: inputs) { g in
            let gp = g.storage.pointer
            var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
            if needX {
                let t = Tensor.empty(dx.shape)
                geo.forward(gp, dw.storage.pointer, nil, t.storage.pointer)
                gx = t
            }
            if needW {
                let t = Tensor.empty(dw.shape)
                geo.backward(g: dx.storage.pointer, x: gp, w: dw.storage.pointer, gx: nil, gw: t.storage.pointer, gb: nil)
                gw = t
            }
            if needB {
                let t = Tensor.empty([cout])
                channelSums(gp, t.storage.pointer, n: n, c: cout, plane: outH * outW)
                gb = t
            }
            var grads: [Tensor?] = [gx, gw]
            if bias != nil { grads.append(gb) }
            return grads
        }
    }

    /// 1-D transposed convolution: `x` is `[N, Cin, L]`, `weight` is `[Cin, Cout/groups, k]`; the
    /// result is `[N, Cout, Lo]`. Runs as a 2-D transposed convolution with height 1.
    public static func convTranspose1d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
        outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 3, "convTranspose1d: input must be [N, Cin, L], got shape \(x.shape)")
        precondition(weight.rank == 3, "convTranspose1d: weight must be [Cin, Cout/groups, k], got shape \(weight.shape)")
        let x4 = x.reshape([x.shape[0], x.shape[1], 1, x.shape[2]])
        let w4 = weight.reshape([weight.shape[0], weight.shape[1], 1, weight.shape[2]])
        let y = convTranspose2d(
            x4, weight: w4, bias: bias, stride: (1, stride), padding: (0, padding), outputPadding: (0, outputPadding),
            dilation: (1, dilation), groups: groups)
        return y.reshape([y.shape[0], y.shape[1], y.shape[3]])
    }
}

/// `out[img, c, :] += bias[c]` over `n` images of `c` planes of `plane` elements.
func addChannelBias(_ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, n: Int, c: Int, plane: Int) {
    for img in 0..<n {
        for ch in 0..<c {
            let p = out + (img * c + ch) * plane, b = bias[ch]
            for i in 0..<plane { p[i] += b }
        }
    }
}

/// `dst[ch] = Σ_img Σ_i g[img, ch, i]` (per-image partial sums in Float, across images in Double,
/// in a fixed order).
func channelSums(_ g: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int) {
    for ch in 0..<c {
        var acc: Double = 0
        for img in 0..<n {
            let p = g + (img * c + ch) * plane
            var s: Float = 0
            for i in 0..<plane { s += p[i] }
            acc += Double(s)
        }
        dst[ch] = Float(acc)
    }
}
