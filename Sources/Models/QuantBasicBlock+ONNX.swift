import ONNXExport

/// The block's dataflow for the ONNX exporter, call for call as `forward`: the main path and the
/// shortcut (the input itself, or the 1x1 convolution and BatchNorm) meet in the quantized add.
extension QuantBasicBlock: ONNXComposite {
    public func dataflow(_ input: ONNXDataflow.Value, in flow: ONNXDataflow) throws -> ONNXDataflow.Value {
        var y = try flow.apply(relu1, to: flow.apply(bn1, to: flow.apply(conv1, to: input)))
        y = try flow.apply(bn2, to: flow.apply(conv2, to: y))
        let s = try shortcut.map { try flow.apply($0, to: input) } ?? input
        return try flow.apply(relu2, to: flow.apply(add, to: [y, s]))
    }
}
