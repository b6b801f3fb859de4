import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import Quantizers
import SwiftProtobuf
import TensorEngine

/// Quantized activation layers and their quantizer proxies.
extension Exporter {
    func emitActivationLayer(_ l: QuantActivationLayer, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(l, path)
        let expected = try forward(l, x, path)
        let prefix = Self.nodePrefix(path)
        var cur = try emitActProxy(l.inputQuant, x, prefix: prefix + "/input_quant", layer: layer + " input_quant")
        cur = try emitActProxy(l.actQuant, cur, prefix: prefix + "/act_quant", layer: layer + " act_quant")
        try checkSame(cur.value.value, expected.value, layer, "output")
        return Traced(name: cur.name, value: expected)
    }

    /// The float activation of an activation proxy, then its quantizer.
    func emitActProxy(_ proxy: ActQuantProxy, _ x: Traced, prefix: String, layer: String) throws -> Traced {
        let y = proxy(x.value)
        var name = x.name
        let shape = y.value.shape
        switch proxy.activation {
        case .identity: break
        case .relu: name = b.node("Relu", [name], name: prefix + "/activation_impl/Relu", type: .float, shape: shape)
        case .sigmoid: name = b.node("Sigmoid", [name], name: prefix + "/activation_impl/Sigmoid", type: .float, shape: shape)
        case .tanh: name = b.node("Tanh", [name], name: prefix + "/activation_impl/Tanh", type: .float, shape: shape)
        case .hardtanh(let lo, let hi):
            let l = b.constant(prefix + "/activation_impl/min_val", scalar: lo)
            let h = b.constant(prefix + "/activation_impl/max_val", scalar: hi)
            name = b.node("Clip", [name, l, h], name: prefix + "/activation_impl/Clip", type: .float, shape: shape)
        }
        guard let tq = proxy.tensorQuant else { return Traced(name: name, value: y) }
        if let config = proxy.config, config.dynamicScaling {
            // The traced scale belongs to the example input only; a constant would be wrong for
            // every other input.
            let reason = format == .qonnx
                ? "\(config.preset) computes its scale from every input (dynamic activation quantization); QONNX's Quant takes a constant scale, and Brevitas 0.13.4 refuses too ('Scale for Dynamic Act Quant is input-dependant'). Use a static preset (e.g. Int8ActPerTensorFloat) to export"
                : "\(config.preset) computes its scale from every input (dynamic activation quantization); Brevitas exports only the unsigned per-tensor min/max one (ShiftedUint8DynamicActPerTensorFloat) to QCDQ, as DynamicQuantizeLinear, which this exporter does not emit yet. Use a static preset (e.g. Int8ActPerTensorFloat) to export"
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: reason)
        }
        guard let q = y.quantTensor else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "an enabled quantizer returned a plain tensor")
        }
        name = try emitActQuant(name, q, quantizer: tq, prefix: prefix + "/export_handler", layer: layer)
        return Traced(name: name, value: y)
    }
}
