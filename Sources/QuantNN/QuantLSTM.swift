import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// One direction of one layer of a `QuantLSTM` (Brevitas `_QuantLSTMLayer`,
/// `_QuantLSTMCell.forward_iter`). Gates in the order input, forget, cell, output, each with
/// its own `X_gate_params` and accumulator quantizer `cell.X_acc_quant`:
/// ```
/// i = σ_i(acc_i(x·W_iiᵀ + h·W_hiᵀ + b_i))      f = σ_f(acc_f(…))
/// g = tanh_g(acc_g(…))                           o = σ_o(acc_o(…))
/// c' = cs(cs(f·c) + cs(i·g))                     h' = io(o · tanh_h(c'))
/// ```
/// `σ_*` are sigmoid quantizers (default `Uint8ActPerTensorFloat`), `tanh_*` tanh quantizers
/// (`Int8ActPerTensorFloat`), `cs` the cell-state quantizer (applied three times), `io` the
/// output quantizer; `h_0 = c_0 = 0` unless initial states are given (then
/// `h_0 = io(hx)`, `c_0 = cs(cx)`). The io and cell-state quantizers are shared by every layer
/// and direction.
final class QuantLSTMLayer: Module {
    static let gates = ["input", "forget", "cell", "output"]
    let ioQuant: ActQuantProxy, cellStateQuant: ActQuantProxy
    let accQuant: [ActQuantProxy]
    let inputSigmoid: ActQuantProxy, forgetSigmoid: ActQuantProxy, cellTanh: ActQuantProxy, outputSigmoid: ActQuantProxy
    let hiddenTanh: ActQuantProxy
    let gateParams: [GateParams]
    let reverse: Bool, batchFirst: Bool, quantizeOutputOnly: Bool, returnQuantTensor: Bool
    let hiddenSize: Int

    struct Quantizers {
        var weight: WeightQuant?, bias: BiasQuant?, gateAcc: ActQuant?, sigmoid: ActQuant?, tanh: ActQuant?
        /// `shared_intra_layer_weight_quant`: one weight quantizer for the four gates.
        var sharedIntraLayerWeightQuant = false
        /// `shared_intra_layer_gate_acc_quant`: one accumulator quantizer for the four gates.
        var sharedIntraLayerGateAccQuant = false
    }

    init(inputSize: Int, hiddenSize: Int, bias: Bool, batchFirst: Bool, reverse: Bool, quantizeOutputOnly: Bool,
         returnQuantTensor: Bool, ioQuant: ActQuantProxy, cellStateQuant: ActQuantProxy, quantizers q: Quantizers,
         sharingInputWeightsOf forward: QuantLSTMLayer? = nil, generator: RandomGenerator, context: String) throws(QuantConfigError) {
        self.ioQuant = ioQuant
        self.cellStateQuant = cellStateQuant
        if q.sharedIntraLayerGateAccQuant {
            // Brevitas: forget/cell/output_acc_quant = input_acc_quant (one module, one set of stats).
            let shared = try ActQuantProxy(config: q.gateAcc, activation: .identity, context: "\(context).cell.input_acc_quant")
            accQuant = [ActQuantProxy](repeating: shared, count: Self.gates.count)
        } else {
            accQuant = try Self.gates.map { (g) throws(QuantConfigError) in
                try ActQuantProxy(config: q.gateAcc, activation: .identity, context: "\(context).cell.\(g)_acc_quant")
            }
        }
        inputSigmoid = try ActQuantProxy(config: q.sigmoid, activation: .sigmoid, context: "\(context).cell.input_sigmoid_quant")
        forgetSigmoid = try ActQuantProxy(config: q.sigmoid, activation: .sigmoid, context: "\(context).cell.forget_sigmoid_quant")
        cellTanh = try ActQuantProxy(config: q.tanh, activation: .tanh, context: "\(context).cell.cell_tanh_quant")
        outputSigmoid = try ActQuantProxy(config: q.sigmoid, activation: .sigmoid, context: "\(context).cell.output_sigmoid_quant")
        hiddenTanh = try ActQuantProxy(config: q.tanh, activation: .tanh, context: "\(context).cell.hidden_state_tanh_quant")
        // Shared input weights (reverse direction): Brevitas 0.13.4 hands the forward forget
        // gate's input weight to the reverse input gate and the forward input gate's to the
        // reverse forget gate (`input_gate_params = GateParams(..., input_forget_weight)`), cell
        // and output gates keep their own; reproduced as is.
        let sharedFrom = [1, 0, 2, 3]
        var params: [GateParams] = []
        for k in Self.gates.indices {
            params.append(try GateParams(inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, weightQuant: q.weight, biasQuant: q.bias,
                                         sharedInput: forward?.gateParams[sharedFrom[k]],
                                         sharedQuant: forward == nil && q.sharedIntraLayerWeightQuant && k > 0 ? params[0] : nil,
                                         context: "\(context).\(Self.gates[k])_gate_params"))
        }
        gateParams = params
        (self.reverse, self.batchFirst, self.quantizeOutputOnly) = (reverse, batchFirst, quantizeOutputOnly)
        (self.returnQuantTensor, self.hiddenSize) = (returnQuantTensor, hiddenSize)
        super.init()
        let cell = Module()
        cell.registerModule("output_quant", ioQuant)
        cell.registerModule("cell_state_quant", cellStateQuant)
        for (g, m) in zip(Self.gates, accQuant) { cell.registerModule("\(g)_acc_quant", m) }
        cell.registerModule("input_sigmoid_quant", inputSigmoid)
        cell.registerModule("forget_sigmoid_quant", forgetSigmoid)
        cell.registerModule("cell_tanh_quant", cellTanh)
        cell.registerModule("output_sigmoid_quant", outputSigmoid)
        cell.registerModule("hidden_state_tanh_quant", hiddenTanh)
        // The cell first, then `io_quant` (Brevitas's order: its intermediates name the shared
        // io quantizer `cell.output_quant`).
        registerModule("cell", cell)
        registerModule("io_quant", ioQuant)
        let stdv = 1 / Float(hiddenSize).squareRoot()
        for (g, p) in zip(Self.gates, gateParams) {
            registerModule("\(g)_gate_params", p)
            p.reset(stdv: stdv, generator: generator)
        }
    }

    override var typeName: String { "_QuantLSTMLayer" }

    /// Runs the sequence from the initial states `h0`, `c0` (`[N, hidden]`; zeros when `nil`,
    /// else quantized by `io_quant` and the cell-state quantizer, Brevitas's
    /// `maybe_quantize_state`); returns the output sequence and the last hidden and cell states
    /// (`[1, N, hidden]` each).
    func forward(_ input: QuantValue, h0: Tensor? = nil, c0: Tensor? = nil, layer: String) throws -> (QuantValue, QuantValue, QuantValue) {
        let qi = quantizeOutputOnly ? input : ioQuant(input)
        // Brevitas quantizes the gate weights in the order input, cell, output, forget
        // (`_QuantLSTMLayer.forward`); a quantizer shared between gates
        // (`shared_intra_layer_weight_quant`) sees them in that order.
        var byGate: [Int: (ih: Tensor, hh: Tensor, bias: Tensor?, weight: QuantValue)] = [:]
        for k in [0, 2, 3, 1] { byGate[k] = try gateParams[k].quantized(input: qi, layer: layer) }
        let w = gateParams.indices.map { byGate[$0]! }
        let xs = Recurrent.unbind(qi.value, batchFirst: batchFirst)
        let n = qi.value.shape[batchFirst ? 0 : 1]
        var h = h0.map { ioQuant(.float($0)).value } ?? Tensor.zeros([n, hiddenSize])
        var c = c0.map { cellStateQuant(.float($0)).value } ?? Tensor.zeros([n, hiddenSize])
        var outs: [QuantValue] = []
        var lastC: QuantValue = .float(c)
        func gate(_ k: Int, _ x: Tensor) -> Tensor {
            var pre = Tensor.linear(x, weight: w[k].ih) + Tensor.linear(h, weight: w[k].hh)
            if let b = w[k].bias { pre = pre + b }
            return accQuant[k].quantize(.float(pre)).value
        }
        // Per-step quantizers run as Brevitas's `_fast_cell` runs them: the fused quantizers
        // without their proxies, so observers see only the input, weight and bias quantizers.
        for t in (reverse ? Array(xs.indices.reversed()) : Array(xs.indices)) {
            let x = xs[t]
            let i = inputSigmoid.quantize(.float(gate(0, x))).value
            let f = forgetSigmoid.quantize(.float(gate(1, x))).value
            let g = cellTanh.quantize(.float(gate(2, x))).value
            let o = outputSigmoid.quantize(.float(gate(3, x))).value
            let fc = cellStateQuant.quantize(.float(f * c)).value
            let ig = cellStateQuant.quantize(.float(i * g)).value
            lastC = cellStateQuant.quantize(.float(fc + ig))
            c = lastC.value
            let out = ioQuant.quantize(.float(o * hiddenTanh.quantize(.float(c)).value))
            outs.append(out)
            h = out.value
        }
        let rqt = returnQuantTensor && ioQuant.isQuantEnabled
        let out = try Recurrent.packOutputs(outs, reverse: reverse, batchFirst: batchFirst, quantTensor: rqt, layer: layer)
        let lastH = outs.last.map { Recurrent.step($0, unsqueezeAt: 0, quantTensor: rqt) } ?? .float(h.unsqueeze(0))
        let cellRqt = returnQuantTensor && cellStateQuant.isQuantEnabled
        return (out, lastH, Recurrent.step(lastC, unsqueezeAt: 0, quantTensor: cellRqt))
    }
}

/// A quantized LSTM (Brevitas `QuantLSTM`): `num_layers` layers of `QuantLSTMLayer`, with a
/// reverse direction when `bidirectional`. Returns the output sequence, `h_n` and `c_n`.
///
/// ```swift
/// let lstm = try QuantLSTM(inputSize: 4, hiddenSize: 5)
/// let r = try lstm(.float(x))   // x [T, N, 4] -> output [T, N, 5], hidden/cell [1, N, 5]
/// ```
public final class QuantLSTM: Module {
    public let inputSize: Int, hiddenSize: Int, numLayers: Int, bidirectional: Bool, batchFirst: Bool
    public let returnQuantTensor: Bool
    let layers: [[QuantLSTMLayer]]

    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                bidirectional: Bool = false, weightQuant: WeightQuant? = .int8WeightPerTensorFloat,
                biasQuant: BiasQuant? = .int32Bias, ioQuant: ActQuant? = .int8ActPerTensorFloat,
                gateAccQuant: ActQuant? = .int8ActPerTensorFloat, sigmoidQuant: ActQuant? = .uint8ActPerTensorFloat,
                tanhQuant: ActQuant? = .int8ActPerTensorFloat, cellStateQuant: ActQuant? = .int8ActPerTensorFloat,
                sharedInputHiddenWeights: Bool = false, sharedIntraLayerWeightQuant: Bool = false,
                sharedIntraLayerGateAccQuant: Bool = false, returnQuantTensor: Bool = false,
                generator: RandomGenerator = .global) throws(QuantConfigError) {
        var problems: [QuantConfigError.Problem] = []
        if sharedInputHiddenWeights && !bidirectional { problems.append(.init(key: "shared_input_hidden_weights", message: "Shared input-hidden weights requires bidirectional=True.")) }
        if inputSize < 1 || hiddenSize < 1 { problems.append(.init(key: "hidden_size", message: "input_size \(inputSize) and hidden_size \(hiddenSize) must be >= 1")) }
        if numLayers < 1 { problems.append(.init(key: "num_layers", message: "must be >= 1, got \(numLayers)")) }
        if returnQuantTensor && ioQuant == nil { problems.append(.init(key: "return_quant_tensor", message: "return_quant_tensor=True requires io_quant != None")) }
        if !problems.isEmpty { throw QuantConfigError(context: "QuantLSTM", problems: problems) }
        (self.inputSize, self.hiddenSize, self.numLayers) = (inputSize, hiddenSize, numLayers)
        (self.bidirectional, self.batchFirst, self.returnQuantTensor) = (bidirectional, batchFirst, returnQuantTensor)
        let io = try ActQuantProxy(config: ioQuant, activation: .identity, context: "QuantLSTM.io_quant")
        let cs = try ActQuantProxy(config: cellStateQuant, activation: .identity, context: "QuantLSTM.cell_state_quant")
        let q = QuantLSTMLayer.Quantizers(weight: weightQuant, bias: biasQuant, gateAcc: gateAccQuant, sigmoid: sigmoidQuant, tanh: tanhQuant,
                                          sharedIntraLayerWeightQuant: sharedIntraLayerWeightQuant,
                                          sharedIntraLayerGateAccQuant: sharedIntraLayerGateAccQuant)
        var layers: [[QuantLSTMLayer]] = []
        for l in 0..<numLayers {
            let size = l == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            var dirs: [QuantLSTMLayer] = []
            for reverse in bidirectional ? [false, true] : [false] {
                dirs.append(try QuantLSTMLayer(inputSize: size, hiddenSize: hiddenSize, bias: bias, batchFirst: batchFirst, reverse: reverse,
                                               quantizeOutputOnly: l > 0, returnQuantTensor: returnQuantTensor || l < numLayers - 1,
                                               ioQuant: io, cellStateQuant: cs, quantizers: q,
                                               sharingInputWeightsOf: reverse && sharedInputHiddenWeights ? dirs.first : nil,
                                               generator: generator, context: "QuantLSTM.layers.\(l).\(reverse ? 1 : 0)"))
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

    public override var typeName: String { "QuantLSTM" }

    /// Runs the sequence (`[T, N, in]`, or `[N, T, in]` with `batchFirst`) from the initial
    /// states `hx`, `cx` (Brevitas `forward(inp, hx=None, cx=None)`): `[S, N, hidden]` each,
    /// layer `l` direction `d` starting from `hx[2·l + d]` and `cx[2·l + d]` (Brevitas's
    /// indexing; for `bidirectional` that is PyTorch's `[layers·2, N, hidden]` layout), which it
    /// quantizes with `io_quant` and the cell-state quantizer. `nil`: zeros, not quantized.
    ///
    /// ```swift
    /// let r = try lstm(.float(x), hx: h0, cx: c0)   // h0, c0 [1, N, hidden]
    /// ```
    public func callAsFunction(_ input: QuantValue, hx: Tensor?, cx: Tensor? = nil) throws -> RecurrentOutput {
        guard input.value.rank == 3, input.value.shape[2] == inputSize else {
            throw QuantLayerError.missingQuantInput(layer: "QuantLSTM", reason: "input must be \(batchFirst ? "[N, T, \(inputSize)]" : "[T, N, \(inputSize)]"), got \(input.value.shape)")
        }
        let n = input.value.shape[batchFirst ? 0 : 1]
        return try Recurrent.runStack(layers.map { $0.map { l in { (x: QuantValue, i: Int) throws -> (QuantValue, QuantValue, QuantValue?) in
            let h0 = try Recurrent.initialState(hx, index: i, batch: n, hidden: self.hiddenSize, name: "hx", layer: "QuantLSTM")
            let c0 = try Recurrent.initialState(cx, index: i, batch: n, hidden: self.hiddenSize, name: "cx", layer: "QuantLSTM")
            let (o, h, c) = try l.forward(x, h0: h0, c0: c0, layer: "QuantLSTM"); return (o, h, c) } } }, input: input, layer: "QuantLSTM")
    }

    /// Runs the sequence from zero states.
    public func callAsFunction(_ input: QuantValue) throws -> RecurrentOutput { try self(input, hx: nil, cx: nil) }

    /// `states`: `[]`, `[hx]` or `[hx, cx]` (the positional arguments after the input).
    public func callAsFunction(_ input: QuantValue, states: [Tensor]) throws -> RecurrentOutput {
        guard states.count <= 2 else {
            throw QuantLayerError.missingQuantInput(layer: "QuantLSTM", reason: "takes at most two initial states (hx, cx), got \(states.count)")
        }
        return try self(input, hx: states.first, cx: states.count > 1 ? states[1] : nil)
    }
}
