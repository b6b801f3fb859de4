import TensorEngine

/// A 2-D convolution over `[N, C, H, W]` inputs (`torch.nn.Conv2d`, zero padding).
///
/// Shapes: `weight` is `[outChannels, inChannels / groups, kH, kW]`, `bias` is `[outChannels]`,
/// the output is `[N, outChannels, Ho, Wo]` with
/// `Ho = (H + 2·padding − dilation·(kH − 1) − 1) / stride + 1` (floor), likewise `Wo`.
///
/// Initialisation is PyTorch's (``DefaultInitialization``): Kaiming-uniform with `a = √5` for
/// `weight` and uniform in `±1/√fanIn` for `bias`, `fanIn = inChannels / groups · kH · kW`.
///
/// ```swift
/// let conv = Conv2d(1, 8, kernelSize: 3, padding: 1)
/// conv(Tensor.zeros([2, 1, 8, 8])).shape  // [2, 8, 8, 8]
/// print(conv)  // Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
/// ```
open class Conv2d: Module, Layer {
    public var inChannels: Int { geometry.inChannels }
    public var outChannels: Int { geometry.outChannels }
    public let kernelSize: IntOrPair
    public let stride: IntOrPair
    public let padding: IntOrPair
    public let dilation: IntOrPair
    public var groups: Int { geometry.groups }
    /// `[outChannels, inChannels / groups, kH, kW]`, state-dict key `weight`.
    public let weight: Tensor
    /// `[outChannels]`, state-dict key `bias`; `nil` without bias.
    public let bias: Tensor?
    /// The validated hyper-parameters.
    public let geometry: ConvolutionGeometry

    /// - Parameters:
    ///   - inChannels: input channels `C`.
    ///   - outChannels: output channels.
    ///   - kernelSize: `kH × kW` (one number for a square kernel).
    ///   - stride: the window step.
    ///   - padding: zeros added on each side.
    ///   - dilation: the spacing between kernel elements.
    ///   - groups: channel groups; `inChannels` and `outChannels` must be multiples.
    ///   - bias: whether to add a learned bias.
    ///   - generator: the source of the initial weights.
    public init(
        inChannels: Int, outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
        dilation: IntOrPair = 1, groups: Int = 1, bias: Bool = true, generator: RandomGenerator = .global
    ) {
        geometry = ConvolutionGeometry(layer: "Conv2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                                       stride: stride, padding: padding, dilation: dilation, groups: groups)
        (self.kernelSize, self.stride, self.padding, self.dilation) = (kernelSize, stride, padding, dilation)
        (weight, self.bias) = DefaultInitialization.weightAndBias(weightShape: geometry.weightShape, bias: bias, generator: generator)
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    /// `Conv2d(inChannels, outChannels, kernelSize: ...)`.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
        dilation: IntOrPair = 1, groups: Int = 1, bias: Bool = true
    ) {
        self.init(
            inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride,
            padding: padding, dilation: dilation, groups: groups, bias: bias)
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(
            x, weight: weight, bias: bias, stride: stride.pair, padding: padding.pair, dilation: dilation.pair,
            groups: groups)
    }

    open override var extraRepr: String { geometry.extraRepr(bias: bias != nil) }
}

/// A 1-D convolution over `[N, C, L]` inputs (`torch.nn.Conv1d`, zero padding).
///
/// Shapes: `weight` is `[outChannels, inChannels / groups, kernelSize]`, the output is
/// `[N, outChannels, Lo]`, `Lo = (L + 2·padding − dilation·(kernelSize − 1) − 1) / stride + 1`.
/// Initialisation as ``Conv2d``.
open class Conv1d: Module, Layer, Convolution1dGeometry {
    /// `[outChannels, inChannels / groups, kernelSize]`, state-dict key `weight`.
    public let weight: Tensor
    /// `[outChannels]`, state-dict key `bias`; `nil` without bias.
    public let bias: Tensor?
    /// The validated hyper-parameters.
    public let geometry: ConvolutionGeometry

    /// - Parameters: as ``Conv2d``, with single numbers for the one spatial dimension.
    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
        groups: Int = 1, bias: Bool = true, generator: RandomGenerator = .global
    ) {
        geometry = ConvolutionGeometry(layer: "Conv1d", inChannels: inChannels, outChannels: outChannels, kernelSize: [kernelSize],
                                       stride: [stride], padding: [padding], dilation: [dilation], groups: groups)
        (weight, self.bias) = DefaultInitialization.weightAndBias(weightShape: geometry.weightShape, bias: bias, generator: generator)
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    /// `Conv1d(inChannels, outChannels, kernelSize: ...)`.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
        groups: Int = 1, bias: Bool = true
    ) {
        self.init(
            inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation, groups: groups, bias: bias)
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv1d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    open override var extraRepr: String { geometry.extraRepr(bias: bias != nil) }
}
