import Foundation
import GraphQuant
import NN
import TensorEngine

/// What `eval`, `inspect` and `run` do with a graph run folder.
extension GraphRun {
    /// The labelled test data for a graph run: `--test/--labels` when given, else the files
    /// recorded by `quantize`, else `dataset` (with `dataDir`); examples must fit the model.
    static func testData(_ config: GraphRunConfig, test: String?, labels: String?, dataset: DatasetChoice?, dataDir: String?,
                         split: Split) throws -> (data: TensorDataset, name: String) {
        let data: TensorDataset
        let name: String
        if let dataset {
            data = try dataset.load(split, directory: dataDir)
            name = "\(dataset.rawValue) \(split.rawValue)"
        } else if let x = test ?? config.test, let y = labels ?? config.labels {
            let tx = try QuantizeRun.readTensor(x, "test")
            data = TensorDataset(inputs: tx, labels: try QuantizeRun.readLabels(y, count: tx.shape[0], testFile: x))
            name = URL(fileURLWithPath: x).lastPathComponent
        } else {
            throw CLIError("no labelled test data: the run was quantized without --test/--labels; give --test X.npy --labels Y.npy (or --dataset)")
        }
        guard data.exampleShape == config.inputShape else {
            throw CLIError("the test data has examples of shape \(data.exampleShape), but the model takes \(config.inputShape)")
        }
        return (data, name)
    }

    /// `brevitas eval RUN`: the quantized graph's accuracy.
    static func evalLine(_ path: String, test: String?, labels: String?, dataset: DatasetChoice?, dataDir: String?, split: Split) throws -> String {
        let start = Date()
        let (q, config) = try load(URL(fileURLWithPath: path))
        let (data, name) = try testData(config, test: test, labels: labels, dataset: dataset, dataDir: dataDir, split: split)
        if let b = config.importBatch, data.count % b != 0 {
            throw CLIError("the model of \(path) fixes the batch size to \(b); the test data has \(data.count) examples, not a multiple of \(b)")
        }
        let correct = try QuantizeReport.correct(data.inputs, data.labels, batch: config.importBatch ?? 500) { try q.output($0) }
        let accuracy = Double(correct) / Double(max(data.count, 1))
        return "\(path): graph-quantized \(config.quantize.summary) on \(name): accuracy \(percent(accuracy)) "
            + "(\(correct)/\(data.count)), \(f(Date().timeIntervalSince(start), 2)) s"
    }

    /// `brevitas inspect RUN`: the quantized graph, its quantization points with their scales and
    /// the per-layer error, measured on up to `batch` examples of the run's data.
    static func inspectReport(_ path: String, batch: Int, full: Bool) throws -> String {
        let folder = URL(fileURLWithPath: path)
        let (q, config) = try load(folder)
        let x: Tensor
        let what: String
        if let test = config.test, FileManager.default.fileExists(atPath: test) {
            let t = try QuantizeRun.readTensor(test, "test")
            x = t.narrow(dim: 0, start: 0, length: min(config.importBatch ?? batch, t.shape[0])).contiguous()
            what = "the first \(x.shape[0]) test examples"
        } else if let calib = config.calib, FileManager.default.fileExists(atPath: calib) {
            let t = try QuantizeRun.readTensor(calib, "calibration")
            x = t.narrow(dim: 0, start: 0, length: min(config.importBatch ?? batch, t.shape[0])).contiguous()
            what = "the first \(x.shape[0]) calibration examples"
        } else {
            throw CLIError("the data files of \(path) (config.json: calib, test) are gone: inspect needs examples to run")
        }
        guard Array(x.shape.dropFirst()) == config.inputShape else {
            throw CLIError("the recorded data has examples of shape \(Array(x.shape.dropFirst())), but the model takes \(config.inputShape)")
        }
        let float = try importFloat(folder.appendingPathComponent(GraphRunConfig.floatModelFile), input: config.input,
                                    exampleShape: config.inputShape, batch: config.importBatch ?? 1)
        try preprocessForQuantize(float)
        let report: QuantizeReport
        do {
            report = QuantizeReport(model: GraphRunConfig.floatModelFile, settings: config.quantize, stages: [], accuracy: nil, sample: what,
                                    layers: try QuantizeReport.layerErrors(quant: q, float: float, on: x),
                                    quantPoints: QuantizeReport.points(try q.quantizationPoints(on: x)))
        } catch let e as GraphQuantError {
            throw CLIError(e.description)
        }
        var out = ["\(path): graph-quantized \(config.quantize.summary) of \(config.source)"
                   + (config.training.map { ", fine-tuned \($0.epochs) epochs on \($0.data)" } ?? ""), ""]
        out.append(full ? q.description : ModelReport.tree(q))
        out += ["", report.renderErrors(), "", report.renderPoints()]
        return out.joined(separator: "\n")
    }

    /// `brevitas run RUN --input X.npy`: the quantized graph's output.
    static func output(_ path: String, input x: Tensor, file: String) throws -> Tensor {
        let (q, config) = try load(URL(fileURLWithPath: path))
        guard x.rank == config.inputShape.count + 1, Array(x.shape.dropFirst()) == config.inputShape else {
            throw CLIError("\(file) has shape \(x.shape), the model takes [N] + \(config.inputShape)")
        }
        guard let b = config.importBatch else {
            do { return try Autograd.noGrad { try q.output(x) } } catch let e as GraphQuantError { throw CLIError(e.description) }
        }
        guard x.shape[0] % b == 0 else {
            throw CLIError("the model of \(path) fixes the batch size to \(b); \(file) has \(x.shape[0]) examples, not a multiple of \(b)")
        }
        do {
            let parts = try stride(from: 0, to: x.shape[0], by: b).map { at in
                try Autograd.noGrad { try q.output(x.narrow(dim: 0, start: at, length: b).contiguous()) }
            }
            return Tensor.cat(parts, dim: 0)
        } catch let e as GraphQuantError {
            throw CLIError(e.description)
        }
    }
}
