import NN
import TensorEngine

/// What a `tensor_quant` module offers to a proxy.
public protocol TensorQuantizer: Module {
    /// Quantizes `x`: dequantized values with scale, zero point and bit width.
    func callAsFunction(_ x: Tensor) -> QuantOutput
    /// Whether the integer codes are signed.
    var isSigned: Bool { get }
}

extension RescalingIntQuant: TensorQuantizer {
    public var isSigned: Bool { signed }
}
