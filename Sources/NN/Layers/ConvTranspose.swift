import TensorEngine

/// A 2-D transposed convolution (`torch.nn.ConvTranspose2d`), NCHW: the adjoint of `Conv2d`
/// with the same weight, used to upsample.
///
/// Input `[N, inChannels, H, W]`, weight `[inChannels, outChannels / groups, kH, kW]`, bias
/// `[outChannels]`; output `[N, outChannels, Ho, Wo]` with, per spatial dimension,
/// `out = (in − 1)·stride − 2·padding + dilation·(kernel − 1) + outputPadding + 1`
/// (`0 ≤ outputPadding < stride`). Weight and bias start uniform in `±1/√fan-in` as in PyTorch.
///
/// ```swift
/// let up = ConvTranspose2d(20, 10, kernelSize: 2, stride: 2)
/// up(Tensor.zeros([1, 20, 6, 6])).shape   // [1, 10, 12, 12]
/// ```
open class ConvTranspose2d: Module, Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: IntOrPair
    public let stride: IntOrPair
    public let padding: IntOrPair
    public let outputPadding: IntOrPair
    public let dilation: IntOrPair
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor?

    public init(
        inChannels: Int, outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
        outputPadding: IntOrPair = 0, dilation: IntOrPair = 1, groups: Int = 1, bias: Bool = true,
        generator: RandomGenerator = .global
    ) {
        precondition(inChannels > 0 && outChannels > 0, "ConvTranspose2d: channels must be positive, got \(inChannels) -> \(outChannels)")
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "ConvTranspose2d: groups \(groups) must divide inChannels \(inChannels) and outChannels \(outChannels)")
        precondition(kernelSize.first > 0 && kernelSize.second > 0, "ConvTranspose2d: kernelSize \(kernelSize) must be positive")
        precondition(stride.first > 0 && stride.second > 0, "ConvTranspose2d: stride \(stride) must be positive")
        precondition(padding.first >= 0 && padding.second >= 0, "ConvTranspose2d: padding \(padding) must be >= 0")
        precondition(dilation.first > 0 && dilation.second > 0, "ConvTranspose2d: dilation \(dilation) must be positive")
        precondition(outputPadding.first >= 0 && outputPadding.first < stride.first && outputPadding.second >= 0
                     && outputPadding.second < stride.second,
                     "ConvTranspose2d: outputPadding \(outputPadding) must be >= 0 and below stride \(stride)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        self.groups = groups
        let shape = [inChannels, outChannels / groups, kernelSize.first, kernelSize.second]
        weight = generator.kaimingUniform(shape)
        let bound = 1 / Float(RandomGenerator.fans(shape).fanIn).squareRoot()
        self.bias = bias ? generator.uniform([outChannels], low: -bound, high: bound) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    /// Positional channels, as `torch.nn.ConvTranspose2d(20, 10, 2, stride=2)`.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
        outputPadding: IntOrPair = 0, dilation: IntOrPair = 1, groups: Int = 1, bias: Bool = true
    ) {
        self.init(
            inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
            outputPadding: outputPadding, dilation: dilation, groups: groups, bias: bias)
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.convTranspose2d(
            x, weight: weight, bias: bias, stride: stride.pair, padding: padding.pair, outputPadding: outputPadding.pair,
            dilation: dilation.pair, groups: groups)
    }

    open override var extraRepr: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(kernelSize.tupleDescription), stride=\(stride.tupleDescription)"
        if padding.pair != (0, 0) { s += ", padding=\(padding.tupleDescription)" }
        if outputPadding.pair != (0, 0) { s += ", output_padding=\(outputPadding.tupleDescription)" }
        if dilation.pair != (1, 1) { s += ", dilation=\(dilation.tupleDescription)" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}
