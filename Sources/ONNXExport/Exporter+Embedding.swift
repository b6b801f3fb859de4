import Foundation
import NN
import ONNXProto
import QuantNN
import TensorEngine

/// `QuantEmbedding`: the quantized table, then `Gather` of the rows (Brevitas's exports:
/// `[Clip ->] DequantizeLinear -> Gather` in QCDQ, `Quant -> Gather` in QONNX). The indices are
/// the graph's int64 input when the embedding is the model; inside a model they arrive as float
/// tensors holding integers and are cast to int64 first.
extension Exporter {
    func emitEmbedding(_ l: QuantEmbedding, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let expected = try forward(l, x, path)
        let prefix = Self.nodePrefix(path)
        let qw = l.weightQuant(l.weight)
        let wName = try emitWeight(l.weight, l.weightQuant, qw, path: path, prefix: prefix + "/weight_quant",
                                   layer: layer + " weight_quant")
        var indices = x.name
        if b.types[indices]?.0 != .int64 {
            indices = b.node("Cast", [indices], name: prefix + "/Cast",
                             attributes: [GraphBuilder.attr("to", int: Int(Onnx_TensorProto.DataType.int64.rawValue))],
                             type: .int64, shape: x.shape)
        }
        let replay = Tensor.embedding(x.value.value, weight: qw.value, paddingIdx: l.paddingIdx)
        try checkSame(replay, expected.value, layer, "output")
        let out = b.node("Gather", [wName, indices], name: prefix + "/Gather", type: .float, shape: replay.shape)
        return Traced(name: out, value: expected)
    }
}
