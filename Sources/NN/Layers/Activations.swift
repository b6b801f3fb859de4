import TensorEngine

/// `max(x, 0)` elementwise (`torch.nn.ReLU`); the gradient at 0 is 0.
open class ReLU: Module, Layer {
    public override init() { super.init() }
    open func callAsFunction(_ x: Tensor) -> Tensor { x.relu() }
}

/// `1 / (1 + e⁻ˣ)` elementwise (`torch.nn.Sigmoid`).
open class Sigmoid: Module, Layer {
    public override init() { super.init() }
    open func callAsFunction(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// `tanh(x)` elementwise (`torch.nn.Tanh`).
open class Tanh: Module, Layer {
    public override init() { super.init() }
    open func callAsFunction(_ x: Tensor) -> Tensor { x.tanh() }
}

/// `min(max(x, minValue), maxValue)` elementwise (`torch.nn.Hardtanh`); the gradient is 1
/// strictly inside `(minValue, maxValue)` and 0 elsewhere.
///
/// ```swift
/// HardTanh(minValue: -2, maxValue: 2)(Tensor([-3, 0.5, 3])).scalars  // [-2, 0.5, 2]
/// ```
open class HardTanh: Module, Layer {
    public let minValue: Float
    public let maxValue: Float

    /// The interval `[minValue, maxValue]` (PyTorch's `min_val`, `max_val`), `minValue < maxValue`.
    public init(minValue: Float = -1, maxValue: Float = 1) {
        precondition(minValue < maxValue, "HardTanh: minValue \(minValue) must be below maxValue \(maxValue)")
        self.minValue = minValue
        self.maxValue = maxValue
        super.init()
    }

    open func callAsFunction(_ x: Tensor) -> Tensor { x.hardtanh(min: minValue, max: maxValue) }

    open override var extraRepr: String {
        "min_val=\(PythonRepr.float(minValue)), max_val=\(PythonRepr.float(maxValue))"
    }
}

/// Merges dimensions `startDim...endDim` into one (`torch.nn.Flatten`); by default everything but
/// the batch dimension: `[N, C, H, W] -> [N, C·H·W]`.
open class Flatten: Module, Layer {
    public let startDim: Int
    public let endDim: Int

    /// Flattens dimensions `startDim...endDim` (negative values count from the end).
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    open func callAsFunction(_ x: Tensor) -> Tensor { x.flatten(startDim: startDim, endDim: endDim) }

    open override var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}
