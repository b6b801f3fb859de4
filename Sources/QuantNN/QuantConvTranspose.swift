import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// The sizes of a quantized transposed convolution and the accumulator bound Brevitas gives it.
///
/// Brevitas (`quant_tensor/int_torch_handler.py`, `conv_transpose`) bounds the accumulator of a
/// transposed convolution by the number of input pixels that can land on one output pixel, per
/// spatial dimension `max(ceil(k_d / stride_d), 1)`, **summed** over the dimensions (a loose
/// bound for 2-d, reproduced as is), times `W.shape[1] = Cout/groups`:
/// `bits = ceil(log2(U(b_in) · U(b_w) · Σ_d max(ceil(k_d / s_d), 1) · Cout/groups))`.
struct TransposedConvSizes {
    let kernel: [Int], stride: [Int], outputPadding: [Int]

    /// The accumulator's fan-in as Brevitas counts it.
    func fanIn(outPerGroup: Int) -> Int {
        zip(kernel, stride).map { k, s in Swift.max((k + s - 1) / s, 1) }.reduce(0, +) * outPerGroup
    }

    /// `output_padding` must lie in `0 ..< stride` per dimension.
    func validate(_ layer: String) throws(QuantConfigError) {
        for (op, s) in zip(outputPadding, stride) where op < 0 || op >= s {
            throw QuantConfigError(context: layer, problems: [.init(
                key: "output_padding",
                message: "output_padding \(outputPadding) must be >= 0 and smaller than stride \(stride) in every dimension")])
        }
    }
}

/// Initial weight `[Cin, Cout/groups, k…]` (torch's kaiming-uniform, fan-in `Cout/groups · Πk`)
/// and bias `[Cout]` uniform in ±1/√fan-in, as `torch.nn.ConvTransposeNd.reset_parameters`.
func transposedWeightAndBias(_ shape: [Int], outChannels: Int, bias: Bool, generator: RandomGenerator) -> (Tensor, Tensor?) {
    let w = generator.kaimingUniform(shape)
    let bound = 1 / Float(RandomGenerator.fans(shape).fanIn).squareRoot()
    return (w, bias ? generator.uniform([outChannels], low: -bound, high: bound) : nil)
}

/// A quantized 2-D transposed convolution (Brevitas `QuantConvTranspose2d`), NCHW; weight
/// `[Cin, Cout/groups, kH, kW]`. Output size per dimension
/// `(in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1`.
///
/// ```swift
/// let up = try QuantConvTranspose2d(4, 2, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1)
/// try up(x)   // [N, 4, 8, 8] -> [N, 2, 16, 16]
/// ```
public final class QuantConvTranspose2d: QuantWeightBiasLayer {
    public let inChannels: Int, outChannels: Int
    public let kernelSize: IntOrPair, stride: IntOrPair, padding: IntOrPair, outputPadding: IntOrPair, dilation: IntOrPair
    public let groups: Int
    let sizes: TransposedConvSizes

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: IntOrPair, stride: IntOrPair = 1,
                padding: IntOrPair = 0, outputPadding: IntOrPair = 0, dilation: IntOrPair = 1, groups: Int = 1,
                bias: Bool = true, weightQuant: WeightQuant? = .int8WeightPerTensorFloat, biasQuant: BiasQuant? = nil,
                inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw QuantConfigError(context: "QuantConvTranspose2d", problems: [.init(
                key: "groups", message: "in_channels \(inChannels) and out_channels \(outChannels) must be divisible by groups \(groups)")])
        }
        sizes = TransposedConvSizes(kernel: [kernelSize.first, kernelSize.second], stride: [stride.first, stride.second],
                                    outputPadding: [outputPadding.first, outputPadding.second])
        try sizes.validate("QuantConvTranspose2d")
        try WeightQuant.checkTransposed(weightQuant, groups: groups, layer: "QuantConvTranspose2d")
        (self.inChannels, self.outChannels, self.groups) = (inChannels, outChannels, groups)
        (self.kernelSize, self.stride, self.padding, self.outputPadding, self.dilation) = (kernelSize, stride, padding, outputPadding, dilation)
        let (w, b) = transposedWeightAndBias([inChannels, outChannels / groups, kernelSize.first, kernelSize.second],
                                             outChannels: outChannels, bias: bias, generator: generator)
        try super.init(name: "QuantConvTranspose2d", weight: w, bias: b, weightQuant: weightQuant, biasQuant: biasQuant,
                       inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor, outputChannelDim: 1)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        Tensor.convTranspose2d(x, weight: w, bias: b, stride: stride.pair, padding: padding.pair,
                               outputPadding: outputPadding.pair, dilation: dilation.pair, groups: groups)
    }
    override var fanIn: Int { sizes.fanIn(outPerGroup: outChannels / groups) }

    public override var extraRepr: String {
        func t(_ p: IntOrPair) -> String { "(\(p.first), \(p.second))" }
        var s = "\(inChannels), \(outChannels), kernel_size=\(t(kernelSize)), stride=\(t(stride))"
        if padding.first != 0 || padding.second != 0 { s += ", padding=\(t(padding))" }
        if outputPadding.first != 0 || outputPadding.second != 0 { s += ", output_padding=\(t(outputPadding))" }
        if dilation.first != 1 || dilation.second != 1 { s += ", dilation=\(t(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

/// A quantized 1-D transposed convolution (Brevitas `QuantConvTranspose1d`), NCL; weight
/// `[Cin, Cout/groups, k]`.
public final class QuantConvTranspose1d: QuantWeightBiasLayer {
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int, outputPadding: Int
    public let dilation: Int, groups: Int
    let sizes: TransposedConvSizes

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                weightQuant: WeightQuant? = .int8WeightPerTensorFloat, biasQuant: BiasQuant? = nil,
                inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw QuantConfigError(context: "QuantConvTranspose1d", problems: [.init(
                key: "groups", message: "in_channels \(inChannels) and out_channels \(outChannels) must be divisible by groups \(groups)")])
        }
        sizes = TransposedConvSizes(kernel: [kernelSize], stride: [stride], outputPadding: [outputPadding])
        try sizes.validate("QuantConvTranspose1d")
        try WeightQuant.checkTransposed(weightQuant, groups: groups, layer: "QuantConvTranspose1d")
        (self.inChannels, self.outChannels, self.groups) = (inChannels, outChannels, groups)
        (self.kernelSize, self.stride, self.padding, self.outputPadding, self.dilation) = (kernelSize, stride, padding, outputPadding, dilation)
        let (w, b) = transposedWeightAndBias([inChannels, outChannels / groups, kernelSize], outChannels: outChannels,
                                             bias: bias, generator: generator)
        try super.init(name: "QuantConvTranspose1d", weight: w, bias: b, weightQuant: weightQuant, biasQuant: biasQuant,
                       inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor, outputChannelDim: 1)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        Tensor.convTranspose1d(x, weight: w, bias: b, stride: stride, padding: padding, outputPadding: outputPadding,
                               dilation: dilation, groups: groups)
    }
    override var fanIn: Int { sizes.fanIn(outPerGroup: outChannels / groups) }

    public override var extraRepr: String {
        var s = "\(inChannels), \(outChannels), kernel_size=(\(kernelSize),), stride=(\(stride),)"
        if padding != 0 { s += ", padding=(\(padding),)" }
        if outputPadding != 0 { s += ", output_padding=(\(outputPadding),)" }
        if dilation != 1 { s += ", dilation=(\(dilation),)" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

extension WeightQuant {
    /// Per-output-channel scales of a transposed convolution live on the weight's dimension 1
    /// (Brevitas `output_channel_dim = 1`, shape `[1, Cout, 1, …]`). Brevitas 0.13.4 sizes them by
    /// `out_channels`, while a grouped weight `[Cin, Cout/groups, …]` holds `Cout/groups` channels
    /// there, so it fails at the first forward with `groups > 1`; this port refuses that at
    /// construction. Accumulator-aware (A2Q) weights are not built for transposed convolutions.
    static func checkTransposed(_ q: WeightQuant?, groups: Int, layer: String) throws(QuantConfigError) {
        guard let q else { return }
        if q.accumulatorAware != nil {
            throw QuantConfigError(context: layer, problems: [.init(
                key: "weight_quant",
                message: "accumulator-aware weight quantizers (\(q.preset)) are not supported on transposed convolutions; use e.g. Int8WeightPerChannelFloat")])
        }
        if q.scalingPerOutputChannel && groups > 1 {
            throw QuantConfigError(context: layer, problems: [.init(
                key: "weight_scaling_per_output_channel",
                message: "per-output-channel weight scales with groups=\(groups): Brevitas sizes the scale by out_channels but the weight holds out_channels/groups channels (it fails at the first forward); use groups=1 or a per-tensor weight quantizer")])
        }
    }
}
