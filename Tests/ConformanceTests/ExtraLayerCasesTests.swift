import Foundation
import Testing

@testable import Conformance

/// The cases of `Tests/Fixtures/layers-extra`, recorded with Brevitas 0.13.4 by
/// `gen_layers_extra.py` (QuantMultiheadAttention with `add_bias_kv` / `add_zero_attn`,
/// QuantRNN / QuantLSTM with initial states, a weight-only QuantLSTM), replayed by the runner like the shared layers
/// cases: outputs, intermediates, gradients of every input (the initial states included) and
/// parameter (bias_k, bias_v included), and states after each step.
@Suite struct ExtraLayerCasesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/layers-extra")

    @Test(arguments: ["mha_add_bias_kv_self", "mha_add_zero_attn_cross", "mha_bias_kv_zero_attn_padding_batch_first",
                      "lstm_initial_state", "lstm_initial_state_bidir_batch_first", "rnn_initial_state",
                      "rnn_initial_state_bidir_2layers", "lstm_weight_only_float_cell"])
    func casePasses(_ name: String) throws {
        let file = Self.directory.appendingPathComponent("\(name).json")
        #expect(FileManager.default.fileExists(atPath: file.path), "missing fixture \(file.path)")
        let r = ConformanceRunner.replay(file: file)
        #expect(r.passed && r.note == nil, "\(r.errors.prefix(10))")
    }

    /// The runner sees the initial states: a case whose hx is zeroed fails on the output.
    @Test func initialStatesReachTheModel() throws {
        let json = try JSON.load(contentsOf: Self.directory.appendingPathComponent("lstm_initial_state.json"))
        json.step(0)["inputs"]!.editData("hx") { d in d = d.map { _ in 0 } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("lstm_initial_state.json")
        try json.serialized().write(to: file, atomically: true, encoding: .utf8)
        let r = ConformanceRunner.replay(file: file)
        #expect(r.errors.contains { $0.hasPrefix("steps[0]/output") }, "\(r.errors.prefix(5))")
    }
}
