import Foundation
import Graph
import NN
import ONNXImport

/// `brevitas inspect MODEL.onnx`: the imported graph module.
extension InspectCommand {
    /// The file's producer and opset, the inputs and outputs, the parameter count, then the
    /// module tree and the graph, one node per line.
    func onnxReport() throws -> String {
        var shapes: [String: [Int]] = [:]
        let url = URL(fileURLWithPath: model.checkpoint)
        for spec in inputShape {
            var name: String?
            var dims = spec
            if let eq = spec.firstIndex(of: "=") {
                name = String(spec[..<eq])
                dims = String(spec[spec.index(after: eq)...])
            }
            let values = dims.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                throw CLIError("--input-shape '\(spec)' is not a comma-separated list of non-negative integers (e.g. 1,3,32,32)")
            }
            let inputName: String
            if let name { inputName = name } else {
                let declared: [String]
                do { declared = try ONNXImporter.inputNames(url) } catch { throw CLIError("\(error)") }
                guard declared.count == 1 else { throw CLIError("the model has inputs \(declared.joined(separator: ", ")): write --input-shape NAME=\(dims)") }
                inputName = declared[0]
            }
            shapes[inputName] = values.map { $0! }
        }
        let imported: ImportedModel
        do {
            imported = try ONNXImporter.load(url, inputShapes: shapes)
        } catch let error as ONNXImportError {
            throw CLIError(error.description)
        }
        let parameters = imported.graph.parameters().reduce(0) { $0 + $1.count }
        var out = ["\(model.checkpoint): ONNX opset \(imported.opsetVersion)\(imported.producer.isEmpty ? "" : ", from \(imported.producer)")"]
        out += imported.inputs.map { "  input  \($0.name): float32 \($0.shape)" }
        out += zip(imported.outputNames, imported.graph.outputNames).map { "  output \($0.0) (graph value \($0.1))" }
        out += ["  \(imported.graph.nodes.count) nodes, \(imported.graph.moduleNodes.count) module calls, \(parameters) parameters", ""]
        out.append(imported.graph.description)
        return out.joined(separator: "\n")
    }
}
