import NN
import QuantCore
import TensorEngine

/// One gate of a recurrent layer as an exporter sees it: the float weights and bias, and their
/// quantized values for the layer's (quantized) input.
public struct RecurrentGateParts {
    /// `input`, `forget`, `cell`, `output` (Brevitas's `X_gate_params`).
    public let name: String
    /// `[hidden, in]` and `[hidden, hidden]`.
    public let inputWeight: Tensor, hiddenWeight: Tensor
    /// The quantizer both weights share (one scale over both).
    public let weightQuant: WeightQuantProxy
    public let quantInputWeight: QuantValue, quantHiddenWeight: QuantValue
    /// `[hidden]`, and its quantized value (scale `s_in · s_w` for `Int32Bias`).
    public let bias: Tensor?
    public let quantBias: QuantValue?
}

/// One direction of one layer of a `QuantLSTM`: what Brevitas's `QuantLSTMLayerHandler` reads
/// to write a QONNX `QuantLSTMCell`.
public struct LSTMDirectionParts {
    /// `layers.L.D` (D = 1: the reverse direction).
    public let path: String
    public let reverse: Bool, batchFirst: Bool
    /// Deeper layers take the previous layer's already quantized output (no input `io_quant`).
    public let quantizeOutputOnly: Bool
    public let hiddenSize: Int
    /// The shared input/output quantizer (`io_quant`, also the cell's `output_quant`).
    public let ioQuant: ActQuantProxy
    /// The cell's quantizers in the order of the `QuantLSTMCell` inputs and attribute names:
    /// `output`, `cell_state`, `input_acc`, `forget_acc`, `cell_acc`, `output_acc`,
    /// `input_sigmoid`, `forget_sigmoid`, `cell_tanh`, `output_sigmoid`, `hidden_state_tanh`.
    /// The sigmoid and tanh quantizers include their activation.
    public let cellQuantizers: [(name: String, proxy: ActQuantProxy)]
}

extension QuantLSTM {
    /// 2 when bidirectional, else 1.
    public var directionCount: Int { bidirectional ? 2 : 1 }

    /// The quantizers and flags of layer `l`, direction `d`.
    public func directionParts(layer l: Int, direction d: Int) -> LSTMDirectionParts {
        precondition(l >= 0 && l < numLayers && d >= 0 && d < directionCount,
                     "QuantLSTM.directionParts: layer \(l) direction \(d) of \(numLayers) layers x \(directionCount) directions")
        let m = layers[l][d]
        let cell: [(String, ActQuantProxy)] = [
            ("output", m.ioQuant), ("cell_state", m.cellStateQuant),
            ("input_acc", m.accQuant[0]), ("forget_acc", m.accQuant[1]), ("cell_acc", m.accQuant[2]), ("output_acc", m.accQuant[3]),
            ("input_sigmoid", m.inputSigmoid), ("forget_sigmoid", m.forgetSigmoid), ("cell_tanh", m.cellTanh),
            ("output_sigmoid", m.outputSigmoid), ("hidden_state_tanh", m.hiddenTanh),
        ]
        return LSTMDirectionParts(path: "layers.\(l).\(d)", reverse: m.reverse, batchFirst: m.batchFirst,
                                  quantizeOutputOnly: m.quantizeOutputOnly, hiddenSize: m.hiddenSize, ioQuant: m.ioQuant,
                                  cellQuantizers: cell.map { (name: $0.0, proxy: $0.1) })
    }

    /// The four gates of layer `l`, direction `d` (input, forget, cell, output), quantized for
    /// the layer input `input` (already through `io_quant` where the layer applies it).
    public func gateParts(layer l: Int, direction d: Int, input: QuantValue) throws -> [RecurrentGateParts] {
        precondition(l >= 0 && l < numLayers && d >= 0 && d < directionCount,
                     "QuantLSTM.gateParts: layer \(l) direction \(d) of \(numLayers) layers x \(directionCount) directions")
        return try zip(QuantLSTMLayer.gates, layers[l][d].gateParams).map { name, p in try p.parts(name: name, input: input, layer: "QuantLSTM") }
    }

    /// Runs layer `l`, direction `d` alone on `input` (the sequence, or the previous layer's
    /// output): the output sequence, `h_n` and `c_n` (`[1, N, hidden]`) of that direction.
    public func forwardDirection(layer l: Int, direction d: Int, input: QuantValue) throws -> (output: QuantValue, hidden: QuantValue, cell: QuantValue) {
        precondition(l >= 0 && l < numLayers && d >= 0 && d < directionCount,
                     "QuantLSTM.forwardDirection: layer \(l) direction \(d) of \(numLayers) layers x \(directionCount) directions")
        let (o, h, c) = try layers[l][d].forward(input, layer: "QuantLSTM")
        return (o, h, c)
    }
}

extension GateParams {
    /// The gate's weights and bias with their quantized values (`quantized(input:layer:)`, with
    /// the metadata of both weights and of the bias kept).
    func parts(name: String, input: QuantValue, layer: String) throws -> RecurrentGateParts {
        let q = try quantized(input: input, layer: layer)
        let qhh: QuantValue = q.weight.quantTensor.map { .quant($0.with(value: q.hh)) } ?? .float(q.hh)
        let qb = try bias.map { try biasQuant($0, input: input, weight: q.weight, layer: layer) }
        return RecurrentGateParts(name: name, inputWeight: inputWeight.weight, hiddenWeight: hiddenWeight.weight,
                                  weightQuant: inputWeight.weightQuant, quantInputWeight: q.weight, quantHiddenWeight: qhh,
                                  bias: bias, quantBias: qb)
    }
}
