/// Sizes of one convolution and its im2col/GEMM kernels.
struct ConvGeometry {
    let n: Int, inC: Int, inH: Int, inW: Int
    let outC: Int, kH: Int, kW: Int
    let sH: Int, sW: Int, pH: Int, pW: Int, dH: Int, dW: Int
    let groups: Int
    let outH: Int, outW: Int

    var cg: Int { inC / groups }  // input channels per group
    var og: Int { outC / groups }  // output channels per group
    var kg: Int { cg * kH * kW }  // GEMM reduction size per group
    var l: Int { outH * outW }  // output pixels per image
    /// A 1x1, stride-1, unpadded convolution reads the input plane directly (no im2col).
    var isPointwise: Bool { kH == 1 && kW == 1 && sH == 1 && sW == 1 && pH == 0 && pW == 0 }

    init(input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) {
        precondition(groups >= 1, "conv: groups must be >= 1, got \(groups)")
        precondition(stride.0 >= 1 && stride.1 >= 1, "conv: stride must be >= 1, got \(stride)")
        precondition(padding.0 >= 0 && padding.1 >= 0, "conv: padding must be >= 0, got \(padding)")
        precondition(dilation.0 >= 1 && dilation.1 >= 1, "conv: dilation must be >= 1, got \(dilation)")
        n = input[0]; inC = input[1]; inH = input[2]; inW = input[3]
        outC = weight[0]; kH = weight[2]; kW = weight[3]
        precondition(inC % groups == 0 && outC % groups == 0,
                     "conv: input channels \(inC) and output channels \(outC) must be divisible by groups \(groups)")
        precondition(weight[1] * groups == inC,
                     "conv: weight \(weight) expects \(weight[1] * groups) input channels (groups \(groups)), input \(input) has \(inC)")
        (sH, sW) = stride; (pH, pW) = padding; (dH, dW) = dilation
        self.groups = groups
        outH = (inH + 2 * pH - dH * (kH - 1) - 1) / sH + 1
        outW = (inW + 2 * pW - dW * (kW - 1) - 1) / sW + 1
        precondition(inH + 2 * pH - dH * (kH - 1) - 1 >= 0 && inW + 2 * pW - dW * (kW - 1) - 1 >= 0,
                     "conv: kernel \(kH)x\(kW) (dilation \(dilation)) is larger than the padded input \(input) (padding \(padding))")
    }

    /// For stride 1 (and padding ≤ dilation·(kernel − 1)): the geometry of the convolution that
    /// computes the input gradient from the output gradient with the flipped, transposed kernel.
    var transposed: ConvGeometry? {
        guard sH == 1 && sW == 1, pH <= dH * (kH - 1), pW <= dW * (kW - 1), og > 0 else { return nil }
        return ConvGeometry(
            input: [n, outC, outH, outW], weight: [inC, og, kH, kW], stride: (1, 1),
            padding: (dH * (kH - 1) - pH, dW * (kW - 1) - pW), dilation: (dH, dW), groups: groups)
    }

    /// Floats of the im2col columns of the whole batch: block by block (`imagesPerGemm` images),
    /// group by group within a block, each `[kg, images·l]`.
    var columnCount: Int { n * groups * kg * l }

    /// Where the columns of the block starting at image `i0` (`cnt` images), group `gi`, start.
    @inline(__always) func columnOffset(_ i0: Int, _ cnt: Int, _ gi: Int) -> Int { (i0 * groups + gi * cnt) * kg * l }

    /// Whether the forward keeps its im2col columns for the weight gradient: GEMM convolutions
    /// (not 1x1, not depthwise) whose columns take at most 16 MB (beyond that, unfolding again streams no more memory than
    /// reading them back).
    var savesColumns: Bool {
        !isPointwise && !usesWinograd && winogradPacking == nil && !(cg == 1 && groups > 1) && cg > 0 && columnCount > 0 && columnCount <= 1 << 22
    }

    /// Images per GEMM: one when an image has enough output pixels to make a wide GEMM, more
    /// (their columns side by side) for small feature maps, within a ~16 MB column buffer.
    var imagesPerGemm: Int {
        let l = self.l
        if l >= 1024 || n <= 1 { return 1 }
        let want = (1024 + l - 1) / l
        let cap = Swift.max(1, (4 << 20) / Swift.max(kg * l, 1))
        return Swift.max(1, Swift.min(n, want, cap))
    }
}
