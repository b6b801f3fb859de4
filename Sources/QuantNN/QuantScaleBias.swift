import NN
import QuantCore
import Quantizers
import TensorEngine

/// A quantized per-channel affine map (Brevitas `QuantScaleBias`):
/// `y = x · Q(weight).view(1, −1, 1, …) + Q(bias).view(1, −1, 1, …)`, weight `[C]` (initially
/// ones) and bias `[C]` (initially zeros), default weight quantizer `Int8WeightPerTensorFloat`
/// (scale `max|weight| / 127`).
///
/// Metadata follows Brevitas's QuantTensor algebra: with a quantized input the product has
/// scale `s_in · s_w` and bit width `b_in + b_w`; adding a quantized bias (same scale) gives the
/// mean scale and `ceil(log2(range_a + range_b))` bits; a float bias goes into the zero point.
///
/// ```swift
/// let sb = try QuantScaleBias(4, bias: true)
/// try sb(x)   // [N, 4, H, W] -> [N, 4, H, W]
/// ```
public class QuantScaleBias: QuantWeightBiasLayer {
    public let numFeatures: Int

    public convenience init(_ numFeatures: Int, bias: Bool, weightQuant: WeightQuant? = .int8WeightPerTensorFloat,
                biasQuant: BiasQuant? = nil, inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil,
                returnQuantTensor: Bool = false) throws(QuantConfigError) {
        try self.init(name: "QuantScaleBias", numFeatures, bias: bias, weightQuant: weightQuant, biasQuant: biasQuant,
                      inputQuant: inputQuant, outputQuant: outputQuant, returnQuantTensor: returnQuantTensor)
    }

    init(name: String, _ numFeatures: Int, bias: Bool, weightQuant: WeightQuant?, biasQuant: BiasQuant?,
         inputQuant: ActQuant?, outputQuant: ActQuant?, returnQuantTensor: Bool) throws(QuantConfigError) {
        self.numFeatures = numFeatures
        try super.init(name: name, weight: Tensor.ones([numFeatures]), bias: bias ? Tensor.zeros([numFeatures]) : nil,
                       weightQuant: weightQuant, biasQuant: biasQuant, inputQuant: inputQuant, outputQuant: outputQuant,
                       returnQuantTensor: returnQuantTensor)
    }

    /// `[1, −1, 1, …]` for an input of `rank` dimensions (channels on dimension 1).
    static func runtimeShape(_ rank: Int) -> [Int] {
        precondition(rank >= 2, "QuantScaleBias: input must be [N, C, ...], got rank \(rank)")
        return [1, -1] + [Int](repeating: 1, count: rank - 2)
    }

    override func op(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        let shape = Self.runtimeShape(x.rank)
        let y = x * w.reshape(shape)
        return b.map { y + $0.reshape(shape) } ?? y
    }

    public override func forward(_ input: QuantValue) throws -> QuantValue {
        let qi = inputQuant(input)
        let qw = try weightQuant(weight, input: qi, layer: layerName)
        let qb = try bias.map { try biasQuant($0, input: qi, weight: qw, layer: layerName) }
        let shape = Self.runtimeShape(qi.value.rank)
        var acc: QuantValue
        if let i = qi.quantTensor, let w = qw.quantTensor {
            var m = try qt { try i * w.view(shape) }
            if let qb {
                if let bq = qb.quantTensor {
                    m = try qt { try m + bq.view(shape) }
                } else {
                    m = m + qb.value.reshape(shape)
                }
            }
            acc = .quant(m)
        } else {
            acc = .float(op(qi.value, qw.value, qb?.value))
        }
        acc = outputQuant(acc)
        guard returnQuantTensor else { return .float(acc.value) }
        guard acc.quantTensor != nil else {
            throw QuantLayerError.notQuantized(layer: layerName, reason: "neither the product (needs a quantized input and weight) nor output_quant is quantized")
        }
        return acc
    }

    public override var extraRepr: String { "\(numFeatures), bias=\(bias == nil ? "False" : "True")" }
}

/// A batch normalisation folded into a quantized scale-bias (Brevitas
/// `BatchNorm2dToQuantScaleBias`): `weight = γ / sqrt(running_var + eps)`,
/// `bias = β − running_mean · weight`, then `QuantScaleBias` with a bias on NCHW inputs.
public final class BatchNorm2dToQuantScaleBias: QuantScaleBias {
    public let eps: Float

    public init(_ numFeatures: Int, eps: Float = 1e-5, weightQuant: WeightQuant? = .int8WeightPerTensorFloat,
                biasQuant: BiasQuant? = nil, inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil,
                returnQuantTensor: Bool = false) throws(QuantConfigError) {
        self.eps = eps
        try super.init(name: "BatchNorm2dToQuantScaleBias", numFeatures, bias: true, weightQuant: weightQuant,
                       biasQuant: biasQuant, inputQuant: inputQuant, outputQuant: outputQuant,
                       returnQuantTensor: returnQuantTensor)
    }

    /// Sets the scale and bias from a batch norm's parameters and running statistics (Brevitas
    /// `mul_add_from_bn`, applied when such a state dict is loaded).
    public func load(batchNormWeight gamma: Tensor, bias beta: Tensor, runningMean: Tensor, runningVar: Tensor) {
        precondition([gamma, beta, runningMean, runningVar].allSatisfy { $0.shape == [numFeatures] },
                     "BatchNorm2dToQuantScaleBias: batch norm tensors must be [\(numFeatures)], got \([gamma, beta, runningMean, runningVar].map(\.shape))")
        Autograd.noGrad {
            let mul = gamma / (runningVar + eps).sqrt()
            weight.assign(mul)
            bias!.assign(beta - runningMean * mul)
        }
    }
}
