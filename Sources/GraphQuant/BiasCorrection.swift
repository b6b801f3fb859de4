import Graph
import NN
import QuantNN
import TensorEngine

/// Brevitas's `bias_correction_mode` (`brevitas/graph/calibrate.py: _BiasCorrection`) on a
/// quantized graph: for every quantized conv/linear L and every batch, L's usual (quantized)
/// output and its float output (the same input with L's input, weight and bias quantizers off)
/// give a per-output-channel error
///
///     e = mean(float) − mean(quant)        (each mean over batch and spatial positions)
///
/// and the **float** output goes on to the next layers, so errors do not accumulate. After the
/// last batch `bias += Σ e / batches`.
///
/// A layer without a bias gets one, `Σ e / batches` (Brevitas's `register_parameter('bias', ...)`,
/// `skip_if_no_bias=False`), quantized by the layer's bias quantizer from then on. Layers with an
/// output quantizer (Brevitas disables it for the stage) are reported as unsupported before
/// anything changes.
///
/// `floatWeights` gives the float weight of a layer whose stored weight is no longer its float
/// one (learned rounding stores the rounded weight; Brevitas keeps the float weight and rounds
/// inside the quantizer), keyed by the layer's `ObjectIdentifier`.
///
/// ```swift
/// try correctBias(q, batches: calibBC)
/// ```
public func correctBias(_ graph: QuantGraphModule, batches: [Tensor], floatWeights: [ObjectIdentifier: Tensor] = [:]) throws {
    for (path, m) in graph.namedModules() {
        guard let l = m as? QuantWeightBiasLayer else { continue }
        if l.outputQuant.isQuantEnabled {
            throw GraphQuantError.unsupported("bias correction of '\(path)', which has its own output quantizer")
        }
    }
    let wasTraining = graph.training
    graph.eval()
    let bc = BiasCorrection(floatWeights: floatWeights)
    for batch in batches {
        _ = try Autograd.noGrad { try graph.run([.float(batch)], mode: .biasCorrection(bc), record: nil) }
    }
    bc.apply(graph)
    graph.train(wasTraining)
}

/// The running sums of one bias-correction stage.
public final class BiasCorrection {
    var correction: [String: Tensor] = [:]
    var iterations: [String: Int] = [:]
    let floatWeights: [ObjectIdentifier: Tensor]

    init(floatWeights: [ObjectIdentifier: Tensor] = [:]) { self.floatWeights = floatWeights }

    /// Per-channel mean over every dimension but the channel one (`compute_mean`): channel dim 1
    /// (`[N, C, ...]`), or 2 for a 3-d linear input.
    static func channelMean(_ y: Tensor, linear: Bool) -> Tensor {
        let c = y.rank == 3 && linear ? 2 : 1
        let t = y.transpose(0, c).contiguous()
        return t.reshape([t.shape[0], -1]).mean(dims: [1], keepDim: false)
    }

    func observe(_ l: QuantWeightBiasLayer, at path: String, _ x: QuantValue) throws -> QuantValue {
        let quant = try l.forward(x).value
        let float = CalibrationForward.floatOutput(l, x.value, weight: floatWeights[ObjectIdentifier(l)])
        let linear = l is QuantLinear
        let e = Self.channelMean(float, linear: linear) - Self.channelMean(quant, linear: linear)
        correction[path] = correction[path].map { $0 + e } ?? e
        iterations[path, default: 0] += 1
        return .float(float)
    }

    func apply(_ graph: Module) {
        for (path, sum) in correction {
            guard let l = graph.module(at: path) as? QuantWeightBiasLayer, let n = iterations[path] else { continue }
            guard let bias = l.bias else {
                l.addBias(Autograd.noGrad { (sum / Float(n)).contiguous() })
                continue
            }
            Autograd.noGrad { bias.assign(bias + sum / Float(n)) }
        }
    }
}
