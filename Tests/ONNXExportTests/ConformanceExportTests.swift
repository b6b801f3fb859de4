import Foundation
@testable import Conformance
import NN
import ONNXExport
import QuantNN
import Testing
import TensorEngine

/// The conformance cases that ship Brevitas's own exports (conv, linear, QAT): rebuild each
/// model from its spec with the conformance runner, load the state after the last step, export
/// it in both formats and run it. The graph must reproduce the Swift eval output (as every
/// export), and the checker also reports how far our graph's output is from Brevitas's recorded
/// `export_output` and from Brevitas's own file run in the same runtime on the same input.
@Suite struct ConformanceExportTests {
    @Test(.enabled(if: PythonEnv.available && ConformanceFiles.available,
                   "needs Python with onnx + onnxruntime and ../shared/conformance/cases"))
    func conformanceModelsExportLikeBrevitas() throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        for name in ConformanceFiles.exportCases {
            let json = try JSON.load(contentsOf: ConformanceFiles.dir.appendingPathComponent("\(name).json"))
            guard let spec = json["spec"], let modelSpec = spec["model"], let input = json["export_input"],
                  let expected = json["export_output"] else {
                Issue.record("\(name): no export fields")
                continue
            }
            let model = try SpecModel.build(modelSpec)
            let state = json["final_state"] ?? json["steps"]?.array?.last?["state_after"]
            if let state, let root = model.module { try ModuleState.load(state, into: root) }
            let exportModel = try FinalModel.exportable(model, modelSpec)
            let x = try Records.tensor(input)
            let ref = try Records.tensor(expected.isQuantTensor ? expected["value"]! : expected)
            for f in ONNXFormat.allCases {
                let brevitasFile = ConformanceFiles.dir.appendingPathComponent("\(name).\(f.rawValue).onnx")
                try batch.add(name, exportModel, [x], f, reference: ref, referenceONNX: brevitasFile)
            }
        }
        let (results, stderr) = try batch.check(python: env.python)
        print("ONNXExportTests: conformance exports, checker \(env.summary)")
        for key in batch.caseKeys {
            guard let r = results[key] else {
                Issue.record("\(key): no result from check_onnx.py; stderr:\n\(stderr.suffix(3000))")
                continue
            }
            let vsRef = r.json["vs_export_output"] as? Double ?? .nan
            let vsFile = r.json["vs_brevitas_onnx"] as? Double ?? .nan
            print(String(format: "  %-40@ %@ vs Swift %-9.3g vs Brevitas export_output %-9.3g vs Brevitas's file %-9.3g max|out| %.3g",
                         key as NSString, r.ok ? "ok  " : "FAIL", r.maxAbsDiff, vsRef, vsFile, r.maxAbsRef))
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
        }
    }
}

