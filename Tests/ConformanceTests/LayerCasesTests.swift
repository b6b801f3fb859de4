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

    @Test(.enabled(if: LayerCase.available, "skipped: no ../shared/conformance/layers"),
          arguments: ["sdpa_default", "embedding_default_qt", "embedding_padding_idx_sgd", "scale_bias_default", "bn2d_to_scale_bias_qt",
                      "upsampling_nearest2d_qt", "upsample_nearest_qt", "hadamard_classifier_qt"])
    func otherLayers(_ name: String) throws {
        try LayerCase(name).replay()
    }

    /// Bilinear requantization puts values on rounding ties (README-layers, tolerance rule 2):
    /// values may flip by one step of the input scale.
    @Test(.enabled(if: LayerCase.available, "skipped: no ../shared/conformance/layers"),
          arguments: ["upsampling_bilinear2d_qt", "upsample_bilinear_qt"])
    func bilinearUpsampling(_ name: String) throws {
        try LayerCase(name).replay(stepTolerance: true)
    }

    /// A2Q / A2Q+: outputs, gradients and SGD updates, and every step's recorded
    /// `accumulator_bound` recomputed from our integer weights.
    @Test(.enabled(if: LayerCase.available, "skipped: no ../shared/conformance/layers"),
          arguments: ["a2q_conv_acc12_sgd", "a2q_linear_acc16_sgd", "a2qplus_conv_acc12_sgd", "a2qplus_linear_acc16_sgd"])
    func accumulatorAware(_ name: String) throws {
        let c = try LayerCase(name)
        try c.replay()
        try c.checkAccumulatorBounds()
    }

    /// QuantRNN / QuantLSTM: state keys, outputs, states, loss, gradients through time and SGD,
    /// under the recurrent (normwise) tolerance.
    @Test(.enabled(if: LayerCase.available, "skipped: no ../shared/conformance/layers"),
          arguments: ["rnn_default", "rnn_bidir_2layers_batch_first_qt", "rnn_relu_sgd", "lstm_default",
                      "lstm_bidir_2layers_batch_first_qt", "lstm_custom_bits_sgd"])
    func recurrent(_ name: String) throws {
        try LayerCase(name).replayRecurrent()
    }
}
