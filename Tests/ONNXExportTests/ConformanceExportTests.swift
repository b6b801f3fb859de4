import Foundation
@testable import Conformance
import NN
import ONNXExport
import QuantNN
import Testing
import TensorEngine

/// The conformance cases that ship Brevitas's own exports: rebuild each model from its spec with
/// the conformance runner, load the state after the last step, export it in both formats and run
/// it. The graph must reproduce the Swift eval output (as every export), Brevitas's recorded
/// `export_output`, and the output of Brevitas's own file run in the same runtime on the same
/// input (where Brevitas's file runs and matches its own eval output).
@Suite struct ConformanceExportTests {
    /// Exports and checks `names` of the family in `dir`. `brevitasFiles`: the formats whose
    /// Brevitas file is also run and compared.
    func check(_ dir: URL, _ names: [String], brevitasFiles: (String, ONNXFormat) -> Bool) throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        for name in names {
            let json = try JSON.load(contentsOf: dir.appendingPathComponent("\(name).json"))
            guard let spec = json["spec"], let modelSpec = spec["model"], let input = json["export_input"],
                  let expected = json["export_output"] else {
                Issue.record("\(name): no export fields")
                continue
            }
            let model = try SpecModel.build(modelSpec)
            let state = json["final_state"] ?? json["steps"]?.array?.last?["state_after"]
            if let state, let root = model.module { try ModuleState.load(state, into: root) }
            let exportModel = try FinalModel.exportable(model, modelSpec)
            // The layers family names its inputs and outputs ({"x": tensor}); one of each here.
            func single(_ j: JSON) -> JSON {
                guard j["shape"] == nil, j["kind"] == nil, let o = j.object, o.keys.count == 1 else { return j }
                return o[o.keys[0]]!
            }
            let x = try Records.tensor(single(input))
            let out = single(expected)
            let ref = try Records.tensor(out.isQuantTensor ? out["value"]! : out)
            for f in ONNXFormat.allCases {
                let brevitasFile = dir.appendingPathComponent("\(name).\(f.rawValue).onnx")
                try batch.add(name, exportModel, [x], f, reference: ref, referenceONNX: brevitasFiles(name, f) ? brevitasFile : nil)
            }
        }
        let (results, stderr) = try batch.check(python: env.python)
        print("ONNXExportTests: conformance exports of \(dir.lastPathComponent), checker \(env.summary)")
        for key in batch.caseKeys {
            guard let r = results[key] else {
                Issue.record("\(key): no result from check_onnx.py; stderr:\n\(stderr.suffix(3000))")
                continue
            }
            let vsRef = r.json["vs_export_output"] as? Double ?? .nan
            let vsFile = r.json["vs_brevitas_onnx"] as? Double ?? .nan
            print(String(format: "  %-44@ %@ vs Swift %-9.3g vs Brevitas export_output %-9.3g vs Brevitas's file %-9.3g max|out| %.3g",
                         key as NSString, r.ok ? "ok  " : "FAIL", r.maxAbsDiff, vsRef, vsFile, r.maxAbsRef))
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
        }
    }

    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.available,
                   "needs Python with onnx + onnxruntime and ../shared/conformance/cases"))
    func conformanceModelsExportLikeBrevitas() throws {
        try check(ConformanceFiles.dir, ConformanceFiles.exportCases) { _, _ in true }
    }

    /// FP8 layers of the formats family. Brevitas's QONNX files (FloatQuant) run in qonnx and are
    /// compared; its QCDQ files do not load in ONNX Runtime (opset 18 with float8 zero points,
    /// recorded as `check_error`), so ours are compared with `export_output` only.
    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.formatsAvailable,
                   "needs Python with onnx + onnxruntime and ../shared/conformance/formats"))
    func fp8ConformanceModelsExportLikeBrevitas() throws {
        let names = ["linear_fp8_e4m3_ocp_per_tensor", "linear_fp8_e5m2_ocp_per_channel", "conv_fp8_e4m3_ocp_per_channel",
                     "conv_fp8_e4m3_fnuz_per_tensor"]
        try check(ConformanceFiles.formatsDir, names) { name, f in
            f == .qonnx && FileManager.default.fileExists(atPath: ConformanceFiles.formatsDir.appendingPathComponent("\(name).qonnx.onnx").path)
        }
    }

    /// Transposed and 3-d convolutions, Conv1d, embedding and scale-bias of the layers family,
    /// against Brevitas's files in both formats (except `conv1d_io_quant`'s QCDQ file, which
    /// differs from Brevitas's own eval output by 0.45: recorded in README-layers).
    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.layersAvailable,
                   "needs Python with onnx + onnxruntime and ../shared/conformance/layers"))
    func newLayersExportLikeBrevitas() throws {
        let names = ["convtranspose1d_stride_dilation", "convtranspose2d_groups_outpad", "convtranspose2d_acc_bit_width",
                     "conv3d_bias_int32", "conv1d_io_quant", "embedding_default_qt", "bn2d_to_scale_bias_qt"]
        try check(ConformanceFiles.layersDir, names) { name, f in !(name == "conv1d_io_quant" && f == .qcdq) }
    }

    /// A2Q and A2Q+ (QuantConv2d, QuantLinear) after their recorded SGD steps. Our QCDQ and QONNX
    /// graphs must reproduce the layer, Brevitas's `export_output`, and Brevitas's QCDQ file run
    /// in ONNX Runtime. Brevitas's QONNX file is not a reference for the output: it feeds the
    /// float weight to `Quant`, which rounds `W/s` to nearest instead of applying A2Q's pre-scale
    /// and rounding toward zero, so it differs from Brevitas's own layer by up to about one
    /// output step (`max_abs_diff_vs_torch_eval` 0.8-1.2 in README-layers); ours stores the
    /// quantized weight and matches (ONNXStructureTests compares the two QONNX graphs' structure).
    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.layersAvailable,
                   "needs Python with onnx + onnxruntime and ../shared/conformance/layers"))
    func accumulatorAwareLayersExportLikeBrevitas() throws {
        let names = ["a2q_conv_acc12_sgd", "a2q_linear_acc16_sgd", "a2qplus_conv_acc12_sgd", "a2qplus_linear_acc16_sgd"]
        try check(ConformanceFiles.layersDir, names) { _, f in f == .qcdq }
    }

    /// QuantLSTM in QONNX (`QuantLSTMCell`), against `lstm_default`: the graph run by the
    /// checker's numpy executor of QuantLSTMCell (qonnx has none; on Brevitas's own file it
    /// reproduces Brevitas's recorded output exactly) must reproduce the Swift output sequence,
    /// h_n and c_n, Brevitas's `export_output`, and Brevitas's file run the same way.
    /// QCDQ is refused, as in Brevitas (its recorded error).
    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.layersAvailable,
                   "needs Python with onnx + onnxruntime and ../shared/conformance/layers"))
    func lstmExportsLikeBrevitas() throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        let dir = ConformanceFiles.layersDir
        let json = try JSON.load(contentsOf: dir.appendingPathComponent("lstm_default.json"))
        let modelSpec = try #require(json["spec"]?["model"])
        let model = try SpecModel.build(modelSpec)
        let state = json["final_state"] ?? json["steps"]?.array?.last?["state_after"]
        if let state, let root = model.module { try loadRecordedState(state, of: json, into: root) }
        let lstm = try FinalModel.exportable(model, modelSpec)
        let x = try Records.tensor(try #require(json["export_input"]?["x"]))
        let expected = try #require(json["export_output"])
        let refs = try ["out", "h_n", "c_n"].map { try Records.tensor(try #require(expected[$0])) }
        try batch.add("lstm_default", lstm, [x], .qonnx, reference: refs[0], extraReferences: Array(refs[1...]),
                      referenceONNX: dir.appendingPathComponent("lstm_default.qonnx.onnx"))
        do {
            _ = try exportONNX(lstm, example: x, format: .qcdq)
            Issue.record("exported a QuantLSTM to QCDQ")
        } catch let ONNXExportError.notExpressible(_, format, reason) {
            #expect(format == .qcdq && reason.contains("not supported for ONNX QCDQ"))
        }
        let (results, stderr) = try batch.check(python: env.python)
        let r = try #require(results["lstm_default.qonnx"], "no result; stderr:\n\(stderr.suffix(3000))")
        print("ONNXExportTests: lstm_default.qonnx \(r.executor): \(r.json.filter { $0.key.hasPrefix("vs_") || $0.key.hasPrefix("max_abs") })")
        #expect(r.ok, "\(r.problems.joined(separator: "; "))")
        #expect(r.json["vs_brevitas_onnx_c_n"] != nil && r.codes > 0)
    }

    /// A weight-only QuantLSTM (float cell, 4-bit weights), `Tests/Fixtures/layers-extra`: Brevitas
    /// writes ONNX's LSTM op (opset 14), but its files do not load in ONNX Runtime (their Squeeze
    /// of the sequence output takes the batch axis: recorded `check_error`), so ours are compared
    /// with Brevitas's recorded eval output (out, h_n, c_n) in ONNX Runtime (QCDQ) and qonnx.
    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func weightOnlyLSTMExportsMatchBrevitasEval() throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/layers-extra/lstm_weight_only_float_cell.json")
        let json = try JSON.load(contentsOf: file)
        #expect(json["exports"]?["qcdq"]?["check_error"]?.string?.contains("Squeeze") == true)
        let modelSpec = try #require(json["spec"]?["model"])
        let model = try SpecModel.build(modelSpec)
        let state = json["final_state"] ?? json["steps"]?.array?.last?["state_after"]
        if let state, let root = model.module { try loadRecordedState(state, of: json, into: root) }
        let lstm = try FinalModel.exportable(model, modelSpec)
        let x = try Records.tensor(try #require(json["export_input"]?["x"]))
        let expected = try #require(json["export_output"])
        let refs = try ["out", "h_n", "c_n"].map { try Records.tensor(try #require(expected[$0])) }
        for f in ONNXFormat.allCases {
            try batch.add("lstm_weight_only_float_cell", lstm, [x], f, reference: refs[0], extraReferences: Array(refs[1...]))
        }
        let (results, stderr) = try batch.check(python: env.python)
        for key in batch.caseKeys {
            let r = try #require(results[key], "no result; stderr:\n\(stderr.suffix(3000))")
            print("ONNXExportTests: \(key) \(r.executor): \(r.json.filter { $0.key.hasPrefix("vs_") || $0.key.hasPrefix("max_abs") })")
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
            #expect(r.json["vs_export_output_c_n"] != nil)
        }
    }
}
