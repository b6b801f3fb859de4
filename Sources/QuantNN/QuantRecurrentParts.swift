import NN
import QuantCore
import Quantizers
import TensorEngine

/// One recurrent weight (Brevitas `GateWeight`): parameter `weight` `[hidden, in]` and its
/// `weight_quant`, which the input and hidden weights of a gate share.
public final class GateWeight: Module {
    public let weight: Tensor
    public let weightQuant: WeightQuantProxy

    init(_ weight: Tensor, quant: WeightQuantProxy) {
        self.weight = weight
        weightQuant = quant
        super.init()
        registerParameter("weight", weight)
        registerModule("weight_quant", quant)
    }

    public override var typeName: String { "GateWeight" }
}

/// A gate's parameters (Brevitas `GateParams`): `input_weight` `[hidden, in]`, `hidden_weight`
/// `[hidden, hidden]` sharing one weight quantizer, `bias` `[hidden]` and `bias_quant`.
///
/// The shared per-tensor quantizer takes its scale over both weights (Brevitas tracks both
/// parameters: `max(max|W_ih|, max|W_hh|) / (2^(b−1) − 1)`); both are quantized as one tensor.
final class GateParams: Module {
    let inputWeight: GateWeight, hiddenWeight: GateWeight
    let bias: Tensor?
    let biasQuant: BiasQuantProxy
    /// The weights the shared quantizer tracks, in Brevitas's order (its statistics run over all
    /// of them): `[W_ih, W_hh]`, plus the reverse direction's `W_hh` when it shares `W_ih`.
    let tracked: TrackedWeights

    /// The weights tracked by one shared weight quantizer (a reference shared by the gate
    /// parameters of both directions under `shared_input_hidden_weights`).
    final class TrackedWeights {
        var weights: [Tensor]
        init(_ weights: [Tensor]) { self.weights = weights }
    }

    /// - Parameter sharedInput: with `shared_input_hidden_weights`, the reverse direction takes the
    ///   forward gate's `input_weight` (the same module and parameter) and builds its
    ///   `hidden_weight` on the same quantizer, which then tracks three weights.
    /// - Parameter sharedQuant: with `shared_intra_layer_weight_quant`, the gate parameters whose
    ///   weight quantizer this gate's two new weights use (the input gate's).
    init(inputSize: Int, hiddenSize: Int, bias: Bool, weightQuant: WeightQuant?, biasQuant: BiasQuant?,
         sharedInput: GateParams? = nil, sharedQuant: GateParams? = nil, context: String) throws(QuantConfigError) {
        if let weightQuant, weightQuant.accumulatorAware != nil {
            throw QuantConfigError(context: context, problems: [.init(key: "weight_quant", message: "recurrent layers do not support accumulator-aware weight quantizers, got \(weightQuant.preset)")])
        }
        if let shared = sharedInput {
            inputWeight = shared.inputWeight
            hiddenWeight = GateWeight(Tensor.zeros([hiddenSize, hiddenSize]), quant: shared.inputWeight.weightQuant)
            tracked = shared.tracked
            tracked.weights.append(hiddenWeight.weight)
        } else if let owner = sharedQuant {
            // `shared_intra_layer_weight_quant`: this gate's weights join the input gate's
            // quantizer, whose statistics then run over every gate's weights.
            let proxy = owner.inputWeight.weightQuant
            inputWeight = GateWeight(Tensor.zeros([hiddenSize, inputSize]), quant: proxy)
            hiddenWeight = GateWeight(Tensor.zeros([hiddenSize, hiddenSize]), quant: proxy)
            tracked = owner.tracked
            tracked.weights += [inputWeight.weight, hiddenWeight.weight]
        } else {
            let proxy = try WeightQuantProxy(config: weightQuant, weightShape: [hiddenSize, inputSize + hiddenSize], context: "\(context).weight_quant")
            inputWeight = GateWeight(Tensor.zeros([hiddenSize, inputSize]), quant: proxy)
            hiddenWeight = GateWeight(Tensor.zeros([hiddenSize, hiddenSize]), quant: proxy)
            tracked = TrackedWeights([inputWeight.weight, hiddenWeight.weight])
        }
        self.bias = bias ? Tensor.zeros([hiddenSize]) : nil
        self.biasQuant = try BiasQuantProxy(config: biasQuant, hasBias: bias, context: "\(context).bias_quant")
        super.init()
        if let b = self.bias { registerParameter("bias", b) }
        registerModule("bias_quant", self.biasQuant)
        registerModule("input_weight", inputWeight)
        registerModule("hidden_weight", hiddenWeight)
    }

    override var typeName: String { "GateParams" }

    /// The quantized input and hidden weights (one scale over both) and the quantized bias for
    /// the layer input `input` (Brevitas `gate_params_fwd`).
    func quantized(input: QuantValue, layer: String) throws -> (ih: Tensor, hh: Tensor, bias: Tensor?, weight: QuantValue) {
        let wih = inputWeight.weight, whh = hiddenWeight.weight
        // `[hidden, in + hidden]`: Brevitas's `_ParameterListStats` concatenates the views of the
        // tracked weights (per output channel: rows `[C, N]` side by side), so a per-channel scale
        // is the statistic of each row over both weights, a per-tensor one over everything.
        let both = Tensor.cat(tracked.weights, dim: 1)
        // One quantizer call over both weights; observers see the two quantized weights, as
        // Brevitas calls the shared quantizer once per weight.
        let proxy = inputWeight.weightQuant
        let q: QuantValue = proxy.tensorQuant.map { tq in
            let o = tq(both)
            return .quant(QuantTensor(value: o.value, scale: o.scale, zeroPoint: o.zeroPoint, bitWidth: o.bitWidth, signed: tq.isSigned, training: proxy.training))
        } ?? .float(both)
        func columns(_ w: Tensor) -> Tensor {
            guard let i = tracked.weights.firstIndex(where: { $0 === w }) else {
                preconditionFailure("GateParams: weight \(w.shape) is not tracked by its quantizer")
            }
            let start = tracked.weights[..<i].reduce(0) { $0 + $1.shape[1] }
            return q.value.narrow(dim: 1, start: start, length: w.shape[1])
        }
        let ih = columns(wih), hh = columns(whh)
        let qih: QuantValue = q.quantTensor.map { .quant($0.with(value: ih)) } ?? .float(ih)
        if proxy.isQuantEnabled {
            _ = proxy.observed(qih)
            _ = proxy.observed(q.quantTensor.map { .quant($0.with(value: hh)) } ?? .float(hh))
        }
        let qb = try bias.map { try biasQuant($0, input: input, weight: qih, layer: layer) }
        return (ih, hh, qb?.value, qih)
    }

    /// Brevitas `reset_parameters`: every parameter uniform in ±1/sqrt(hidden).
    func reset(stdv: Float, generator: RandomGenerator) {
        for t in [inputWeight.weight, hiddenWeight.weight] + (bias.map { [$0] } ?? []) {
            t.assign(generator.uniform(t.shape, low: -stdv, high: stdv))
        }
    }
}

/// What a quantized recurrent layer returns: the output sequence, the last hidden state of
/// every layer and direction (`h_n`, `[layers·directions, N, hidden]`) and, for an LSTM, the
/// last cell states (`c_n`).
public struct RecurrentOutput {
    public var output: QuantValue
    public var hidden: QuantValue
    public var cell: QuantValue?
}

/// Shared plumbing of the recurrent layers (Brevitas `QuantRecurrentLayerMixin` and
/// `QuantRecurrentStackBase`).
enum Recurrent {
    /// A step's quantized value as a QuantValue with metadata, or plain.
    static func step(_ v: QuantValue, unsqueezeAt dim: Int, quantTensor: Bool) -> QuantValue {
        if quantTensor, let q = v.quantTensor { return .quant(q.with(value: q.value.unsqueeze(dim))) }
        return .float(v.value.unsqueeze(dim))
    }

    /// Concatenates QuantValues (QuantTensor algebra when all are QuantTensors).
    static func cat(_ vs: [QuantValue], dim: Int, layer: String) throws -> QuantValue {
        let qs = vs.compactMap(\.quantTensor)
        if qs.count == vs.count {
            do { return .quant(try QuantTensor.cat(qs, dim: dim)) } catch let e as QuantTensorError {
                throw QuantLayerError.quantTensor(layer: layer, e)
            }
        }
        return .float(Tensor.cat(vs.map(\.value), dim: dim))
    }

    /// The per-step outputs in sequence order, concatenated along the sequence axis.
    static func packOutputs(_ steps: [QuantValue], reverse: Bool, batchFirst: Bool, quantTensor: Bool, layer: String) throws -> QuantValue {
        let seqDim = batchFirst ? 1 : 0
        let ordered = reverse ? Array(steps.reversed()) : steps
        return try cat(ordered.map { step($0, unsqueezeAt: seqDim, quantTensor: quantTensor) }, dim: seqDim, layer: layer)
    }

    /// The sequence's time steps (`unbind` along the sequence axis).
    static func unbind(_ x: Tensor, batchFirst: Bool) -> [Tensor] {
        let d = batchFirst ? 1 : 0
        return (0..<x.shape[d]).map { t in
            let s = x.narrow(dim: d, start: t, length: 1)
            var shape = x.shape
            shape.remove(at: d)
            return s.reshape(shape)
        }
    }
}

/// State-dict key names of Brevitas's recurrent layers.
public enum RecurrentStateKeys {
    /// Brevitas builds a `_fast_cell` on a layer's first forward whose entries are the cell's
    /// quantizers without their proxy wrapper, so after that a recorded state names them by the
    /// shorter paths `…_fast_cell.X.tensor_quant.…`. Maps such a key to this port's path
    /// (`…cell.X.fused_activation_quant_proxy.tensor_quant.…`; `output_quant` is the layer's
    /// `io_quant`); other keys are returned unchanged.
    public static func canonical(_ key: String) -> String {
        guard let r = key.range(of: "._fast_cell.") else { return key }
        let prefix = key[..<r.lowerBound], rest = key[r.upperBound...]
        guard let dot = rest.firstIndex(of: ".") else { return key }
        let name = rest[..<dot], tail = rest[rest.index(after: dot)...]
        guard tail.hasPrefix("tensor_quant") else { return key }
        let owner = name == "output_quant" ? "io_quant" : "cell.\(name)"
        return "\(prefix).\(owner).fused_activation_quant_proxy.\(tail)"
    }
}
