import Graph
import NN
import QuantCore
import QuantNN
import TensorEngine

/// Brevitas's `calibration_mode` (`brevitas/graph/calibrate.py`) on a quantized graph:
///
/// - while the batches run, weight and bias quantization are off (float weights and biases),
///   every activation quantizer runs in training mode on the float value to collect its
///   statistic, and passes the float value on (the network computes in float);
/// - each statistics-based scale (`ParameterFromRuntimeStatsScaling`) collects for as many
///   batches as there are (`collect_stats_steps` unbounded) with a **true running mean**: call 1
///   sets the buffer to the statistic, call k does `buffer = buffer·((k−1)/k) + stat/k`;
///   a scaling module shared by several quantizers (a residual add's) collects from every call,
///   in graph order;
/// - at the end every such scale is initialised from its buffer (`init_scale`): from then on
///   `scale = buffer / threshold`, in eval and training alike.
///
/// Learned-range quantizers (`ParameterScaling`, e.g. a kept ReLU6's `Uint8ActPerTensorFloatMaxInit`)
/// are not changed. Brevitas 0.13.4 leaves a quantizer shared by several proxies in
/// observer-only mode after calibration (README-ptq "Reference defect"); this port quantizes it.
///
/// ```swift
/// try calibrate(q, batches: [x0, x1, x2])
/// ```
/// - Parameter progress: called after each batch with (done, total).
public func calibrate(_ graph: QuantGraphModule, batches: [Tensor], progress: ((Int, Int) -> Void)? = nil) throws {
    try calibrate(graph, batchCount: batches.count, batch: { batches[$0] }, progress: progress)
}

/// ``calibrate(_:batches:progress:)`` streaming: batch `k` (0-based) is asked for when it is
/// used, so only one batch and its activations are held at a time. An error thrown by `batch`
/// (a failed read, an interrupt) stops the calibration with the scales still collecting.
public func calibrate(_ graph: QuantGraphModule, batchCount: Int, batch: (Int) throws -> Tensor,
                      progress: ((Int, Int) -> Void)? = nil) throws {
    let wasTraining = graph.training
    graph.eval()
    let scalings = activationStatsScalings(graph)
    for s in scalings {
        s.collectStatsSteps = Int.max - 1
        s.momentum = nil
    }
    for k in 0..<batchCount {
        let x = try batch(k)
        try Autograd.noGrad {
            _ = try graph.run([.float(x)], mode: .calibration, record: nil)
        }
        progress?(k + 1, batchCount)
    }
    for s in scalings { s.finishCollection() }
    graph.train(wasTraining)
}

/// The statistics-based scaling modules of the graph's activation quantizers (inside an
/// `ActQuantProxy`), each once, in module order.
func activationStatsScalings(_ graph: Module) -> [ParameterFromRuntimeStatsScaling] {
    var seen = Set<ObjectIdentifier>()
    var out: [ParameterFromRuntimeStatsScaling] = []
    for (_, m) in graph.namedModules() {
        guard let proxy = m as? ActQuantProxy, let tq = proxy.tensorQuant else { continue }
        for (_, inner) in tq.namedModules() {
            if let s = inner as? ParameterFromRuntimeStatsScaling, seen.insert(ObjectIdentifier(s)).inserted { out.append(s) }
        }
    }
    return out
}

/// The calibration forward of one module (`nil`: evaluate it normally, on float values).
enum CalibrationForward {
    static func apply(_ m: Module, _ x: QuantValue) -> QuantValue? {
        switch m {
        case let l as QuantActivationLayer:
            var v = x.value
            observe(l.inputQuant, v)
            v = floatActivation(l.actQuant.activation, v)
            observe(l.actQuant, v)
            return .float(v)
        case let l as QuantWeightBiasLayer:
            let v = x.value
            observe(l.inputQuant, v)
            let out = floatOutput(l, v)
            observe(l.outputQuant, out)
            return .float(out)
        default:
            return nil
        }
    }

    /// A compute layer's output with every quantizer off: float weight (`weight`, else the
    /// layer's own) and bias on `v`.
    static func floatOutput(_ l: QuantWeightBiasLayer, _ v: Tensor, weight: Tensor? = nil) -> Tensor {
        switch l {
        case let c as QuantConv2d:
            return Tensor.conv2d(v, weight: weight ?? c.weight, bias: c.bias, stride: c.stride.pair, padding: c.padding.pair,
                                 dilation: c.dilation.pair, groups: c.groups)
        case let c as QuantConv1d:
            return Tensor.conv1d(v, weight: weight ?? c.weight, bias: c.bias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        case let f as QuantLinear:
            return Tensor.linear(v, weight: weight ?? f.weight, bias: f.bias)
        default:
            preconditionFailure("GraphQuant: \(l.typeName) has no float forward here (QuantConv1d, QuantConv2d, QuantLinear)")
        }
    }

    /// Runs an enabled activation quantizer in training mode on `v` for its statistics.
    static func observe(_ proxy: ActQuantProxy, _ v: Tensor) {
        guard let tq = proxy.tensorQuant else { return }
        tq.train(true)
        _ = tq(v)
        tq.train(false)
    }

    static func floatActivation(_ a: ActivationImpl, _ x: Tensor) -> Tensor {
        switch a {
        case .identity: return x
        case .relu: return x.relu()
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .hardtanh(let lo, let hi): return x.hardtanh(min: lo, max: hi)
        }
    }
}

/// A compute layer's output with every quantizer off (Brevitas's layer under
/// `disable_quant`): `weight` (default the layer's own float weight) and the float bias on `v`.
/// QuantConv1d, QuantConv2d and QuantLinear; another layer is a programmer error.
public func floatLayerOutput(_ l: QuantWeightBiasLayer, _ v: Tensor, weight: Tensor? = nil) -> Tensor {
    CalibrationForward.floatOutput(l, v, weight: weight)
}
