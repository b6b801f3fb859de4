import TensorEngine

/// A module with one input and one output, such as `Linear`, `Conv2d` or `ReLU`: what
/// ``Sequential`` chains.
///
/// ```swift
/// let layer: any Layer = Linear(4, 2)
/// let y = layer(Tensor.zeros([3, 4]))  // [3, 2]
/// ```
public protocol Layer: Module {
    /// Applies the layer to `x`.
    func callAsFunction(_ x: Tensor) -> Tensor
}
