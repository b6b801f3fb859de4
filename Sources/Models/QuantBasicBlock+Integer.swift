import IntegerInference

/// The block's dataflow for the integer program, call for call as `forward` (as its ONNX
/// description): the main path and the shortcut meet in the quantized add, whose shared input
/// quantizer aligns both to one scale.
extension QuantBasicBlock: IntegerComposite {
    public func integerDataflow(_ input: IntegerDataflow.Value, in flow: IntegerDataflow) throws -> IntegerDataflow.Value {
        var y = try flow.apply(relu1, to: flow.apply(bn1, to: flow.apply(conv1, to: input)))
        y = try flow.apply(bn2, to: flow.apply(conv2, to: y))
        let s = try shortcut.map { try flow.apply($0, to: input) } ?? input
        return try flow.apply(relu2, to: flow.apply(add, to: [y, s]))
    }
}
