import NN
import QuantCore
import Quantizers
import TensorEngine

/// A quantized 3-D convolution (Brevitas `QuantConv3d`), NCDHW; weight
/// `[Cout, Cin/groups, kD, kH, kW]`. Sizes are `[D, H, W]` triples (a single value is repeated).
/// The accumulator bound is the 2-d one: `ceil(log2(U(b_in) · U(b_w) · Cin/groups · kD·kH·kW))`.
///
/// ```swift
/// let conv = try QuantConv3d(2, 3, kernelSize: [2, 2, 2])
/// try conv(x)   // [N, 2, 4, 4, 4] -> [N, 3, 3, 3, 3]
/// ```
public final class QuantConv3d: QuantWeightBiasLayer {
    public let inChannels: Int, outChannels: Int
    public let kernelSize: [Int], stride: [Int], padding: [Int], dilation: [Int]
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1, 1],
                padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1], groups: Int = 1, bias: Bool = true,
                weightQuant: WeightQuant? = .int8WeightPerTensorFloat, biasQuant: BiasQuant? = nil,
                inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        var problems: [QuantConfigError.Problem] = []
        for (key, v) in [("kernel_size", kernelSize), ("stride", stride), ("padding", padding), ("dilation", dilation)] where v.count != 3 {
            problems.append(.init(key: key, message: "expects 3 values (depth, height, width), got \(v)"))
        }
        if groups < 1 || inChannels % groups != 0 || outChannels % groups != 0 {
            problems.append(.init(key: "groups", message: "in_channels \(inChannels) and out_channels \(outChannels) must be divisible by groups \(groups)"))
        }
        if !problems.isEmpty { throw QuantConfigError(context: "QuantConv3d", problems: problems) }
        (self.inChannels, self.outChannels, self.groups) = (inChannels, outChannels, groups)
        (self.kernelSize, self.stride, self.padding, self.dilation) = (kernelSize, stride, padding, dilation)
        let (w, b) = DefaultInitialization.weightAndBias(weightShape: [outChannels, inChannels / groups] + kernelSize,
                                                         bias: bias, generator: generator)
        try super.init(name: "QuantConv3d", weight: w, bias: b, weightQuant: weightQuant, biasQuant: biasQuant,
                       inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        func t(_ v: [Int]) -> (Int, Int, Int) { (v[0], v[1], v[2]) }
        return Tensor.conv3d(x, weight: w, bias: b, stride: t(stride), padding: t(padding), dilation: t(dilation), groups: groups)
    }

    public override var extraRepr: String {
        func t(_ v: [Int]) -> String { "(\(v[0]), \(v[1]), \(v[2]))" }
        var s = "\(inChannels), \(outChannels), kernel_size=\(t(kernelSize)), stride=\(t(stride))"
        if padding != [0, 0, 0] { s += ", padding=\(t(padding))" }
        if dilation != [1, 1, 1] { s += ", dilation=\(t(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}
