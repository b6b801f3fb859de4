import TensorEngine

/// Chains layers: the output of each is the input of the next (`torch.nn.Sequential`).
///
/// Children are named `0`, `1`, ... unless named explicitly, so the state-dict keys are PyTorch's
/// (`0.weight`, `features.3.bias`).
///
/// ```swift
/// let model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
/// print(model)
/// // Sequential(
/// //   (0): Linear(in_features=4, out_features=8, bias=True)
/// //   (1): ReLU()
/// //   (2): Linear(in_features=8, out_features=2, bias=True)
/// // )
/// model[2] = Linear(8, 3)  // swap a layer in place (same key)
/// ```
open class Sequential: Module, Layer {
    /// Layers named by their position.
    public init(_ layers: [any Layer]) {
        super.init()
        for layer in layers { append(layer) }
    }

    /// Layers named by their position.
    public convenience init(_ layers: any Layer...) { self.init(layers) }

    /// Layers with explicit names (`OrderedDict` form), applied in the given order.
    public init(named layers: KeyValuePairs<String, any Layer>) {
        super.init()
        for (name, layer) in layers { registerModule(name, layer) }
    }

    /// The layers in order.
    public var layers: [any Layer] {
        children.map { name, module in
            guard let layer = module as? any Layer else {
                preconditionFailure("Sequential: child '\(name)' (\(module.typeName)) does not conform to Layer")
            }
            return layer
        }
    }

    /// Number of layers.
    public var count: Int { children.count }

    /// Appends `layer` under the name of its position (`"\(count)"`).
    public func append(_ layer: any Layer) { registerModule(String(count), layer) }

    /// The layer at `index`; setting replaces it under the same name.
    public subscript(index: Int) -> any Layer {
        get { layers[index] }
        set {
            precondition(index >= 0 && index < count, "Sequential: index \(index) out of range 0..<\(count)")
            registerModule(children[index].name, newValue)
        }
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        layers.reduce(x) { y, layer in layer(y) }
    }
}
