import Foundation
import Graph
import GraphQuant
import NN
import ONNXImport
import TensorEngine

/// One `brevitas quantize` run: read and check the inputs, run the pipeline, measure, write the
/// run folder atomically.
final class QuantizeRun {
    let model: String
    let calib: String
    let test: String?
    let labels: String?
    let settings: QuantizeSettings
    let out: String
    var shouldStop: () -> Bool = { false }
    let progress: Progress
    let print: (String) -> Void

    init(model: String, calib: String, test: String?, labels: String?, settings: QuantizeSettings, out: String,
         progress: Progress = Progress(), print: @escaping (String) -> Void = { Swift.print($0) }) {
        self.model = model
        self.calib = calib
        self.test = test
        self.labels = labels
        self.settings = settings
        self.out = out
        self.progress = progress
        self.print = print
    }

    /// What the run produced.
    struct Result {
        var report: QuantizeReport
        var folder: URL
        /// The quantized model as the pipeline left it.
        var model: QuantGraphModule
        /// The ONNX files, each with the reason it was not written (`nil` when it was).
        var exports: [(file: String, problem: String?)]
    }

    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    static func readArray(_ path: String, _ what: String) throws -> NumPyArray {
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(what) file '\(path)' does not exist") }
        do { return try NumPy.read(URL(fileURLWithPath: path)) } catch let e as NumPyError { throw CLIError(e.description) }
    }

    static func readTensor(_ path: String, _ what: String) throws -> Tensor {
        do { return try readArray(path, what).tensor(file: path) } catch let e as NumPyError { throw CLIError(e.description) }
    }

    /// Class labels from an integer `.npy` (int64/int32/uint8, or floats holding integers), one per example.
    static func readLabels(_ path: String, count: Int, testFile: String) throws -> [Int] {
        let a = try readArray(path, "labels")
        guard a.shape.count == 1 || (a.shape.count == 2 && a.shape[1] == 1) else {
            throw CLIError("labels '\(path)' have shape \(a.shape); expected [\(count)] (one class index per test input)")
        }
        let values: [Int]
        switch a.values {
        case .int64(let v): values = v.map { Int($0) }
        case .int32(let v): values = v.map { Int($0) }
        case .uint8(let v): values = v.map { Int($0) }
        case .float32(let v):
            guard v.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else { throw CLIError("labels '\(path)' hold non-integer values") }
            values = v.map { Int($0) }
        case .float64(let v):
            guard v.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else { throw CLIError("labels '\(path)' hold non-integer values") }
            values = v.map { Int($0) }
        }
        guard values.count == count else {
            throw CLIError("labels '\(path)' have \(values.count) entries but the test inputs '\(testFile)' have \(count) examples")
        }
        if let bad = values.first(where: { $0 < 0 }) { throw CLIError("labels '\(path)' hold the negative class \(bad)") }
        return values
    }

    /// The model's one input and one example's shape, checked against `x` (named `file`):
    /// a wrong shape is an error naming both.
    /// `batch`: the batch size the file fixes (`nil` when symbolic); the import is specialised to it.
    static func modelInput(_ url: URL, data x: Tensor, file: String, what: String) throws -> (name: String, example: [Int], batch: Int?) {
        let declared: [(name: String, shape: [Int?]?)]
        do { declared = try ONNXImporter.declaredInputs(url) } catch let e as ONNXImportError { throw CLIError(e.description) }
        guard declared.count == 1 else {
            throw CLIError("'\(url.path)' has \(declared.count) inputs (\(declared.map(\.name).joined(separator: ", "))); brevitas quantize takes models with one input")
        }
        let example = Array(x.shape.dropFirst())
        guard x.rank >= 1, x.shape[0] > 0 else { throw CLIError("\(what) '\(file)' has shape \(x.shape): no examples") }
        var batch: Int?
        if let dims = declared[0].shape {
            batch = dims.first ?? nil
            let shown = "[" + dims.enumerated().map { i, d in d.map(String.init) ?? (i == 0 ? "N" : "?") }.joined(separator: ", ") + "]"
            let fits = dims.count == x.rank && zip(dims.dropFirst(), example).allSatisfy { d, e in d == nil || d == e }
            guard fits else {
                throw CLIError("\(what) '\(file)' has shape \(x.shape), but the model's input '\(declared[0].name)' takes \(shown)")
            }
        }
        return (declared[0].name, example, batch)
    }

    func run() throws {
        _ = try execute()
    }

    /// Runs the whole command; returns the report and where it was written.
    @discardableResult
    func execute() throws -> Result {
        let start = Date()
        let modelURL = URL(fileURLWithPath: model)
        guard FileManager.default.fileExists(atPath: model) else { throw CLIError("model '\(model)' does not exist") }
        let problems = settings.problems()
        guard problems.isEmpty else { throw CLIError(problems.joined(separator: "; ")) }
        let x = try Self.readTensor(calib, "calibration")
        let (inputName, example, fixedBatch) = try Self.modelInput(modelURL, data: x, file: calib, what: "calibration data")
        let importBatch = fixedBatch ?? 1
        var settings = self.settings
        if let b = fixedBatch {
            // A file that fixes the batch (shape arithmetic folded for it) runs on batches of that size only.
            guard x.shape[0] % b == 0 else {
                throw CLIError("the model '\(model)' fixes the batch size to \(b); the calibration data '\(calib)' has \(x.shape[0]) examples, not a multiple of \(b)")
            }
            if settings.calibrationBatchSize != b {
                print("note: the model fixes the batch size to \(b): calibrating in batches of \(b)")
                settings.calibrationBatchSize = b
            }
        }
        var testSet: (x: Tensor, labels: [Int])?
        if let test {
            let tx = try Self.readTensor(test, "test")
            if let b = fixedBatch, tx.shape[0] % b != 0 {
                throw CLIError("the model '\(model)' fixes the batch size to \(b); the test data '\(test)' has \(tx.shape[0]) examples, not a multiple of \(b)")
            }
            guard Array(tx.shape.dropFirst()) == example else {
                throw CLIError("test data '\(test)' has shape \(tx.shape), the calibration data \(x.shape): their examples must have the same shape")
            }
            testSet = (tx, try labels.map { try Self.readLabels($0, count: tx.shape[0], testFile: test) } ?? [])
        }

        let graph = try GraphRun.importFloat(modelURL, input: inputName, exampleShape: example, batch: importBatch)
        try QuantizePipeline.check(settings) { try GraphRun.importFloat(modelURL, input: inputName, exampleShape: example, batch: importBatch) }
        print("brevitas quantize \(model): \(settings.summary); calibration \(x.shape[0]) examples of \(example)")
        let work = QuantizeWork(settings: settings, graph: graph, calibration: x)
        work.shouldStop = shouldStop
        let progress = self.progress
        work.progress = { text in progress.status(text) }
        let stages = QuantizePipeline.stages(settings)
        let records: [StageRecord]
        do {
            records = try QuantizePipeline.run(work, stages: stages) { r in
                self.print("  \(r.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(f(r.milliseconds, 1).leftPadded(8)) ms  \(r.detail)")
            }
        } catch let e as GraphQuantError {
            progress.status(nil)
            throw CLIError(e.description)
        }
        let q = work.quantized("report")

        // The report: a float twin (BatchNorms merged, nothing quantized) to measure against.
        let float = try GraphRun.importFloat(modelURL, input: inputName, exampleShape: example, batch: importBatch)
        try preprocessForQuantize(float)
        var accuracy: QuantizeReport.Accuracy?
        if let t = testSet, !t.labels.isEmpty {
            let fc = try QuantizeReport.correct(t.x, t.labels, batch: fixedBatch ?? 500) { float($0) }
            let qc = try QuantizeReport.correct(t.x, t.labels, batch: fixedBatch ?? 500) { try q.output($0) }
            let n = t.labels.count
            accuracy = .init(examples: n, floatCorrect: fc, quantizedCorrect: qc, float: Double(fc) / Double(n), quantized: Double(qc) / Double(n))
        }
        let sampleX: Tensor
        let sample: String
        if let t = testSet {
            let n = fixedBatch ?? min(256, t.x.shape[0])
            sampleX = t.x.narrow(dim: 0, start: 0, length: n).contiguous()
            sample = "the first \(n) test examples"
        } else {
            sampleX = try work.batch(0)
            sample = "the first calibration batch (\(sampleX.shape[0]) examples)"
        }
        let report: QuantizeReport
        do {
            report = QuantizeReport(
                model: modelURL.lastPathComponent, settings: settings, stages: records, accuracy: accuracy, sample: sample,
                layers: try QuantizeReport.layerErrors(quant: q, float: float, on: sampleX),
                quantPoints: QuantizeReport.points(try q.quantizationPoints(on: sampleX)))
        } catch let e as GraphQuantError {
            throw CLIError(e.description)
        }
        if shouldStop() { throw QuantizeInterrupted() }

        let config = GraphRunConfig(input: inputName, inputShape: example, importBatch: fixedBatch, source: Self.absolute(model), quantize: settings,
                                    stages: stages.map(\.name), calib: Self.absolute(calib), test: test.map(Self.absolute),
                                    labels: labels.map(Self.absolute), training: nil)
        let outURL = URL(fileURLWithPath: out)
        var exports: [(file: String, problem: String?)] = []
        try GraphRun.writeAtomically(outURL) { dir in
            exports = try Self.writeFolder(dir, model: q, floatModel: modelURL, config: config, report: report,
                                           example: sampleX.narrow(dim: 0, start: 0, length: importBatch).contiguous())
        }
        if let a = accuracy {
            print("accuracy on \(a.examples) test examples: float \(percent(a.float)) (\(a.floatCorrect)), quantized \(percent(a.quantized)) (\(a.quantizedCorrect))")
        }
        let files = ["model.safetensors", "config.json", "float.onnx", "report.json", "report.txt"] + exports.filter { $0.problem == nil }.map(\.file)
        print("wrote \(outURL.path): \(files.joined(separator: ", ")) (\(f(Date().timeIntervalSince(start), 2)) s)")
        for e in exports { if let problem = e.problem { print("not exported: \(e.file): \(problem)") } }
        return Result(report: report, folder: outURL, model: q, exports: exports.map { ($0.file, $0.problem) })
    }

    /// The files of a graph run folder.
    /// Copies the float model into `dir` as `float.onnx`, with the external data files it names
    /// (at the same relative paths, so the copy loads as the original does).
    static func copyFloatModel(_ floatModel: URL, into dir: URL) throws {
        let fm = FileManager.default
        let files: [String]
        do { files = try ONNXImporter.externalDataFiles(floatModel) } catch let e as ONNXImportError { throw CLIError(e.description) }
        do {
            let copy = dir.appendingPathComponent(GraphRunConfig.floatModelFile)
            if fm.fileExists(atPath: copy.path) { try fm.removeItem(at: copy) }
            try fm.copyItem(at: floatModel, to: copy)
            for file in files {
                let target = dir.appendingPathComponent(file)
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
                try fm.copyItem(at: floatModel.deletingLastPathComponent().appendingPathComponent(file), to: target)
            }
        } catch {
            throw CLIError("cannot copy \(floatModel.path) and its data into the run folder: \(AtomicFile.reason(error))")
        }
    }

    /// Returns the ONNX exports (`model.qcdq.onnx`, `model.qonnx.onnx`, dynamic batch, traced on
    /// `example`), each with the reason it could not be written (`nil` when it was): a model the
    /// format cannot express (QCDQ above 8 bits, an op without translation) is not an error of the run.
    @discardableResult
    static func writeFolder(_ dir: URL, model q: QuantGraphModule, floatModel: URL, config: GraphRunConfig, report: QuantizeReport?,
                            example: Tensor) throws -> [(file: String, problem: String?)] {
        try copyFloatModel(floatModel, into: dir)
        try Checkpoint.save(q, to: dir.appendingPathComponent("model.safetensors"))
        try AtomicFile.writeJSON(config, to: dir.appendingPathComponent("config.json"))
        if let report {
            try AtomicFile.writeJSON(report, to: dir.appendingPathComponent("report.json"))
            try AtomicFile.write(report.render() + "\n", to: dir.appendingPathComponent("report.txt"))
        }
        return ONNXFiles.write(q, example: example, folder: dir, dynamicBatch: true)
    }
}

extension String {
    /// The string right-aligned in `width` characters.
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
