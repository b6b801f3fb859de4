import NN
import QuantCore
import Quantizers
import TensorEngine

/// A quantized embedding table (Brevitas `QuantEmbedding`): `out = Q(W)[idx]`, `W`
/// `[numEmbeddings, embeddingDim]` (initially standard normal, the padding row zero), `Q` the
/// weight quantizer (default `Int8WeightPerTensorFloat`, narrow range: scale
/// `max|W| / (2^(b−1) − 1)`, over every row including the padding row).
///
/// With `returnQuantTensor` the output carries the weight's scale, zero point and bit width
/// (per-tensor only, as Brevitas). The row `paddingIdx` gets no gradient.
///
/// ```swift
/// let emb = try QuantEmbedding(10, 4, paddingIdx: 0, weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 4))
/// try emb(Tensor(shape: [2], [3, 0]))   // [2, 4]
/// ```
public final class QuantEmbedding: Module, QuantLayer {
    public let numEmbeddings: Int, embeddingDim: Int
    /// The padding row (a negative `padding_idx` counts from the end, as in torch).
    public let paddingIdx: Int?
    public let weight: Tensor
    public let weightQuant: WeightQuantProxy
    public let returnQuantTensor: Bool

    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil,
                weightQuant: WeightQuant? = .int8WeightPerTensorFloat, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        if let p = paddingIdx, p >= numEmbeddings || p < -numEmbeddings {
            throw QuantConfigError(context: "QuantEmbedding", problems: [.init(
                key: "padding_idx", message: "padding_idx \(p) must be within num_embeddings \(numEmbeddings) (from \(-numEmbeddings) to \(numEmbeddings - 1))")])
        }
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        self.paddingIdx = paddingIdx.map { $0 < 0 ? $0 + numEmbeddings : $0 }
        weight = generator.normal([numEmbeddings, embeddingDim])
        if let p = self.paddingIdx { for j in 0..<embeddingDim { weight.storage.pointer[p * embeddingDim + j] = 0 } }
        self.weightQuant = try WeightQuantProxy(config: weightQuant, weightShape: weight.shape, context: "QuantEmbedding.weight_quant")
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerParameter("weight", weight)
        registerModule("weight_quant", self.weightQuant)
    }

    public override var typeName: String { "QuantEmbedding" }

    /// Looks up the rows of `input` (integer-valued indices; a QuantTensor's value is used).
    public func forward(_ input: QuantValue) throws -> QuantValue {
        let qw = weightQuant(weight)
        // Brevitas's QuantTensor `embedding` handler refuses any quantized weight whose scale,
        // zero point or bit width has more than one element, whether or not the output is a
        // QuantTensor ("Only per-tensor quantization is supported.").
        if let q = qw.quantTensor, !(q.scale.count == 1 && q.zeroPoint.count == 1 && q.bitWidth.count == 1) {
            throw QuantLayerError.notQuantized(layer: "QuantEmbedding", reason: "only per-tensor weight quantization is supported (scale \(q.scale.shape)); use a per-tensor weight quantizer such as Int8WeightPerTensorFloat")
        }
        let out = Tensor.embedding(input.value, weight: qw.value, paddingIdx: paddingIdx)
        guard returnQuantTensor else { return .float(out) }
        guard let q = qw.quantTensor else {
            throw QuantLayerError.notQuantized(layer: "QuantEmbedding", reason: "weight quantization is disabled")
        }
        return .quant(QuantTensor(value: out, scale: q.scale, zeroPoint: q.zeroPoint, bitWidth: q.bitWidth, signed: q.signed, training: q.training))
    }

    /// The dequantized rows of `indices`.
    public func callAsFunction(_ indices: Tensor) throws -> Tensor { try forward(.float(indices)).value }

    public override var extraRepr: String {
        "\(numEmbeddings), \(embeddingDim)" + (paddingIdx.map { ", padding_idx=\($0)" } ?? "")
    }
}
