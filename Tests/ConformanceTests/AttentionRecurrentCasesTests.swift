import Foundation
import Testing

@testable import Conformance

/// The attention, recurrent and accumulator cases of `../shared/conformance/layers` through
/// the runner (`brevitas conformance`): outputs, intermediates, gradients and states compared
/// with Brevitas 0.13.4's, and tampered copies that must fail where they were changed.
@Suite struct AttentionRecurrentCasesTests {
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases"),
          arguments: ["mha_default_self", "mha_causal_mask_batch_first", "mha_unpacked_cross", "rnn_default", "rnn_bidir_2layers_batch_first_qt",
                      "rnn_relu_sgd", "lstm_default", "lstm_bidir_2layers_batch_first_qt", "lstm_custom_bits_sgd"])
    func casePasses(_ name: String) throws {
        let r = try tamperedCase("layers", name) { _ in }
        #expect(r.passed && r.note == nil, "\(r.errors)")
    }

    /// Brevitas records the shared io quantizer once per layer input (as `cell.output_quant`),
    /// never the per-step calls of its `_fast_cell`: a recorded extra call or a missing
    /// quantizer is a mismatch.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func recurrentIntermediatesAreCompared() throws {
        let extra = try tamperedCase("layers", "rnn_default") { j in
            let inter = j.step(0)["intermediates"]!.object!
            let calls = inter["layers.0.0.cell.output_quant"]!.array!
            inter["layers.0.0.cell.output_quant"] = .array(calls + calls)
        }
        #expect(extra.errors.contains { $0.hasPrefix("steps[0]/intermediates") }, "\(extra.errors)")
        let acc = try tamperedCase("layers", "lstm_default") { j in
            let inter = j.step(0)["intermediates"]!.object!
            inter["layers.0.0.cell.input_acc_quant"] = inter["layers.0.0.cell.output_quant"]
        }
        #expect(acc.errors.contains { $0.hasPrefix("steps[0]/intermediates") }, "\(acc.errors)")
    }

    /// States after a step name the cell's quantizers by Brevitas's `_fast_cell` paths; they are
    /// compared (not skipped) under ours.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func fastCellStateKeysAreCompared() throws {
        let r = try tamperedCase("layers", "rnn_default") { j in
            j.step(0)["state_after"]!["params"]!.editData("layers.0.0._fast_cell.gate_acc_quant.tensor_quant.scaling_impl.value") { d in
                d = d.map { $0 + 0.5 }
            }
        }
        #expect(r.errors.contains { $0.hasPrefix("steps[0]/state_after") }, "\(r.errors)")
        #expect(Replay.foldingFastCellKeys(.object(JSONObject([("layers.1.0._fast_cell.output_quant.tensor_quant.scaling_impl", .number(3))])))
                    == .object(JSONObject([("layers.1.0.io_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl", .number(3))])))
    }

    /// Attention: the mask, the per-head weights and `need_weights=False` reach the layer.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func attentionCallKeywordsAreUsed() throws {
        let noMask = try tamperedCase("layers", "mha_causal_mask_batch_first") { j in
            j["spec"]!["call"]!.object!["tensor_kwargs"] = .object(JSONObject())
        }
        #expect(noMask.errors.contains { $0.hasPrefix("steps[0]/output") }, "\(noMask.errors)")
        let unknown = try tamperedCase("layers", "mha_default_self") { j in
            j["spec"]!["call"]!.object!["kwargs"] = .object(JSONObject([("is_causal", .bool(true))]))
        }
        #expect(unknown.errors.contains { $0.contains("call keyword is_causal") }, "\(unknown.errors)")
        let distinct = try tamperedCase("layers", "mha_default_self") { j in
            j["spec"]!.object!["inputs"] = .array([.string("x"), .string("y")])
            let x = j.step(0)["inputs"]!["x"]!
            for k in 0..<3 { j.step(k)["inputs"]!.object!["y"] = x }
            j["spec"]!["call"]!.object!["args"] = .array([.string("x"), .string("y"), .string("y")])
        }
        #expect(distinct.errors.contains { $0.contains("packed in_proj supports only self-attention") }, "\(distinct.errors)")
    }

    /// Brevitas 0.13.4 cannot construct either accumulator layer: the cases are not comparable,
    /// and ours must build and run.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases"),
          arguments: ["trunc_quant_accumulator", "clamp_quant_accumulator_default"])
    func accumulatorCasesAreNotComparable(_ name: String) throws {
        let r = try tamperedCase("layers", name) { _ in }
        #expect(r.errors.isEmpty && r.note?.contains("our layer ran every step") == true, "\(r.errors) \(r.note ?? "")")
    }
}
