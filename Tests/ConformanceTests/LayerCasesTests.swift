import Testing

/// The layers beyond the CNN set against the golden cases Brevitas 0.13.4 recorded
/// (`../shared/conformance/layers`): every step's output, QuantTensor metadata, gradients and
/// SGD updates.
@Suite struct LayerCasesTests {
    @Test(.enabled(if: LayerCase.available, "skipped: no ../shared/conformance/layers"),
          arguments: ["convtranspose1d_stride_dilation", "convtranspose2d_groups_outpad", "convtranspose2d_acc_bit_width",
                      "conv3d_bias_int32", "conv1d_io_quant"])
    func convolutions(_ name: String) throws {
        try LayerCase(name).replay()
    }
}
