import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// Average pooling followed by truncation of the window sum to 8 bits (Brevitas
/// `TruncAvgPool2d`, default `RoundTo8bit`). A plain tensor input is just average-pooled.
public final class TruncAvgPool2d: Module, QuantLayer {
    public let kernelSize: IntOrPair, stride: IntOrPair
    public let truncQuant: TruncQuantProxy
    public let returnQuantTensor: Bool

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, truncQuant: TruncQuant? = .roundTo8bit, returnQuantTensor: Bool = true) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.truncQuant = TruncQuantProxy(config: truncQuant)
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("trunc_quant", self.truncQuant)
    }

    public override var typeName: String { "TruncAvgPool2d" }
    public override var extraRepr: String { "kernel_size=\(kernelSize), stride=\(stride), padding=0" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        let y: QuantValue
        if case .quant(let q) = input, truncQuant.tensorQuant != nil {
            y = truncQuant(.quant(q.avgPool2d(kernelSize: kernelSize.pair, stride: stride.pair)))
        } else {
            y = .float(Tensor.avgPool2d(input.value, kernelSize: kernelSize.pair, stride: stride.pair, padding: (0, 0)))
        }
        return try pack(y, returnQuantTensor, "TruncAvgPool2d")
    }
}
