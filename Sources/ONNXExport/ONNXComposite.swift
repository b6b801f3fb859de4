import NN
import QuantNN
import TensorEngine

/// A layer whose forward is not a chain (a residual block, a branch and merge) and that the
/// exporter can still translate, because it describes its dataflow in terms of its own
/// submodules, each of them exportable (quantized layers, float layers, `QuantSequential`s,
/// `QuantEltwiseAdd`/`QuantCat`, or other composites).
///
/// The description mirrors `forward`, with `flow.apply(submodule, to: value)` in place of each
/// call. The exporter runs the layer's own `forward` on the example as well and refuses
/// (``ONNXExportError/inconsistent(layer:reason:)``) a description whose graph would compute
/// anything else, so a description that drifts from `forward` cannot produce a wrong file.
///
/// ```swift
/// final class Residual: Module, QuantLayer, ONNXComposite {
///     let body: QuantSequential, add: QuantEltwiseAdd      // registered as "body" and "add"
///     ...
///     func forward(_ x: QuantValue) throws -> QuantValue {
///         try add.forward([body.forward(x), x])
///     }
///     func dataflow(_ x: ONNXDataflow.Value, in flow: ONNXDataflow) throws -> ONNXDataflow.Value {
///         try flow.apply(add, to: [flow.apply(body, to: x), x])
///     }
/// }
/// ```
///
/// Node and initializer names follow the submodules' state-dict paths (`/layer1/conv1/Conv`,
/// `layer1.conv1.weight`), as for any other layer.
public protocol ONNXComposite: QuantLayer {
    /// The layer's forward on `input` as applications of its submodules, through `flow`.
    func dataflow(_ input: ONNXDataflow.Value, in flow: ONNXDataflow) throws -> ONNXDataflow.Value
}

/// The graph under construction as a composite layer sees it: values (graph tensors with the
/// values Swift computes for them) and the application of a submodule to them.
public final class ONNXDataflow {
    /// A tensor of the graph with Swift's eval-mode value for the example.
    public struct Value {
        let traced: Traced
        /// The static shape of the tensor (NCHW for images).
        public var shape: [Int] { traced.shape }
    }

    private let exporter: Exporter
    private let composite: ONNXComposite
    private let path: String
    /// The composite's submodules by identity, with their paths relative to it.
    private let paths: [ObjectIdentifier: String]

    init(exporter: Exporter, composite: ONNXComposite, path: String) {
        self.exporter = exporter
        self.composite = composite
        self.path = path
        var paths: [ObjectIdentifier: String] = [:]
        for (name, m) in composite.namedModules() where !name.isEmpty { paths[ObjectIdentifier(m)] = name }
        self.paths = paths
    }

    /// Applies the single-input submodule `module` (a quantized or float layer, a
    /// `QuantSequential`, another composite) to `input` and returns its output.
    ///
    /// Throws ``ONNXExportError/unsupportedModule(layer:reason:)`` when `module` is not a
    /// submodule of the composite, or has no translation, and the export errors of `module`.
    public func apply(_ module: Module, to input: Value) throws -> Value {
        Value(traced: try exporter.emit(module, input.traced, path: try submodulePath(module)))
    }

    /// Applies the multi-input submodule `module` (`QuantEltwiseAdd` on two values, `QuantCat`
    /// on any number) to `inputs`, in order.
    public func apply(_ module: QuantMultiInputLayer, to inputs: [Value]) throws -> Value {
        Value(traced: try exporter.emitMultiInput(module, inputs.map(\.traced), path: try submodulePath(module)))
    }

    /// Applies the submodule `lstm` (a `QuantLSTM`, QONNX only: `QuantLSTMCell`) to the input
    /// sequence; returns its output sequence and its last hidden and cell states.
    public func apply(_ lstm: QuantLSTM, to input: Value) throws -> (output: Value, hidden: Value, cell: Value) {
        let r = try exporter.emitLSTM(lstm, input.traced, path: try submodulePath(lstm))
        return (Value(traced: r.output), Value(traced: r.hidden), Value(traced: r.cell))
    }

    /// `Transpose(perm: dims)`, as `Tensor.permute(dims)` (a per-tensor QuantTensor keeps its
    /// metadata).
    public func permute(_ x: Value, _ dims: [Int]) throws -> Value {
        let v = try layout(x) { $0.permute(dims) }
        let name = exporter.b.node("Transpose", [x.traced.name], name: "\(Exporter.nodePrefix(path))/Transpose",
                                   attributes: [GraphBuilder.attr("perm", ints: dims)], type: .float, shape: v.value.shape)
        return Value(traced: Traced(name: name, value: v))
    }

    /// `Reshape` to `shape` (`-1` not allowed; a leading dimension equal to the input's is
    /// written as 0, ONNX's "copy", so a dynamic batch passes through).
    public func reshape(_ x: Value, _ shape: [Int]) throws -> Value {
        let v = try layout(x) { $0.reshape(shape) }
        var target = shape.map(Int64.init)
        if let first = shape.first, first == x.shape.first { target[0] = 0 }
        let s = exporter.b.constant("\(Exporter.nodePrefix(path))/reshape_shape", integers: target, type: .int64, shape: [shape.count])
        let name = exporter.b.node("Reshape", [x.traced.name, s], name: "\(Exporter.nodePrefix(path))/Reshape", type: .float, shape: v.value.shape)
        return Value(traced: Traced(name: name, value: v))
    }

    /// `Squeeze` of the size-1 dimension `dim`.
    public func squeeze(_ x: Value, dim: Int) throws -> Value {
        let v = try layout(x) { $0.squeeze(dim) }
        let axes = exporter.b.constant("\(Exporter.nodePrefix(path))/squeeze_axes", integers: [Int64(dim)], type: .int64, shape: [1])
        let name = exporter.b.node("Squeeze", [x.traced.name, axes], name: "\(Exporter.nodePrefix(path))/Squeeze", type: .float, shape: v.value.shape)
        return Value(traced: Traced(name: name, value: v))
    }

    /// A layout change of a value: its QuantTensor metadata is kept only when per-tensor.
    private func layout(_ x: Value, _ f: (Tensor) -> Tensor) throws -> QuantValue {
        switch x.traced.value {
        case .float(let t): return .float(f(t))
        case .quant(let q):
            guard q.scale.count == 1, q.zeroPoint.count == 1 else {
                throw ONNXExportError.unsupportedModule(layer: exporter.describe(composite, path),
                                                        reason: "its dataflow moves the elements of a per-channel QuantTensor (scale of \(q.scale.count) values)")
            }
            return .quant(q.with(value: f(q.value)))
        }
    }

    /// The full path of a submodule; the graph's names follow it.
    private func submodulePath(_ module: Module) throws -> String {
        guard let relative = paths[ObjectIdentifier(module)] else {
            throw ONNXExportError.unsupportedModule(
                layer: exporter.describe(composite, path),
                reason: "its dataflow applies a \(module.typeName) that is not one of its submodules (register it with registerModule)")
        }
        return Exporter.join(path, relative)
    }
}

extension Exporter {
    /// A composite layer: its description, replayed child by child, checked against its forward.
    func emitComposite(_ c: ONNXComposite, _ x: Traced, path: String) throws -> Traced {
        let expected = try forward(c, x, path)
        let flow = ONNXDataflow(exporter: self, composite: c, path: path)
        let out = try c.dataflow(ONNXDataflow.Value(traced: x), in: flow).traced
        try checkSame(out.value.value, expected.value, describe(c, path), "output")
        return Traced(name: out.name, value: expected)
    }
}
