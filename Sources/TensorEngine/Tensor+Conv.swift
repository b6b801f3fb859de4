/// Convolutions (NCHW) with input, weight and bias gradients:
/// - 3x3, stride 1, at least 16 channels: Winograd F(4x4, 3x3) or F(2x2, 3x3) (`Tensor+Winograd.swift`);
/// - one input channel per group (depthwise): direct loops;
/// - otherwise im2col + one BLAS GEMM per block of images and group (col2im, or for stride 1
///   the flipped convolution, for the input gradient), blocks of images in parallel.
/// The forward keeps its im2col columns for the weight gradient when they are small.
/// The sizes are `ConvGeometry`'s; the kernels are in `ConvGeometry+GEMM.swift` (the dispatch and
/// the im2col/GEMM path), `ConvGeometry+Depthwise.swift` and `ConvGeometry+Im2col.swift`.
///
/// Output size per spatial dimension: `(in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1`,
/// as `torch.nn.functional.conv2d`.
extension Tensor {
    /// 2-D convolution (`torch.nn.functional.conv2d`): `x` is `[N, C, H, W]`, `weight` is
    /// `[O, C/groups, kH, kW]`, `bias` is `[O]`; the result is `[N, O, Ho, Wo]`.
    public static func conv2d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 4, "conv2d: input must be [N, C, H, W], got shape \(x.shape)")
        precondition(weight.rank == 4, "conv2d: weight must be [O, C/groups, kH, kW], got shape \(weight.shape)")
        let geo = ConvGeometry(
            input: x.shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation,
            groups: groups)
        if let bias {
            precondition(bias.shape == [geo.outC], "conv2d: bias shape \(bias.shape) must be [\(geo.outC)] for weight \(weight.shape)")
        }
        let out = Tensor.empty([geo.n, geo.outC, geo.outH, geo.outW])
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        // The weight gradient reads the same im2col columns as the forward: keep them when they
        // are not too large instead of unfolding the input twice.
        let columns: Tensor? =
            Autograd.isEnabled && needW && geo.savesColumns ? Tensor.empty([geo.columnCount]) : nil
        Autograd.noGrad {
            geo.forward(x.storage.pointer, weight.storage.pointer, bias?.storage.pointer, out.storage.pointer,
                        columns: columns?.storage.pointer)
        }
        let dx = x.detach(), dw = weight.detach()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record("conv2d", output: out, inputs: inputs) { g in
            let gx = needX ? Tensor.empty(dx.shape) : nil
            let gw = needW ? Tensor.empty(dw.shape) : nil
            let gb = needB ? Tensor.empty([geo.outC]) : nil
            geo.backward(
                g: g.storage.pointer, x: dx.storage.pointer, w: dw.storage.pointer,
                gx: gx?.storage.pointer, gw: gw?.storage.pointer, gb: gb?.storage.pointer,
                columns: columns.map { UnsafePointer($0.storage.pointer) })
            var grads: [Tensor?] = [gx, gw]
            if bias != nil { grads.append(gb) }
            return grads
        }
    }

    /// 1-D convolution (`torch.nn.functional.conv1d`): `x` is `[N, C, L]`, `weight` is
    /// `[O, C/groups, k]`; the result is `[N, O, Lo]`. Runs as a 2-D convolution with height 1.
    public static func conv1d(
        _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1
    ) -> Tensor {
        precondition(x.rank == 3, "conv1d: input must be [N, C, L], got shape \(x.shape)")
        precondition(weight.rank == 3, "conv1d: weight must be [O, C/groups, k], got shape \(weight.shape)")
        let x4 = x.reshape([x.shape[0], x.shape[1], 1, x.shape[2]])
        let w4 = weight.reshape([weight.shape[0], weight.shape[1], 1, weight.shape[2]])
        let y = conv2d(
            x4, weight: w4, bias: bias, stride: (1, stride), padding: (0, padding), dilation: (1, dilation),
            groups: groups)
        return y.reshape([y.shape[0], y.shape[1], y.shape[3]])
    }
}
