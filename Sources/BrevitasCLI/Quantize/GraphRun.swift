import Foundation
import Graph
import GraphQuant
import NN
import ONNXImport
import QuantNN
import TensorEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `config.json` of a graph run (a folder written by `brevitas quantize`, or by `brevitas train`
/// fine-tuning one): the float model it came from, how it was quantized, and its data.
struct GraphRunConfig: Codable, Equatable {
    static let formatName = "swift-brevitas-graph-run-1"
    /// The copy of the float ONNX model inside the folder.
    static let floatModelFile = "float.onnx"

    var format = GraphRunConfig.formatName
    /// The ONNX input name and one example's shape (without the batch dimension).
    var input: String
    var inputShape: [Int]
    /// The batch size the ONNX file fixes (`nil`: symbolic); the import is specialised to it.
    var importBatch: Int?
    /// Where the float model came from (informative; the folder holds its copy).
    var source: String
    var quantize: QuantizeSettings
    /// The stage names, in the order they ran.
    var stages: [String]
    /// The data files given to `quantize` (absolute paths), for `eval` and `inspect`.
    var calib: String?
    var test: String?
    var labels: String?
    /// Set by `brevitas train` when the folder holds a fine-tuned model.
    var training: GraphTraining?

    /// Reads `config.json` of a graph run; a ``CLIError`` for a missing or malformed file.
    static func load(_ url: URL) throws -> GraphRunConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CLIError("cannot read \(url.path): \(AtomicFile.reason(error))")
        }
        let config: GraphRunConfig
        do { config = try JSONDecoder().decode(GraphRunConfig.self, from: data) } catch {
            throw CLIError("\(url.path) is not a swift-brevitas graph run config: \(RunConfig.describe(error))")
        }
        guard config.format == formatName else {
            throw CLIError("\(url.path) has format '\(config.format)', expected '\(formatName)'")
        }
        let problems = config.quantize.problems()
        guard problems.isEmpty else { throw CLIError("\(url.path): " + problems.joined(separator: "; ")) }
        guard !config.inputShape.isEmpty, config.inputShape.allSatisfy({ $0 > 0 }) else {
            throw CLIError("\(url.path): input_shape \(config.inputShape) is not a shape")
        }
        return config
    }
}

/// How a graph run was fine-tuned by `brevitas train`.
struct GraphTraining: Codable, Equatable {
    var from: String
    var epochs: Int
    var batchSize: Int
    var learningRate: Float
    var optimizer: OptimizerChoice
    var seed: UInt64
    var data: String
}

/// A graph run folder: `config.json`, `float.onnx`, `model.safetensors` (the quantized graph's
/// state dict, Brevitas's keys), `report.json` / `report.txt`.
enum GraphRun {
    /// Whether `path` is a graph run folder (its `config.json` has the graph-run format).
    static func isGraphRun(_ path: String) -> Bool {
        let config = URL(fileURLWithPath: path).appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: config),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return false }
        return object["format"] as? String == GraphRunConfig.formatName
    }

    /// The float model of a folder (or of an ONNX file) imported for inputs of `[batch] + shape`.
    static func importFloat(_ url: URL, input: String, exampleShape: [Int], batch: Int) throws -> GraphModule {
        do {
            let graph = try ONNXImporter.load(url, inputShapes: [input: [batch] + exampleShape]).graph
            graph.eval()
            return graph
        } catch let e as ONNXImportError {
            throw CLIError(e.description)
        }
    }

    /// Rebuilds the quantized model of a run folder: imports its float model, replays the
    /// structural stages, loads `model.safetensors` (every key must fit).
    static func load(_ folder: URL) throws -> (model: QuantGraphModule, config: GraphRunConfig) {
        let config = try GraphRunConfig.load(folder.appendingPathComponent("config.json"))
        let float = try importFloat(folder.appendingPathComponent(GraphRunConfig.floatModelFile), input: config.input,
                                    exampleShape: config.inputShape, batch: config.importBatch ?? 1)
        let work = QuantizeWork(settings: config.quantize, graph: float, calibration: Tensor.zeros([1] + config.inputShape))
        do {
            try QuantizePipeline.rebuild(work, stages: QuantizePipeline.stages(config.quantize))
        } catch let e as GraphQuantError {
            throw CLIError("cannot rebuild the model of \(folder.path): \(e)")
        }
        guard let q = work.quant else { throw CLIError("the stages of \(folder.path) do not quantize the model") }
        let state = try Checkpoint.read(folder.appendingPathComponent("model.safetensors"))
        // Bias correction gives layers without a bias one: the checkpoint says which.
        for case (let path, let l as QuantWeightBiasLayer) in q.namedModules() where l.bias == nil {
            guard let b = state[path + ".bias"], l is QuantConv2d || l is QuantConv1d || l is QuantLinear else { continue }
            guard b.shape == [l.weight.shape[0]] else {
                throw CLIError("model.safetensors of \(folder.path): '\(path).bias' is \(b.shape), the layer has \(l.weight.shape[0]) output channels")
            }
            l.addBias(Tensor.zeros(b.shape))
        }
        let problems = Checkpoint.mismatch(state, q)
        guard problems.isEmpty else {
            throw CLIError("model.safetensors of \(folder.path) does not fit its quantized graph: \(problems)")
        }
        try q.loadStateDict(state, strict: true)
        q.eval()
        return (q, config)
    }

    /// Writes a run folder whole or not at all (``AtomicWrite/folder(_:_:)``): `write` fills a
    /// temporary folder beside `out`, which is then exchanged with `out` in one step. An existing
    /// `out` is replaced only if it is an earlier run folder (graph run or `brevitas train` run)
    /// or empty; anything else is an error. If `write` throws, or the process dies at any point,
    /// `out` is untouched: the previous folder, whole. A kill leaves a hidden
    /// `.NAME.brevitas-tmp-PID-*` folder beside it, which the next successful write removes.
    static func writeAtomically(_ out: URL, _ write: (URL) throws -> Void) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: out.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CLIError("--out '\(out.path)' exists and is not a folder") }
            let contents = (try? fm.contentsOfDirectory(atPath: out.path)) ?? []
            guard contents.isEmpty || contents.contains("config.json") else {
                throw CLIError("--out '\(out.path)' exists and is not a run folder; choose a new folder")
            }
        }
        try AtomicFile.prepareDirectory(out.deletingLastPathComponent())
        do {
            try AtomicWrite.folder(out, write)
        } catch let e as AtomicWriteError {
            throw CLIError(e.description)
        }
    }
}
