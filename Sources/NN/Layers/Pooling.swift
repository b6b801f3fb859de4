import TensorEngine

/// Maximum over each `kernelSize` window of `[N, C, H, W]` inputs (`torch.nn.MaxPool2d`, floor
/// mode); padded positions never win. The gradient goes to the selected element of each window.
///
/// Output size per dimension: `(in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1`.
///
/// ```swift
/// MaxPool2d(kernelSize: 2)(Tensor.zeros([1, 3, 8, 8])).shape  // [1, 3, 4, 4]
/// ```
open class MaxPool2d: Module, Layer {
    public let kernelSize: IntOrPair
    /// The window step; the kernel size by default.
    public let stride: IntOrPair
    public let padding: IntOrPair
    public let dilation: IntOrPair

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, padding: IntOrPair = 0, dilation: IntOrPair = 1) {
        precondition(kernelSize.first > 0 && kernelSize.second > 0, "MaxPool2d: kernelSize \(kernelSize) must be positive")
        precondition(dilation.first > 0 && dilation.second > 0, "MaxPool2d: dilation \(dilation) must be positive")
        precondition(padding.first * 2 <= kernelSize.first && padding.second * 2 <= kernelSize.second,
                     "MaxPool2d: padding \(padding) must be at most half the kernel size \(kernelSize)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        super.init()
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.maxPool2d(x, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair, dilation: dilation.pair)
    }

    open override var extraRepr: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=False"
    }
}

/// Mean over each `kernelSize` window of `[N, C, H, W]` inputs (`torch.nn.AvgPool2d`, floor mode).
/// With `countIncludePad` (the default) every window divides by `kH·kW`, zero padding included;
/// otherwise by the number of input elements it covers.
open class AvgPool2d: Module, Layer {
    public let kernelSize: IntOrPair
    /// The window step; the kernel size by default.
    public let stride: IntOrPair
    public let padding: IntOrPair
    public let countIncludePad: Bool

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, padding: IntOrPair = 0, countIncludePad: Bool = true) {
        precondition(kernelSize.first > 0 && kernelSize.second > 0, "AvgPool2d: kernelSize \(kernelSize) must be positive")
        precondition(padding.first * 2 <= kernelSize.first && padding.second * 2 <= kernelSize.second,
                     "AvgPool2d: padding \(padding) must be at most half the kernel size \(kernelSize)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.countIncludePad = countIncludePad
        super.init()
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.avgPool2d(
            x, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair, countIncludePad: countIncludePad)
    }

    open override var extraRepr: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" + (countIncludePad ? "" : ", count_include_pad=False")
    }
}

/// Averages `[N, C, H, W]` inputs down (or up) to `[N, C, outH, outW]`
/// (`torch.nn.AdaptiveAvgPool2d`): output cell `i` averages input rows
/// `⌊i·H/outH⌋ ..< ⌈(i+1)·H/outH⌉`, likewise columns. `AdaptiveAvgPool2d(outputSize: 1)` is
/// global average pooling.
open class AdaptiveAvgPool2d: Module, Layer {
    public let outputSize: IntOrPair

    public init(outputSize: IntOrPair) {
        precondition(outputSize.first > 0 && outputSize.second > 0, "AdaptiveAvgPool2d: outputSize \(outputSize) must be positive")
        self.outputSize = outputSize
        super.init()
    }

    open func callAsFunction(_ x: Tensor) -> Tensor { Tensor.adaptiveAvgPool2d(x, outputSize: outputSize.pair) }

    open override var extraRepr: String { "output_size=\(outputSize)" }
}
