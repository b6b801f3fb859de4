import NN
import QuantNN

/// A layer whose forward is not a chain (a residual block, a branch and merge) and that still
/// has an integer program, because it describes its dataflow through its own submodules.
///
/// The description mirrors `forward`, with `flow.apply(submodule, to: value)` in place of each
/// call. The same description serves twice: ``IntegerLowering`` derives the integer program from
/// it, and ``Verification`` runs the fake-quantized submodules through it to record each one's
/// output, so the two are compared layer by layer. (A description that drifts from `forward`
/// shows up there: the traced output would differ from the model's.)
///
/// ```swift
/// extension Residual: IntegerComposite {
///     func integerDataflow(_ x: IntegerDataflow.Value, in flow: IntegerDataflow) throws -> IntegerDataflow.Value {
///         try flow.apply(add, to: [flow.apply(body, to: x), x])
///     }
/// }
/// ```
public protocol IntegerComposite: QuantLayer {
    /// The layer's forward on `input` as applications of its submodules, through `flow`.
    func integerDataflow(_ input: IntegerDataflow.Value, in flow: IntegerDataflow) throws -> IntegerDataflow.Value
}

/// The dataflow of a model as its layers see it: opaque values and the application of a layer
/// to them. In lowering mode a value is a symbolic integer tensor of the program being built; in
/// tracing mode it is the fake-quantized model's own output, recorded under the layer's path.
public final class IntegerDataflow {
    /// A value flowing between layers.
    public struct Value {
        let index: Int
    }

    enum Mode {
        case lower(IntegerLowering.Builder)
        case trace(Tracer)
    }

    /// Records each layer's fake-quantized output (eval mode) by path.
    final class Tracer {
        var values: [QuantValue] = []
        var outputs: [String: QuantValue] = [:]
    }

    let mode: Mode
    let prefix: String
    let paths: [ObjectIdentifier: String]
    let owner: String

    init(mode: Mode, owner: Module, prefix: String) {
        self.mode = mode
        self.prefix = prefix
        self.owner = prefix.isEmpty ? owner.typeName : "\(prefix) (\(owner.typeName))"
        var paths: [ObjectIdentifier: String] = [:]
        for (name, m) in owner.namedModules() where !name.isEmpty { paths[ObjectIdentifier(m)] = name }
        self.paths = paths
    }

    /// Applies the single-input submodule `module` to `input`.
    public func apply(_ module: Module, to input: Value) throws -> Value {
        let path = try submodulePath(module)
        switch mode {
        case .lower(let b): return Value(index: try b.lower(module, b.values[input.index], path: path))
        case .trace(let t): return Value(index: try IntegerDataflow.trace(module, t.values[input.index], path: path, tracer: t))
        }
    }

    /// Applies the multi-input submodule `module` (`QuantEltwiseAdd`, `QuantCat`) to `inputs`.
    public func apply(_ module: QuantMultiInputLayer, to inputs: [Value]) throws -> Value {
        let path = try submodulePath(module)
        switch mode {
        case .lower(let b): return Value(index: try b.lowerMultiInput(module, inputs.map { b.values[$0.index] }, path: path))
        case .trace(let t):
            let out = try module.forward(inputs.map { t.values[$0.index] })
            t.outputs[path] = out
            t.values.append(out)
            return Value(index: t.values.count - 1)
        }
    }

    private func submodulePath(_ module: Module) throws -> String {
        guard let relative = paths[ObjectIdentifier(module)] else {
            throw IntegerLoweringError.unsupportedLayer(
                layer: owner, type: module.typeName,
                fix: "its dataflow applies a \(module.typeName) that is not one of its submodules; register it with registerModule")
        }
        return prefix.isEmpty ? relative : "\(prefix).\(relative)"
    }

    /// Runs `module` in tracing mode, recording its output (and, for sequentials and
    /// composites, every inner layer's) under `path`.
    static func trace(_ module: Module, _ x: QuantValue, path: String, tracer t: Tracer) throws -> Int {
        let out: QuantValue
        switch module {
        case let s as QuantSequential:
            var v = x
            for (name, child) in s.children {
                let i = try trace(child, v, path: path.isEmpty ? name : "\(path).\(name)", tracer: t)
                v = t.values[i]
            }
            out = v
        case let c as IntegerComposite:
            t.values.append(x)
            let flow = IntegerDataflow(mode: .trace(t), owner: c, prefix: path)
            out = t.values[try c.integerDataflow(Value(index: t.values.count - 1), in: flow).index]
        case let l as QuantLayer:
            out = try l.forward(x)
        default:
            throw IntegerLoweringError.unsupportedLayer(layer: path, type: module.typeName, fix: "use quantized layers (QuantLayer)")
        }
        t.outputs[path] = out
        t.values.append(out)
        return t.values.count - 1
    }

    /// The fake-quantized model's output of every layer on `input` (eval mode), by path; the
    /// model's output under `""`.
    public static func traceOutputs(_ model: QuantLayer, input: QuantValue) throws -> [String: QuantValue] {
        let t = Tracer()
        _ = try trace(model, input, path: "", tracer: t)
        return t.outputs
    }
}
