import TensorEngine

/// `min(max(x, 0), 6)` (`torch.nn.ReLU6`): a ``HardTanh`` on `[0, 6]` with its own class, so
/// graph tools can tell it apart (Brevitas maps ReLU6 to a QuantReLU with `max_val=6`, and its
/// `preprocess_for_quantize` turns it into a plain ReLU). The gradient is 1 strictly inside
/// `(0, 6)`.
///
/// ```swift
/// ReLU6()(Tensor([-1, 3, 7])).scalars  // [0, 3, 6]
/// ```
open class ReLU6: HardTanh {
    public init() { super.init(minValue: 0, maxValue: 6) }
    open override var extraRepr: String { "" }
}
