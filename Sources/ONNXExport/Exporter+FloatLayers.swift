import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// Plain NN layers (Conv2d, Linear, BatchNorm, activations, ...) inside a quantized model.
extension Exporter {
    static let floatTypes: Set<ObjectIdentifier> = [
        ObjectIdentifier(Sequential.self), ObjectIdentifier(Linear.self), ObjectIdentifier(Conv2d.self),
        ObjectIdentifier(Conv1d.self), ObjectIdentifier(ReLU.self), ObjectIdentifier(Sigmoid.self),
        ObjectIdentifier(Tanh.self), ObjectIdentifier(HardTanh.self), ObjectIdentifier(Flatten.self),
        ObjectIdentifier(MaxPool2d.self), ObjectIdentifier(AvgPool2d.self), ObjectIdentifier(AdaptiveAvgPool2d.self),
        ObjectIdentifier(Identity.self), ObjectIdentifier(BatchNorm1d.self), ObjectIdentifier(BatchNorm2d.self),
    ]

    func emitFloat(_ m: Module, _ x: Traced, path: String) throws -> Traced {
        let layer = describe(m, path)
        let prefix = Self.nodePrefix(path)
        let xv = x.value.value
        func out(_ name: String, _ v: Tensor) -> Traced { Traced(name: name, value: .float(v)) }
        // The float layers are open classes: a subclass may compute something else, so only the
        // exact library types are translated.
        guard Self.floatTypes.contains(ObjectIdentifier(type(of: m))) else {
            throw ONNXExportError.unsupportedModule(
                layer: layer, reason: "no ONNX translation for the float layer \(m.typeName) (only the library's own Linear, Conv1d/2d, BatchNorm1d/2d, ReLU, Sigmoid, Tanh, HardTanh, Flatten, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Identity and Sequential, not subclasses)")
        }
        switch m {
        case let s as Sequential:
            var cur = x
            for (i, l) in s.layers.enumerated() { cur = try emitFloat(l, cur, path: Self.join(path, s.children[i].name)) }
            return cur
        case let l as Linear:
            let v = l(xv)
            let w = b.constant(Self.join(path, "weight"), tensor: l.weight)
            let bias = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
            return out(linear(x.name, inputShape: x.shape, w, bias, prefix: prefix, shape: v.shape), v)
        case let l as Conv2d:
            let v = l(xv)
            let w = b.constant(Self.join(path, "weight"), tensor: l.weight)
            let bias = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
            return out(conv(x.name, w, bias, kernel: [l.kernelSize.first, l.kernelSize.second], stride: [l.stride.first, l.stride.second],
                            padding: [l.padding.first, l.padding.second], dilation: [l.dilation.first, l.dilation.second],
                            groups: l.groups, prefix: prefix, shape: v.shape), v)
        case let l as Conv1d:
            let v = l(xv)
            let w = b.constant(Self.join(path, "weight"), tensor: l.weight)
            let bias = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
            return out(conv(x.name, w, bias, kernel: [l.kernelSize], stride: [l.stride], padding: [l.padding], dilation: [l.dilation],
                            groups: l.groups, prefix: prefix, shape: v.shape), v)
        case let l as ReLU:
            let v = l(xv)
            return out(b.node("Relu", [x.name], name: prefix + "/Relu", type: .float, shape: v.shape), v)
        case let l as Sigmoid:
            let v = l(xv)
            return out(b.node("Sigmoid", [x.name], name: prefix + "/Sigmoid", type: .float, shape: v.shape), v)
        case let l as Tanh:
            let v = l(xv)
            return out(b.node("Tanh", [x.name], name: prefix + "/Tanh", type: .float, shape: v.shape), v)
        case let l as HardTanh:
            let v = l(xv)
            let lo = b.constant(prefix + "/min_val", scalar: l.minValue)
            let hi = b.constant(prefix + "/max_val", scalar: l.maxValue)
            return out(b.node("Clip", [x.name, lo, hi], name: prefix + "/Clip", type: .float, shape: v.shape), v)
        case let l as Flatten:
            let v = l(xv)
            return out(flatten(x, startDim: l.startDim, endDim: l.endDim, prefix: prefix, shape: v.shape), v)
        case let l as MaxPool2d:
            let v = l(xv)
            return out(maxPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: l.padding, prefix: prefix, shape: v.shape), v)
        case let l as AvgPool2d:
            let v = l(xv)
            return out(avgPool(x.name, kernel: l.kernelSize, stride: l.stride, padding: l.padding, prefix: prefix, shape: v.shape), v)
        case let l as AdaptiveAvgPool2d:
            let v = l(xv)
            return out(try adaptiveAvgPool(x, outputSize: l.outputSize, prefix: prefix, layer: layer, shape: v.shape), v)
        case let l as BatchNorm:
            // Eval-mode BatchNormalization with the running statistics.
            guard let mean = l.runningMean, let variance = l.runningVar else {
                throw ONNXExportError.notExpressible(
                    layer: layer, format: format,
                    reason: "a BatchNorm without running statistics (trackRunningStats: false) normalises with each batch's statistics, which an inference graph cannot express")
            }
            let v = l(xv)
            let c = l.numFeatures
            let scale = l.weight.map { b.constant(Self.join(path, "weight"), tensor: $0) }
                ?? b.constant(prefix + "/scale", floats: [Float](repeating: 1, count: c), shape: [c])
            let shift = l.bias.map { b.constant(Self.join(path, "bias"), tensor: $0) }
                ?? b.constant(prefix + "/shift", floats: [Float](repeating: 0, count: c), shape: [c])
            let m = b.constant(Self.join(path, "running_mean"), tensor: mean)
            let va = b.constant(Self.join(path, "running_var"), tensor: variance)
            return out(b.node("BatchNormalization", [x.name, scale, shift, m, va], name: prefix + "/BatchNormalization",
                              attributes: [GraphBuilder.attr("epsilon", float: l.eps)], type: .float, shape: v.shape), v)
        case is Identity:
            return x
        default:
            throw ONNXExportError.unsupportedModule(layer: layer, reason: "no ONNX translation for the float layer \(m.typeName)")
        }
    }
}
