/// The hyper-parameters of a convolution layer, validated once for every layer that has them
/// (`Conv1d`, `Conv2d`, `QuantConv1d`, `QuantConv2d`): channels, and per spatial dimension the
/// kernel size, stride, zero padding and dilation, plus the channel groups.
///
/// Shapes: the weight is `[outChannels, inChannels / groups, k₁, …]`; each spatial output size is
/// `(in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1` (floor), as PyTorch.
///
/// ```swift
/// let g = ConvolutionGeometry(layer: "Conv2d", inChannels: 1, outChannels: 8, kernelSize: [3, 3],
///                             stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
/// g.weightShape       // [8, 1, 3, 3]
/// g.extraRepr(bias: true)   // "1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)"
/// ```
public struct ConvolutionGeometry: Equatable, Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let groups: Int

    /// Checks the values (programmer errors, reported with `layer`'s name and the values):
    /// positive channels divisible by `groups`, positive kernel sizes, strides and dilations,
    /// non-negative padding, one value per spatial dimension for each.
    public init(layer: String, inChannels: Int, outChannels: Int, kernelSize: [Int], stride: [Int], padding: [Int],
                dilation: [Int], groups: Int) {
        precondition(inChannels > 0 && outChannels > 0, "\(layer): channels must be positive, got \(inChannels) -> \(outChannels)")
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "\(layer): groups \(groups) must divide inChannels \(inChannels) and outChannels \(outChannels)")
        precondition(!kernelSize.isEmpty && [stride, padding, dilation].allSatisfy { $0.count == kernelSize.count },
                     "\(layer): kernelSize \(kernelSize), stride \(stride), padding \(padding) and dilation \(dilation) need one value per spatial dimension")
        precondition(kernelSize.allSatisfy { $0 > 0 }, "\(layer): kernelSize \(kernelSize) must be positive")
        precondition(stride.allSatisfy { $0 > 0 }, "\(layer): stride \(stride) must be positive")
        precondition(padding.allSatisfy { $0 >= 0 }, "\(layer): padding \(padding) must be >= 0")
        precondition(dilation.allSatisfy { $0 > 0 }, "\(layer): dilation \(dilation) must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// A 2-D geometry from PyTorch-style `int or (int, int)` values.
    public init(layer: String, inChannels: Int, outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair,
                padding: IntOrPair, dilation: IntOrPair, groups: Int) {
        func list(_ p: IntOrPair) -> [Int] { [p.first, p.second] }
        self.init(layer: layer, inChannels: inChannels, outChannels: outChannels, kernelSize: list(kernelSize),
                  stride: list(stride), padding: list(padding), dilation: list(dilation), groups: groups)
    }

    /// `[outChannels, inChannels / groups] + kernelSize`.
    public var weightShape: [Int] { [outChannels, inChannels / groups] + kernelSize }

    /// PyTorch's `extra_repr` of a convolution: channels, kernel size and stride, then padding,
    /// dilation and groups where not the default, and `bias=False` without bias.
    public func extraRepr(bias: Bool) -> String {
        func tuple(_ v: [Int]) -> String { v.count == 1 ? "(\(v[0]),)" : "(" + v.map(String.init).joined(separator: ", ") + ")" }
        var s = "\(inChannels), \(outChannels), kernel_size=\(tuple(kernelSize)), stride=\(tuple(stride))"
        if padding.contains(where: { $0 != 0 }) { s += ", padding=\(tuple(padding))" }
        if dilation.contains(where: { $0 != 1 }) { s += ", dilation=\(tuple(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if !bias { s += ", bias=False" }
        return s
    }
}

/// A layer with one spatial dimension described by a ``ConvolutionGeometry`` (``Conv1d``,
/// QuantNN's `QuantConv1d`): its hyper-parameters read as single numbers, as PyTorch's
/// `Conv1d` attributes, so the float and quantized layers cannot disagree on them.
public protocol Convolution1dGeometry {
    /// The validated hyper-parameters.
    var geometry: ConvolutionGeometry { get }
}

extension Convolution1dGeometry {
    public var inChannels: Int { geometry.inChannels }
    public var outChannels: Int { geometry.outChannels }
    public var kernelSize: Int { geometry.kernelSize[0] }
    public var stride: Int { geometry.stride[0] }
    public var padding: Int { geometry.padding[0] }
    public var dilation: Int { geometry.dilation[0] }
    public var groups: Int { geometry.groups }
}
