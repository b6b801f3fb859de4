import NN
import TensorEngine

/// Quantized layers applied in order, passing QuantTensors between them (Brevitas models are
/// usually `nn.Sequential`s of quantized layers). Children are named `"0"`, `"1"`, ... or by
/// the names given, so state-dict keys read `features.0.weight` as in PyTorch.
///
/// ```swift
/// let model = try QuantSequential(
///     QuantIdentity(returnQuantTensor: true),
///     QuantConv2d(1, 8, kernelSize: 3, returnQuantTensor: true),
///     QuantReLU(returnQuantTensor: true),
///     QuantFlatten(),
///     QuantLinear(8 * 26 * 26, 10))
/// let logits = try model(x)
/// ```
public final class QuantSequential: Module, QuantLayer {
    public private(set) var layers: [QuantLayer] = []

    public init(_ layers: [QuantLayer]) {
        super.init()
        for l in layers { append(l) }
    }

    public convenience init(_ layers: QuantLayer...) { self.init(layers) }

    /// Layers with explicit names.
    public init(named layers: KeyValuePairs<String, QuantLayer>) {
        super.init()
        for (name, l) in layers {
            registerModule(name, l)
            self.layers.append(l)
        }
    }

    public func append(_ layer: QuantLayer) {
        registerModule(String(layers.count), layer)
        layers.append(layer)
    }

    public override var typeName: String { "Sequential" }

    /// Applies the layers in order; adjacent layers that fuse (a convolution and the BatchNorm
    /// after it in evaluation, a BatchNorm and a plain ReLU) run as one op (`LayerFusion`).
    public func forward(_ input: QuantValue) throws -> QuantValue {
        try LayerFusion.apply(layers, to: input)
    }

    /// The model's output values (dequantized).
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(.float(x)).value }
}

/// Flattens dimensions `startDim...endDim`, keeping QuantTensor metadata (`nn.Flatten`).
public final class QuantFlatten: Module, QuantLayer {
    public let startDim: Int, endDim: Int

    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    public override var typeName: String { "Flatten" }
    public override var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        switch input {
        case .quant(let q): return .quant(q.flatten(startDim: startDim, endDim: endDim))
        case .float(let t): return .float(t.flatten(startDim: startDim, endDim: endDim))
        }
    }
}

/// A float layer inside a quantized model (BatchNorm, Dropout, ...): it sees dequantized values
/// and returns a plain tensor (the metadata does not survive a float op), except `Dropout`,
/// which Brevitas treats as quant-invariant (its `F.dropout` QuantTensor handler applies the
/// dropout to the value and keeps scale, zero point, bit width and sign; in training the
/// surviving values are scaled by `1/(1 − p)`, off the grid, so `isValid` is false there).
public final class FloatLayer: Module, QuantLayer {
    public let layer: any Layer

    /// Wraps `layer`; its parameters, buffers and children are registered here under their own
    /// names, so state-dict keys are those of the float layer (`3.weight`, `3.running_mean`).
    public init(_ layer: any Layer) {
        self.layer = layer
        super.init()
        for (name, t) in layer.localParameters { registerParameter(name, t) }
        for (name, t) in layer.localBuffers { registerBuffer(name, t, persistent: layer.isPersistentBuffer(name)) }
        for (name, m) in layer.children { registerModule(name, m) }
        layer.train(training)
    }

    public override var description: String { layer.description }
    public override func didSetTraining(_ training: Bool) { layer.train(training) }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        if let dropout = layer as? Dropout, case .quant(let q) = input { return .quant(q.with(value: dropout(q.value))) }
        return .float(layer(input.value))
    }
}
