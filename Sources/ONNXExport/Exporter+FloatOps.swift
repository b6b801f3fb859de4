import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import SwiftProtobuf
import TensorEngine

/// The float ONNX ops the layers are made of (Conv, Gemm/MatMul, pools, Flatten).
extension Exporter {
    func conv(_ x: String, _ w: String, _ bias: String?, kernel: [Int], stride: [Int], padding: [Int], dilation: [Int],
              groups: Int, prefix: String, shape: [Int]) -> String {
        b.node("Conv", [x, w] + (bias.map { [$0] } ?? []), name: prefix + "/Conv",
               attributes: [GraphBuilder.attr("dilations", ints: dilation), GraphBuilder.attr("group", int: groups),
                            GraphBuilder.attr("kernel_shape", ints: kernel), GraphBuilder.attr("pads", ints: padding + padding),
                            GraphBuilder.attr("strides", ints: stride)],
               type: .float, shape: shape)
    }

    /// `ConvTranspose` (weight `[Cin, Cout/groups, k...]`); `output_padding` only when nonzero,
    /// as Brevitas's exports write it.
    func convTranspose(_ x: String, _ w: String, _ bias: String?, kernel: [Int], stride: [Int], padding: [Int],
                       outputPadding: [Int], dilation: [Int], groups: Int, prefix: String, shape: [Int]) -> String {
        var attrs = [GraphBuilder.attr("dilations", ints: dilation), GraphBuilder.attr("group", int: groups),
                     GraphBuilder.attr("kernel_shape", ints: kernel)]
        if outputPadding.contains(where: { $0 != 0 }) { attrs.append(GraphBuilder.attr("output_padding", ints: outputPadding)) }
        attrs += [GraphBuilder.attr("pads", ints: padding + padding), GraphBuilder.attr("strides", ints: stride)]
        return b.node("ConvTranspose", [x, w] + (bias.map { [$0] } ?? []), name: prefix + "/ConvTranspose", attributes: attrs,
                      type: .float, shape: shape)
    }

    /// Brevitas's `QuantScaleBias`: `x · reshape(w, [1, C, 1, ...]) + reshape(b, [1, C, 1, ...])`
    /// (`Reshape -> Mul -> Reshape -> Add`). Returns the value and the output's name.
    func scaleBias(_ x: Traced, _ w: Tensor, _ wName: String, _ bias: Tensor?, _ bName: String?, prefix: String) -> (Tensor, String) {
        let shape = [1, w.count] + [Int](repeating: 1, count: x.shape.count - 2)
        let s = b.constant(prefix + "/weight_shape", integers: shape.map(Int64.init), type: .int64, shape: [shape.count])
        let wr = b.node("Reshape", [wName, s], name: prefix + "/Reshape", type: .float, shape: shape)
        var acc = x.value.value * w.reshape(shape)
        var name = b.node("Mul", [x.name, wr], name: prefix + "/Mul", type: .float, shape: acc.shape)
        if let bias, let bName {
            let br = b.node("Reshape", [bName, s], name: prefix + "/Reshape", type: .float, shape: shape)
            acc = acc + bias.reshape(shape)
            name = b.node("Add", [name, br], name: prefix + "/Add", type: .float, shape: acc.shape)
        }
        return (acc, name)
    }

    /// `x · Wᵀ + b`: `Gemm(transB=1)` for 2-D inputs, `MatMul(x, Transpose(W)) + b` otherwise.
    func linear(_ x: String, inputShape: [Int], _ w: String, _ bias: String?, prefix: String, shape: [Int]) -> String {
        if inputShape.count == 2 {
            return b.node("Gemm", [x, w] + (bias.map { [$0] } ?? []), name: prefix + "/Gemm",
                          attributes: [GraphBuilder.attr("alpha", float: 1), GraphBuilder.attr("beta", float: 1),
                                       GraphBuilder.attr("transB", int: 1)],
                          type: .float, shape: shape)
        }
        let wShape = b.types[w]!.1
        let wt = b.node("Transpose", [w], name: prefix + "/Transpose", attributes: [GraphBuilder.attr("perm", ints: [1, 0])],
                        type: .float, shape: [wShape[1], wShape[0]])
        let mm = b.node("MatMul", [x, wt], name: prefix + "/MatMul", type: .float, shape: shape)
        guard let bias else { return mm }
        return b.node("Add", [mm, bias], name: prefix + "/Add", type: .float, shape: shape)
    }

    func maxPool(_ x: String, kernel: IntOrPair, stride: IntOrPair, padding: IntOrPair, prefix: String, shape: [Int]) -> String {
        b.node("MaxPool", [x], name: prefix + "/MaxPool",
               attributes: [GraphBuilder.attr("ceil_mode", int: 0), GraphBuilder.attr("kernel_shape", ints: [kernel.first, kernel.second]),
                            GraphBuilder.attr("pads", ints: [padding.first, padding.second, padding.first, padding.second]),
                            GraphBuilder.attr("strides", ints: [stride.first, stride.second])],
               type: .float, shape: shape)
    }

    /// Average pooling with zero padding counted in the divisor (`count_include_pad=1`, as
    /// PyTorch's default and the Swift kernel).
    func avgPool(_ x: String, kernel: IntOrPair, stride: IntOrPair, padding: IntOrPair, prefix: String, shape: [Int]) -> String {
        b.node("AveragePool", [x], name: prefix + "/AveragePool",
               attributes: [GraphBuilder.attr("ceil_mode", int: 0), GraphBuilder.attr("count_include_pad", int: 1),
                            GraphBuilder.attr("kernel_shape", ints: [kernel.first, kernel.second]),
                            GraphBuilder.attr("pads", ints: [padding.first, padding.second, padding.first, padding.second]),
                            GraphBuilder.attr("strides", ints: [stride.first, stride.second])],
               type: .float, shape: shape)
    }

    /// `flatten(startDim...endDim)`: ONNX `Flatten(axis=1)` for the usual `[N, ...] -> [N, -1]`,
    /// otherwise a `Reshape` to the (static) result shape.
    func flatten(_ x: Traced, startDim: Int, endDim: Int, prefix: String, shape: [Int]) -> String {
        let rank = x.shape.count
        let s = startDim < 0 ? startDim + rank : startDim
        let e = endDim < 0 ? endDim + rank : endDim
        if s == 1 && e == rank - 1 {
            return b.node("Flatten", [x.name], name: prefix + "/Flatten", attributes: [GraphBuilder.attr("axis", int: 1)],
                          type: .float, shape: shape)
        }
        // With a dynamic batch, 0 copies the input's batch dimension (Reshape's allowzero = 0).
        let dims = shape.enumerated().map { i, d in Int64(b.dynamicBatch && i == 0 && s >= 1 ? 0 : d) }
        let target = b.constant(prefix + "/shape", integers: dims, type: .int64, shape: [shape.count])
        return b.node("Reshape", [x.name, target], name: prefix + "/Reshape", type: .float, shape: shape)
    }

    /// Adaptive average pooling as a fixed-window `AveragePool` (or `GlobalAveragePool`); only
    /// when the input size is a multiple of the output size, so every window has the same size.
    func adaptiveAvgPool(_ x: Traced, outputSize: IntOrPair, prefix: String, layer: String, shape: [Int]) throws -> String {
        let inH = x.shape[2], inW = x.shape[3]
        let (oH, oW) = outputSize.pair
        if oH == 1 && oW == 1 {
            return b.node("GlobalAveragePool", [x.name], name: prefix + "/GlobalAveragePool", type: .float, shape: shape)
        }
        guard inH % oH == 0 && inW % oW == 0 else {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "adaptive average pooling of \(inH)x\(inW) to \(oH)x\(oW) has windows of different sizes; ONNX AveragePool needs a fixed window (make the input size a multiple of the output size)")
        }
        let k = IntOrPair(inH / oH, inW / oW)
        return avgPool(x.name, kernel: k, stride: k, padding: IntOrPair(0, 0), prefix: prefix, shape: shape)
    }
}
