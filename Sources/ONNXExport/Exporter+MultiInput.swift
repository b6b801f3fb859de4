import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// Layers with several inputs (QuantEltwiseAdd, QuantCat).
extension Exporter {
    func emitMultiInput(_ l: QuantMultiInputLayer, _ xs: [Traced], path: String) throws -> Traced {
        let layer = describe(l, path)
        let prefix = Self.nodePrefix(path)
        if l is QuantEltwiseAdd && xs.count != 2 {
            // At the root the inputs are the examples; inside a composite, its dataflow's values.
            throw path.isEmpty
                ? ONNXExportError.badExample(reason: "\(layer) takes 2 inputs, \(xs.count) examples given")
                : ONNXExportError.unsupportedModule(layer: layer, reason: "takes 2 inputs, the enclosing dataflow applies it to \(xs.count)")
        }
        let expected: QuantValue
        do { expected = try l.forward(xs.map(\.value)) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        let inputQuant: ActQuantProxy, outputQuant: ActQuantProxy
        switch l {
        case let a as QuantEltwiseAdd: (inputQuant, outputQuant) = (a.inputQuant, a.outputQuant)
        case let c as QuantCat: (inputQuant, outputQuant) = (c.inputQuant, c.outputQuant)
        default: throw ONNXExportError.unsupportedModule(layer: layer, reason: "unknown multi-input layer \(l.typeName)")
        }
        let qs = try xs.map { try emitActProxy(inputQuant, $0, prefix: prefix + "/input_quant", layer: layer + " input_quant") }
        let joined: Traced
        switch l {
        case is QuantEltwiseAdd:
            let v = qs[0].value.value + qs[1].value.value
            joined = Traced(name: b.node("Add", [qs[0].name, qs[1].name], name: prefix + "/Add", type: .float, shape: v.shape), value: .float(v))
        default:
            let dim = (l as! QuantCat).dim
            let v = Tensor.cat(qs.map(\.value.value), dim: dim)
            let axis = dim < 0 ? dim + v.rank : dim
            joined = Traced(name: b.node("Concat", qs.map(\.name), name: prefix + "/Concat", attributes: [GraphBuilder.attr("axis", int: axis)],
                                         type: .float, shape: v.shape), value: .float(v))
        }
        let out = try emitActProxy(outputQuant, joined, prefix: prefix + "/output_quant", layer: layer + " output_quant")
        try checkSame(out.value.value, expected.value, layer, "output")
        return Traced(name: out.name, value: expected)
    }
}
