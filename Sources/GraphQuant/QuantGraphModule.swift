import Graph
import NN
import QuantCore
import QuantNN
import TensorEngine

/// A graph module after Brevitas's graph quantization: the same nodes over child modules, now
/// QuantNN layers (QuantConv2d, QuantLinear, QuantReLU, inserted QuantIdentity requantizers),
/// whose values flow as `QuantValue`s, so a layer sees its input's scale (an `Int32Bias` needs
/// it) as in Brevitas.
///
/// Functional ops keep metadata where Brevitas's QuantTensor does: flatten/reshape/permute of a
/// per-tensor QuantTensor, max pooling, dropout and identity keep it; average pooling divides the
/// scale by the window; `add` and `cat` of QuantTensors need equal scales (eval mode) and give a
/// QuantTensor; anything else is computed on the dequantized values and gives a plain tensor.
///
/// ```swift
/// let q = try quantize(preprocessForQuantize(graph))
/// try calibrate(q, batches: calib)       // observe, then fix the activation scales
/// let y = try q.output(x)                  // the quantized model's output
/// print(try q.quantizationPoints(on: x))   // every quantizer with its key, scale, bit width
/// ```
public final class QuantGraphModule: GraphModule {
    /// The quantizers the passes created, keyed by the float graph's names.
    public internal(set) var points: [QuantPointSpec] = []
    /// `DisableLastReturnQuantTensor`: the graph's outputs are plain tensors.
    public var returnsPlainTensors = true

    /// Takes over `graph`'s nodes, children and tensors (the float graph must not be used again).
    public init(taking graph: GraphModule) {
        super.init(inputs: graph.inputNames, nodes: graph.nodes, outputs: graph.outputNames)
        for (name, m) in graph.children { registerModule(name, m) }
        for (name, t) in graph.localParameters { registerParameter(name, t) }
        for (name, t) in graph.localBuffers { registerBuffer(name, t, persistent: graph.isPersistentBuffer(name)) }
        train(graph.training)
    }

    public override var typeName: String { "GraphModule" }

    /// How the forward treats quantizers.
    enum Mode {
        /// Quantization as configured.
        case quantized
        /// `calibration_mode`: float values flow; activation quantizers observe them.
        case calibration
        /// `bias_correction_mode`: each compute layer's float-minus-quantized output mean is
        /// collected and its float output flows on.
        case biasCorrection(BiasCorrection)
    }

    /// What a forward saw at one module node: the module, its input and its output.
    typealias Recorder = (_ node: GraphNode, _ module: Module, _ input: QuantValue, _ output: QuantValue) -> Void

    /// Runs the graph on one value per input, returning the graph's outputs as values.
    public func forwardQuant(_ inputs: [QuantValue]) throws -> [QuantValue] {
        try run(inputs, mode: .quantized, record: nil)
    }

    /// The output of a one-input, one-output graph (plain when ``returnsPlainTensors``).
    public func output(_ x: Tensor) throws -> Tensor {
        precondition(inputNames.count == 1 && outputNames.count == 1,
                     "QuantGraphModule.output(_:): the graph has \(inputNames.count) inputs and \(outputNames.count) outputs; use forwardQuant(_:)")
        return try forwardQuant([.float(x)])[0].value
    }

    /// The dequantized output; a failing quantized forward (a misconfigured layer) stops with the
    /// layer's error. Use ``output(_:)`` to handle it.
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        do { return try output(x) } catch { preconditionFailure("QuantGraphModule: \(error)") }
    }

    /// The dequantized outputs for one tensor per input (``GraphModule/forward(_:)`` with the
    /// quantized layers); a failing quantized forward stops with the layer's error. Use
    /// ``forwardQuant(_:)`` to handle it.
    public override func forward(_ inputs: [Tensor]) -> [Tensor] {
        do { return try forwardQuant(inputs.map { .float($0) }).map(\.value) } catch {
            preconditionFailure("QuantGraphModule: \(error)")
        }
    }

    func run(_ inputs: [QuantValue], mode: Mode, record: Recorder?) throws -> [QuantValue] {
        precondition(inputs.count == inputNames.count,
                     "QuantGraphModule: expected \(inputNames.count) inputs (\(inputNames)), got \(inputs.count)")
        var values: [String: QuantValue] = [:]
        for (name, x) in zip(inputNames, inputs) { values[name] = x }
        for node in nodes {
            let args = node.inputs.map { values[$0]! }
            do {
                values[node.name] = try evaluate(node, args, mode: mode, record: record)
            } catch let e as GraphQuantError {
                throw e
            } catch {
                throw GraphQuantError.forward(node: node.name, message: "\(error)")
            }
        }
        return outputNames.map { name in
            let v = values[name]!
            return returnsPlainTensors ? .float(v.value) : v
        }
    }

    func evaluate(_ node: GraphNode, _ args: [QuantValue], mode: Mode, record: Recorder?) throws -> QuantValue {
        switch node.op {
        case .module(let path):
            guard let outer = module(at: path) else { preconditionFailure("QuantGraphModule: node '\(node.name)' calls '\(path)', which is not registered") }
            let (m, input, at) = Self.unwrapped(outer, args[0], path)
            let out: QuantValue
            if case .biasCorrection(let bc) = mode, let l = m as? QuantWeightBiasLayer {
                out = try bc.observe(l, at: at, input)
            } else {
                out = try apply(m, input, mode: mode)
            }
            record?(node, m, input, out)
            return out
        case .parameter(let key):
            guard let t = tensor(at: key) else { preconditionFailure("QuantGraphModule: node '\(node.name)' reads '\(key)', which is not registered") }
            return .float(t)
        case .add:
            if let a = args[0].quantTensor, let b = args[1].quantTensor { return .quant(try a + b) }
            return .float(args[0].value + args[1].value)
        case .concat(let axis):
            let qs = args.compactMap(\.quantTensor)
            if qs.count == args.count {
                let d = axis < 0 ? axis + qs[0].value.rank : axis
                return .quant(try QuantTensor.cat(qs, dim: d))
            }
            return .float(node.op.apply(args.map(\.value)))
        case .flatten, .reshape, .permute, .squeeze, .unsqueeze, .identity:
            if let q = args[0].quantTensor, q.scale.count == 1, q.zeroPoint.count == 1 {
                return .quant(q.with(value: node.op.apply([q.value])))
            }
            return .float(node.op.apply(args.map(\.value)))
        default:
            return .float(node.op.apply(args.map(\.value)))
        }
    }

    /// The layer a module node runs, its input and its path: an ``EqualizedModule``'s inner layer
    /// on the multiplied input (a plain tensor, as Brevitas's QuantTensor times a tensor is).
    static func unwrapped(_ m: Module, _ x: QuantValue, _ path: String) -> (Module, QuantValue, String) {
        guard let e = m as? EqualizedModule else { return (m, x, path) }
        return (e.layer, .float(e.scale(x.value)), path + ".layer")
    }

    /// One module on one value.
    func apply(_ m: Module, _ x: QuantValue, mode: Mode) throws -> QuantValue {
        if case .calibration = mode, let observed = CalibrationForward.apply(m, x) { return observed }
        switch m {
        case let l as QuantLayer:
            return try l.forward(x)
        case let p as MaxPool2d:
            if let q = x.quantTensor { return .quant(q.with(value: p(q.value))) }
            return .float(p(x.value))
        case let d as Dropout:
            if !d.training { return x }
            return .float(d(x.value))
        case is Identity:
            return x
        case let f as Flatten:
            if let q = x.quantTensor, q.scale.count == 1, q.zeroPoint.count == 1 { return .quant(q.with(value: f(q.value))) }
            return .float(f(x.value))
        case let p as AvgPool2d:
            if let q = x.quantTensor, q.scale.count == 1, p.padding.first == 0, p.padding.second == 0 {
                return .quant(q.avgPool2d(kernelSize: p.kernelSize.pair, stride: p.stride.pair))
            }
            return .float(p(x.value))
        case let l as any Layer:
            return .float(l(x.value))
        default:
            preconditionFailure("QuantGraphModule: \(m.typeName) is neither a Layer nor a QuantLayer")
        }
    }
}
