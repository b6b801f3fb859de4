import NN
import QuantNN
import Quantizers
import TensorEngine

/// A quantized LSTM that reads an image `[N, C, H, W]` row by row, as a sequence of `H` steps
/// of `C·W` features, and classifies it from its last hidden state:
///
///     rows [N, H, C·W] → QuantLSTM(C·W → 64, batch_first) → h_H [N, 64] → QuantLinear(64, classes)
///
/// On the bundled digits: 8 steps of 8 pixels. The LSTM's `io_quant` quantizes the input (at
/// the input bit width) and every hidden state; its sigmoid and tanh outputs use the
/// activation bit width, its weights the weight bit width; gate accumulators and the cell
/// state stay 8-bit (Brevitas's defaults), biases `Int32Bias`.
public enum QuantRowLSTM {
    public static let hiddenSize = 64

    public static func make(_ spec: ModelSpec, _ q: ModelSpec.Quantizers, generator g: RandomGenerator) throws -> QuantSequential {
        let features = spec.inputShape[0] * spec.inputShape[2]
        let eight = q.act.map { a in ActQuant.int8ActPerTensorFloat.with(\.collectStatsSteps, a.collectStatsSteps) }
        let lstm = try QuantLSTM(inputSize: features, hiddenSize: hiddenSize, batchFirst: true, weightQuant: q.weight, biasQuant: q.bias,
                                 ioQuant: q.input, gateAccQuant: eight, sigmoidQuant: q.act, tanhQuant: q.signedAct, cellStateQuant: eight,
                                 returnQuantTensor: q.input != nil, generator: g)
        return QuantSequential([
            RowSequenceLSTM(lstm),
            try QuantLinear(hiddenSize, spec.classes, weightQuant: q.weight, biasQuant: q.bias, generator: g),
        ])
    }
}

/// `[N, C, H, W]` → rows `[N, H, C·W]` → a batch-first `QuantLSTM` → its last hidden state
/// `[N, hidden]` (a QuantTensor on the io quantizer's grid when quantized).
public final class RowSequenceLSTM: Module, QuantLayer {
    public let lstm: QuantLSTM

    public init(_ lstm: QuantLSTM) {
        precondition(lstm.batchFirst && lstm.numLayers == 1 && !lstm.bidirectional, "RowSequenceLSTM: needs a one-layer, one-direction, batch-first QuantLSTM")
        self.lstm = lstm
        super.init()
        registerModule("lstm", lstm)
    }

    public override var typeName: String { "RowSequenceLSTM" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        let x = input.value
        guard x.rank == 4, x.shape[1] * x.shape[3] == lstm.inputSize else {
            throw QuantLayerError.missingQuantInput(layer: typeName, reason: "input must be [N, C, H, W] with C·W = \(lstm.inputSize), got \(x.shape)")
        }
        let rows = x.permute([0, 2, 1, 3]).reshape([x.shape[0], x.shape[2], lstm.inputSize])
        let r = try lstm(input.quantTensor.map { .quant($0.with(value: rows)) } ?? .float(rows))
        let last = r.hidden.value.squeeze(0)
        return r.hidden.quantTensor.map { .quant($0.with(value: last)) } ?? .float(last)
    }
}
