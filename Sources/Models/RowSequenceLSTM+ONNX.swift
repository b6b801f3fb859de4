import ONNXExport

/// The row reader's dataflow for the ONNX exporter, as `forward`: `[N, C, H, W]` →
/// `Transpose(0, 2, 1, 3)` → `Reshape [N, H, C·W]` → the QuantLSTM (QONNX `QuantLSTMCell`; QCDQ
/// has no form for it, as in Brevitas) → `h_n` `[1, N, hidden]` → `Squeeze(0)`.
extension RowSequenceLSTM: ONNXComposite {
    public func dataflow(_ input: ONNXDataflow.Value, in flow: ONNXDataflow) throws -> ONNXDataflow.Value {
        let s = input.shape
        let rows = try flow.reshape(flow.permute(input, [0, 2, 1, 3]), [s[0], s[2], lstm.inputSize])
        return try flow.squeeze(flow.apply(lstm, to: rows).hidden, dim: 0)
    }
}
