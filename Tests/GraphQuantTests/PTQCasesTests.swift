import Testing

/// The `shared/conformance/ptq` cases, stage by stage up to the first stage this target does not
/// build (GPTQ, GPFQ, activation equalization; cross-layer equalization is preprocessing); `PTQCaseReplay` compares every record.
@Suite struct PTQCasesTests {
    static let cases = [
        "mlp_quantize_calibrate", "mlp_layerwise_calibrate", "cnn_quantize_calibrate_bias_correction",
        "cnn_quantize_custom_w4a4_per_channel", "res_quantize_calibrate_gptq", "cat_quantize_calibrate_gptq_act_order",
        "cat_relu_branches_calibrate_reference_defect", "dws_relu6_quantize_calibrate_gpfq", "dws_relu6_kept_quantize_calibrate_gptq",
        "dws_relu6_cle_quantize_calibrate",
    ]

    @Test(.enabled(if: PTQCaseReplay.folder != nil, "skipped: no cases at ../shared/conformance/ptq"), arguments: cases)
    func replay(_ name: String) throws {
        var r = PTQCaseReplay(name)
        try r.run()
        // The defect case is comparable up to `quantize` (README-ptq "Reference defect").
        let last = name.hasSuffix("reference_defect") ? "quantize" : name.hasSuffix("bias_correction") ? "bias_correction_mode" : "calibration_mode"
        #expect(r.stagesCompared.last == last, "\(name): compared only \(r.stagesCompared)")
        #expect(r.failures.isEmpty, "\(name):\n\(r.failures.prefix(20).joined(separator: "\n"))")
    }
}
