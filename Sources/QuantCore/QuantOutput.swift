import TensorEngine

/// The result of a quantizer: dequantized values and their metadata.
public struct QuantOutput {
    public var value: Tensor
    public var scale: Tensor
    public var zeroPoint: Tensor
    public var bitWidth: Tensor
    /// The minifloat format of a float quantizer's output (`FloatQuant`); `nil` for integers.
    public var minifloat: MinifloatFormat? = nil
    /// The group layout of a group-wise quantizer's output; `nil` for per-tensor/channel scales.
    public var group: GroupLayout? = nil
}
