import TensorEngine

/// A fully connected layer: `y = x · Wᵀ + b` (`torch.nn.Linear`).
///
/// Shapes: `x` is `[..., inFeatures]`, `weight` is `[outFeatures, inFeatures]`, `bias` is
/// `[outFeatures]`, `y` is `[..., outFeatures]`.
///
/// Initialisation is PyTorch's (``DefaultInitialization``): `weight` Kaiming-uniform with
/// `a = √5` (uniform in `±1/√inFeatures`) and `bias` uniform in `±1/√inFeatures`, drawn in that
/// order from `generator`.
///
/// ```swift
/// let fc = Linear(4, 2)
/// fc(Tensor.zeros([8, 4])).shape  // [8, 2]
/// print(fc)                       // Linear(in_features=4, out_features=2, bias=True)
/// ```
open class Linear: Module, Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    /// `[outFeatures, inFeatures]`, state-dict key `weight`.
    public let weight: Tensor
    /// `[outFeatures]`, state-dict key `bias`; `nil` for a layer without bias.
    public let bias: Tensor?

    /// - Parameters:
    ///   - inFeatures: size of the last input dimension.
    ///   - outFeatures: size of the last output dimension.
    ///   - bias: whether to add a learned bias.
    ///   - generator: the source of the initial weights.
    public init(
        inFeatures: Int, outFeatures: Int, bias: Bool = true, generator: RandomGenerator = .global
    ) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: features must be positive, got in \(inFeatures), out \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        (weight, self.bias) = DefaultInitialization.weightAndBias(weightShape: [outFeatures, inFeatures], bias: bias,
                                                                  generator: generator)
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    /// `Linear(inFeatures, outFeatures)`.
    public convenience init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        self.init(inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.linear(x, weight: weight, bias: bias)
    }

    open override var extraRepr: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(PythonRepr.bool(bias != nil))"
    }
}

/// Passes its input through unchanged (`torch.nn.Identity`); a placeholder in a `Sequential`.
open class Identity: Module, Layer {
    public override init() { super.init() }
    open func callAsFunction(_ x: Tensor) -> Tensor { x }
}
