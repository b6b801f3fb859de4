import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// One direction of one layer of a `QuantRNN` (Brevitas `_QuantRNNLayer` with its
/// `_QuantRNNCell`). Per time step `t`:
/// `h_t = io_quant(act(gate_acc_quant(x_t·W_ihᵀ + h_{t−1}·W_hhᵀ + b)))`, `act` tanh or relu,
/// `h_0 = 0` (not quantized), or `io_quant(hx)` when an initial state is given. The input sequence is quantized once by `io_quant` unless this
/// layer only quantizes its output (deeper layers). Keys: `io_quant`, `cell.gate_acc_quant`,
/// `cell.output_quant` (= `io_quant`), `gate_params.{input_weight, hidden_weight, bias, bias_quant}`.
final class QuantRNNLayer: Module {
    let ioQuant: ActQuantProxy
    let gateAccQuant: ActQuantProxy
    let gateParams: GateParams
    let relu: Bool, reverse: Bool, batchFirst: Bool, quantizeOutputOnly: Bool, returnQuantTensor: Bool
    let hiddenSize: Int

    init(inputSize: Int, hiddenSize: Int, bias: Bool, batchFirst: Bool, relu: Bool, reverse: Bool, quantizeOutputOnly: Bool,
         returnQuantTensor: Bool, ioQuant: ActQuantProxy, gateAccQuant: ActQuant?, weightQuant: WeightQuant?, biasQuant: BiasQuant?,
         sharingInputWeightOf forward: QuantRNNLayer? = nil, generator: RandomGenerator, context: String) throws(QuantConfigError) {
        self.ioQuant = ioQuant
        self.gateAccQuant = try ActQuantProxy(config: gateAccQuant, activation: .identity, context: "\(context).cell.gate_acc_quant")
        gateParams = try GateParams(inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, weightQuant: weightQuant,
                                    biasQuant: biasQuant, sharedInput: forward?.gateParams, context: "\(context).gate_params")
        (self.relu, self.reverse, self.batchFirst) = (relu, reverse, batchFirst)
        (self.quantizeOutputOnly, self.returnQuantTensor, self.hiddenSize) = (quantizeOutputOnly, returnQuantTensor, hiddenSize)
        super.init()
        // Brevitas registers the cell before `io_quant`, so a module walk meets the shared io
        // quantizer first as `cell.output_quant` (the name its intermediates are recorded under).
        let cell = Module()
        cell.registerModule("gate_acc_quant", self.gateAccQuant)
        cell.registerModule("output_quant", ioQuant)
        registerModule("cell", cell)
        registerModule("io_quant", ioQuant)
        registerModule("gate_params", gateParams)
        // Brevitas `reset_parameters`: every parameter whose name contains "gate", including the
        // learned scale of gate_acc_quant, uniform in ±1/sqrt(hidden).
        let stdv = 1 / Float(hiddenSize).squareRoot()
        gateParams.reset(stdv: stdv, generator: generator)
        for (name, p) in self.gateAccQuant.namedParameters() where name.hasSuffix("value") {
            p.assign(generator.uniform(p.shape, low: -stdv, high: stdv))
        }
    }

    override var typeName: String { "_QuantRNNLayer" }

    /// Runs the sequence from `h0` (`[N, hidden]`, quantized by `io_quant`; zeros when `nil`);
    /// returns the output sequence and the last hidden state `[1, N, hidden]`.
    func forward(_ input: QuantValue, h0: Tensor? = nil, layer: String) throws -> (QuantValue, QuantValue) {
        let qi = quantizeOutputOnly ? input : ioQuant(input)
        let (wih, whh, b) = try { let q = try gateParams.quantized(input: qi, layer: layer); return (q.ih, q.hh, q.bias) }()
        let xs = Recurrent.unbind(qi.value, batchFirst: batchFirst)
        var h = h0.map { ioQuant(.float($0)).value } ?? Tensor.zeros([qi.value.shape[batchFirst ? 0 : 1], hiddenSize])
        var outs: [QuantValue] = []
        for t in (reverse ? Array(xs.indices.reversed()) : Array(xs.indices)) {
            var pre = Tensor.linear(xs[t], weight: wih) + Tensor.linear(h, weight: whh)
            if let b { pre = pre + b }
            // Per-step quantizers run as Brevitas's `_fast_cell` runs them: the fused quantizer
            // without its proxy, so observers see only the input, weight and bias quantizers.
            let acc = gateAccQuant.quantize(.float(pre)).value
            let o = ioQuant.quantize(.float(relu ? acc.relu() : acc.tanh()))
            outs.append(o)
            h = o.value
        }
        let rqt = returnQuantTensor && ioQuant.isQuantEnabled
        let out = try Recurrent.packOutputs(outs, reverse: reverse, batchFirst: batchFirst, quantTensor: rqt, layer: layer)
        let last = outs.last.map { Recurrent.step($0, unsqueezeAt: 0, quantTensor: rqt) } ?? .float(h.unsqueeze(0))
        return (out, last)
    }
}

/// A quantized Elman RNN (Brevitas `QuantRNN`): `num_layers` layers of `QuantRNNLayer`, each
/// with a reverse direction when `bidirectional` (its outputs concatenated on the last axis).
/// Defaults: `Int8WeightPerTensorFloat` weights, `Int32Bias`, `Int8ActPerTensorFloat` for
/// `io_quant` (shared by every layer and direction) and each layer's `gate_acc_quant`.
///
/// ```swift
/// let rnn = try QuantRNN(inputSize: 4, hiddenSize: 6)
/// let r = try rnn(.float(x))   // x [T, N, 4] -> r.output [T, N, 6], r.hidden [1, N, 6]
/// ```
public final class QuantRNN: Module {
    public let inputSize: Int, hiddenSize: Int, numLayers: Int, bidirectional: Bool, batchFirst: Bool
    public let returnQuantTensor: Bool
    let layers: [[QuantRNNLayer]]

    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: String = "tanh", bias: Bool = true,
                batchFirst: Bool = false, bidirectional: Bool = false, weightQuant: WeightQuant? = .int8WeightPerTensorFloat,
                biasQuant: BiasQuant? = .int32Bias, ioQuant: ActQuant? = .int8ActPerTensorFloat,
                gateAccQuant: ActQuant? = .int8ActPerTensorFloat, sharedInputHiddenWeights: Bool = false,
                returnQuantTensor: Bool = false, generator: RandomGenerator = .global) throws(QuantConfigError) {
        var problems: [QuantConfigError.Problem] = []
        if sharedInputHiddenWeights && !bidirectional { problems.append(.init(key: "shared_input_hidden_weights", message: "Shared input-hidden weights requires bidirectional=True.")) }
        if nonlinearity != "tanh" && nonlinearity != "relu" { problems.append(.init(key: "nonlinearity", message: "'\(nonlinearity)' not supported; use 'tanh' or 'relu'")) }
        if inputSize < 1 || hiddenSize < 1 { problems.append(.init(key: "hidden_size", message: "input_size \(inputSize) and hidden_size \(hiddenSize) must be >= 1")) }
        if numLayers < 1 { problems.append(.init(key: "num_layers", message: "must be >= 1, got \(numLayers)")) }
        if returnQuantTensor && ioQuant == nil { problems.append(.init(key: "return_quant_tensor", message: "return_quant_tensor=True requires io_quant != None")) }
        if !problems.isEmpty { throw QuantConfigError(context: "QuantRNN", problems: problems) }
        (self.inputSize, self.hiddenSize, self.numLayers) = (inputSize, hiddenSize, numLayers)
        (self.bidirectional, self.batchFirst, self.returnQuantTensor) = (bidirectional, batchFirst, returnQuantTensor)
        let io = try ActQuantProxy(config: ioQuant, activation: .identity, context: "QuantRNN.io_quant")
        var layers: [[QuantRNNLayer]] = []
        for l in 0..<numLayers {
            let size = l == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            var dirs: [QuantRNNLayer] = []
            for reverse in bidirectional ? [false, true] : [false] {
                // With shared_input_hidden_weights the reverse direction takes the forward one's
                // input weight (Brevitas `weights_to_share`).
                dirs.append(try QuantRNNLayer(inputSize: size, hiddenSize: hiddenSize, bias: bias, batchFirst: batchFirst, relu: nonlinearity == "relu",
                                              reverse: reverse, quantizeOutputOnly: l > 0, returnQuantTensor: returnQuantTensor || l < numLayers - 1,
                                              ioQuant: io, gateAccQuant: gateAccQuant, weightQuant: weightQuant, biasQuant: biasQuant,
                                              sharingInputWeightOf: reverse && sharedInputHiddenWeights ? dirs.first : nil,
                                              generator: generator, context: "QuantRNN.layers.\(l).\(reverse ? 1 : 0)"))
            }
            layers.append(dirs)
        }
        self.layers = layers
        super.init()
        let list = Module()
        for (l, dirs) in layers.enumerated() {
            let d = Module()
            for (i, m) in dirs.enumerated() { d.registerModule("\(i)", m) }
            list.registerModule("\(l)", d)
        }
        registerModule("layers", list)
    }

    public override var typeName: String { "QuantRNN" }

    /// Runs the sequence (`[T, N, in]`, or `[N, T, in]` with `batchFirst`) from the initial
    /// state `hx` (Brevitas `forward(inp, hx=None)`): `[S, N, hidden]`, layer `l` direction `d`
    /// starting from `io_quant(hx[2·l + d])`; `nil`: zeros.
    public func callAsFunction(_ input: QuantValue, hx: Tensor?) throws -> RecurrentOutput {
        guard input.value.rank == 3, input.value.shape[2] == inputSize else {
            throw QuantLayerError.missingQuantInput(layer: "QuantRNN", reason: "input must be \(batchFirst ? "[N, T, \(inputSize)]" : "[T, N, \(inputSize)]"), got \(input.value.shape)")
        }
        let n = input.value.shape[batchFirst ? 0 : 1]
        return try Recurrent.runStack(layers.map { $0.map { l in { (x: QuantValue, i: Int) throws -> (QuantValue, QuantValue, QuantValue?) in
            let h0 = try Recurrent.initialState(hx, index: i, batch: n, hidden: self.hiddenSize, name: "hx", layer: "QuantRNN")
            let (o, h) = try l.forward(x, h0: h0, layer: "QuantRNN"); return (o, h, nil) } } }, input: input, layer: "QuantRNN")
    }

    /// Runs the sequence from zero states.
    public func callAsFunction(_ input: QuantValue) throws -> RecurrentOutput { try self(input, hx: nil) }

    /// `states`: `[]` or `[hx]` (the positional arguments after the input).
    public func callAsFunction(_ input: QuantValue, states: [Tensor]) throws -> RecurrentOutput {
        guard states.count <= 1 else {
            throw QuantLayerError.missingQuantInput(layer: "QuantRNN", reason: "takes at most one initial state (hx), got \(states.count)")
        }
        return try self(input, hx: states.first)
    }
}

extension Recurrent {
    /// Brevitas `QuantRecurrentStackBase.forward`: directions of a layer concatenated on the last
    /// axis, states of all layers and directions concatenated on axis 0. Each direction runs
    /// with the index `2·l + d` of its initial state (Brevitas's `hx[2 * l + d]`).
    static func runStack(_ layers: [[(QuantValue, Int) throws -> (QuantValue, QuantValue, QuantValue?)]], input: QuantValue, layer: String) throws -> RecurrentOutput {
        var x = input
        var hs: [QuantValue] = [], cs: [QuantValue] = []
        for (l, dirs) in layers.enumerated() {
            var outs: [QuantValue] = []
            for (d, run) in dirs.enumerated() {
                let (o, h, c) = try run(x, 2 * l + d)
                outs.append(o)
                hs.append(h)
                if let c { cs.append(c) }
            }
            x = outs.count > 1 ? try cat(outs, dim: -1, layer: layer) : outs[0]
        }
        let h = hs.count > 1 ? try cat(hs, dim: 0, layer: layer) : hs[0]
        let c = cs.isEmpty ? nil : (cs.count > 1 ? try cat(cs, dim: 0, layer: layer) : cs[0])
        return RecurrentOutput(output: x, hidden: h, cell: c)
    }

    /// The initial state `states[index]` (`[N, hidden]`) of one layer and direction, or `nil`
    /// without `states`. Brevitas indexes `hx[2·l + d]` whatever the number of directions, so a
    /// unidirectional stack of `L` layers needs `2·L − 1` states (layer `l` reads `hx[2·l]`);
    /// a bidirectional one PyTorch's `2·L`. Throws when `states` is not `[S, N, hidden]` or
    /// `index >= S`, naming the shapes.
    static func initialState(_ states: Tensor?, index: Int, batch: Int, hidden: Int, name: String, layer: String) throws -> Tensor? {
        guard let states else { return nil }
        guard states.rank == 3, states.shape[1] == batch, states.shape[2] == hidden else {
            throw QuantLayerError.missingQuantInput(layer: layer, reason: "\(name) must be [states, \(batch), \(hidden)] ([layers·directions, N, hidden_size]), got \(states.shape)")
        }
        guard index < states.shape[0] else {
            throw QuantLayerError.missingQuantInput(layer: layer, reason: "\(name) has \(states.shape[0]) states, but layer \(index / 2) direction \(index % 2) reads \(name)[\(index)] (Brevitas indexes \(name)[2·layer + direction])")
        }
        return states.narrow(dim: 0, start: index, length: 1).reshape([batch, hidden])
    }
}
