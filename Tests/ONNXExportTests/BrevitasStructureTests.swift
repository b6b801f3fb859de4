import Foundation
@testable import Conformance
import NN
import ONNXExport
import ONNXProto
import QuantNN
import Testing
import TensorEngine

/// Our exports of the layers family compared node for node with the files Brevitas 0.13.4
/// wrote for the same model in the same state: the same ops, domains and attributes, wired the
/// same way, with the same initializer values (ONNXTree; node order and tensor names aside).
/// Decoded in Swift: runs without Python.
@Suite struct BrevitasStructureTests {
    /// The case's model after its last step, and its export input.
    func finalModel(_ name: String) throws -> (Module, Tensor) {
        let json = try JSON.load(contentsOf: ConformanceFiles.layersDir.appendingPathComponent("\(name).json"))
        let modelSpec = try #require(json["spec"]?["model"])
        let model = try SpecModel.build(modelSpec)
        let state = json["final_state"] ?? json["steps"]?.array?.last?["state_after"]
        if let state, let root = model.module { try loadRecordedState(state, of: json, into: root) }
        let input = try #require(json["export_input"])
        let x = try Records.tensor(input["x"] ?? input)
        return (try FinalModel.exportable(model, modelSpec), x)
    }

    func brevitasFile(_ name: String, _ format: ONNXFormat) throws -> Onnx_ModelProto {
        let url = ConformanceFiles.layersDir.appendingPathComponent("\(name).\(format.rawValue).onnx")
        return try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
    }

    /// QuantLSTM (`lstm_default`) in QONNX: the input Quant, the eight weight Quants (narrow,
    /// shared scale per gate), the four 32-bit bias Quants, the QuantLSTMCell with its 48
    /// inputs and 36 attributes, and the Unsqueezes of h_n and c_n: all three outputs.
    @Test(.enabled(if: ConformanceFiles.layersAvailable, "needs ../shared/conformance/layers"))
    func lstmQONNXHasBrevitasStructure() throws {
        let (lstm, x) = try finalModel("lstm_default")
        let ours = try Onnx_ModelProto(serializedBytes: try exportONNX(lstm, example: x, format: .qonnx))
        let theirs = try brevitasFile("lstm_default", .qonnx)
        #expect(ours.graph.output.count == 3 && theirs.graph.output.count == 3)
        let a = ONNXTree.trees(ours, outputs: [0, 1, 2]), b = ONNXTree.trees(theirs, outputs: [0, 1, 2])
        for (k, (t1, t2)) in zip(a, b).enumerated() {
            let d = ONNXTree.differences(t1, t2, path: "output \(k)")
            #expect(d.isEmpty, "\(d.prefix(8).joined(separator: "\n"))")
        }
        let cell = try #require(ours.graph.node.first { $0.opType == "QuantLSTMCell" })
        #expect(cell.domain == "qonnx.custom_op.general" && cell.input.count == 48 && cell.attribute.count == 36)
        // The tree comparison is not vacuous: a different bit width is seen.
        guard case .node(let op, let dom, var attrs, let k, let ins) = a[0] else { Issue.record("output 0 is not a node"); return }
        attrs["cell_state_signed"] = "0"
        #expect(!ONNXTree.differences(.node(op: op, domain: dom, attributes: attrs, output: k, inputs: ins), b[0]).isEmpty)
    }

    /// A2Q on a convolution: QCDQ identical to Brevitas's file (the integer weights included);
    /// QONNX identical except the values fed to the weight's Quant (ours the quantized weight,
    /// Brevitas's the float weight; see Exporter.emitWeight).
    @Test(.enabled(if: ConformanceFiles.layersAvailable, "needs ../shared/conformance/layers"),
          arguments: ["a2q_conv_acc12_sgd", "a2qplus_conv_acc12_sgd"])
    func accumulatorAwareConvHasBrevitasStructure(name: String) throws {
        let (conv, x) = try finalModel(name)
        for format in ONNXFormat.allCases {
            let ours = try Onnx_ModelProto(serializedBytes: try exportONNX(conv, example: x, format: format))
            let theirs = try brevitasFile(name, format)
            let a = ONNXTree.trees(ours, outputs: [0])[0], b = ONNXTree.trees(theirs, outputs: [0])[0]
            let d = ONNXTree.differences(a, b, path: "\(format)") { path in format == .qonnx && path == "qonnx/Conv[1]/Quant[0]" }
            #expect(d.isEmpty, "\(name) \(format):\n\(d.prefix(8).joined(separator: "\n"))")
        }
    }
}

/// Loads a layers-family state as the runner does: Brevitas's `_fast_cell` names folded onto
/// ours, and every recorded name also tried under its `state_aliases`.
func loadRecordedState(_ state: JSON, of json: JSON, into root: Module) throws {
    var aliases: [String: [String]] = [:]
    for (name, others) in json["state_aliases"]?.object?.pairs ?? [] { aliases[name] = others.array?.compactMap(\.string) ?? [] }
    try ModuleState.load(Replay.foldingFastCellKeys(state), into: root, aliases: aliases)
}
