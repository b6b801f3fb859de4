import Foundation
import NN
import ONNXExport
import QuantNN
import TensorEngine

/// A case's model in its final state, for export: rebuilt from the spec, loaded with the state
/// after the last step (or `final_state`), with the case's `export_input`.
public struct FinalModel {
    public let name: String
    public let model: Module
    public let inputs: [Tensor]

    /// The final model of the case in `file`, or `nil` for cases without an exportable model
    /// (notebook cells, graphs, cases that expect an error, cases without `export_input` and no
    /// recorded input).
    public static func load(file: URL) throws -> FinalModel? {
        let json = try JSON.load(contentsOf: file)
        let name = file.deletingPathExtension().lastPathComponent
        guard json["expected_error"] == nil, json["reference_error"] == nil,
              let spec = json["spec"], let modelSpec = spec["model"] else { return nil }
        let model = try SpecModel.build(modelSpec)
        let state = json["final_state"] ?? json["steps"]?.array?.last?["state_after"]
        if let state, let root = model.module { try ModuleState.load(state, into: root) }
        guard let exportModel = try? exportable(model, modelSpec) else { return nil }
        var inputs: [Tensor] = []
        if let x = json["export_input"] {
            inputs = [try Records.tensor(x)]
        } else if let step = json["steps"]?.array?.last, let names = spec["inputs"]?.array, let recorded = step["inputs"] {
            for n in names {
                guard let key = n.string, let v = recorded[key], !v.isQuantTensor else { return nil }
                inputs.append(try Records.tensor(v))
            }
        }
        if inputs.isEmpty { return nil }
        return FinalModel(name: name, model: exportModel, inputs: inputs)
    }

    /// Writes `<dir>/<name>.qcdq.onnx` and `<dir>/<name>.qonnx.onnx`; returns the formats that
    /// could not be written with the reason (e.g. a 16-bit quantizer in QCDQ).
    public func export(to dir: URL) -> [(ONNXFormat, Error)] {
        var failures: [(ONNXFormat, Error)] = []
        for f in ONNXFormat.allCases {
            do {
                _ = try exportONNX(model, examples: inputs, format: f, to: dir.appendingPathComponent("\(name).\(f.rawValue).onnx"))
            } catch {
                failures.append((f, error))
            }
        }
        return failures
    }

    /// A model the exporter can walk: the layer itself, or a `QuantSequential` of the spec's
    /// elements (the same module objects, so the loaded state is theirs).
    static func exportable(_ model: SpecModel, _ spec: JSON) throws -> Module {
        switch model.kind {
        case .single(let l): return l
        case .multi(let l): return l
        // A QuantLSTM exports to QONNX (QuantLSTMCell); a QuantRNN is refused by the exporter.
        case .recurrent(let r): return r
        case .sequential(let children):
            var layers: [QuantLayer] = []
            for c in children {
                switch c.kind {
                case .single(let l): layers.append(l)
                case .flatten(let s, let e): layers.append(QuantFlatten(startDim: s, endDim: e))
                default: throw ReplayError.unsupported("sequential element is not a single layer")
                }
            }
            return QuantSequential(layers)
        default:
            throw ReplayError.unsupported("graph models are not exported")
        }
    }
}
