import Foundation
import GraphQuant
import NN
import TensorEngine

/// `brevitas train --from RUN`: quantization-aware fine-tuning of a graph run (a folder of
/// `brevitas quantize`) into a new graph run folder.
///
/// The quantized graph is rebuilt from the folder with its calibrated scales (the activation
/// scales are learned parameters from then on, as after Brevitas's calibration), trained with
/// cross-entropy on the chosen data, and saved after every epoch (atomically) with a
/// `metrics.json`; at the end the folder gets a `report.json` / `report.txt` like quantize's.
final class GraphTrainRun {
    struct Options {
        var from: String
        var dataset: DatasetChoice
        var dataDir: String?
        /// `--train-x/--train-y` (and optional `--test-x/--test-y`) arrays instead of a data set.
        var trainX: String?, trainY: String?, testX: String?, testY: String?
        var epochs: Int
        var batchSize: Int
        var learningRate: Float
        var optimizer: OptimizerChoice
        var seed: UInt64
        var limit: Int?
        var out: String
    }

    let options: Options
    var shouldStop: () -> Bool = { false }
    let progress: Progress
    let print: (String) -> Void

    init(options: Options, progress: Progress = Progress(), print: @escaping (String) -> Void = { Swift.print($0) }) {
        self.options = options
        self.progress = progress
        self.print = print
    }

    /// The train and test splits the options name, checked against the model's input.
    func data(_ config: GraphRunConfig) throws -> (splits: DataSplits, name: String) {
        let o = options
        var splits: DataSplits
        let name: String
        if let trainX = o.trainX, let trainY = o.trainY {
            let x = try QuantizeRun.readTensor(trainX, "training")
            let train = TensorDataset(inputs: x, labels: try QuantizeRun.readLabels(trainY, count: x.shape[0], testFile: trainX))
            let test: TensorDataset
            if let testX = o.testX, let testY = o.testY {
                let tx = try QuantizeRun.readTensor(testX, "test")
                test = TensorDataset(inputs: tx, labels: try QuantizeRun.readLabels(testY, count: tx.shape[0], testFile: testX))
            } else if let testX = config.test, let testY = config.labels {
                let tx = try QuantizeRun.readTensor(testX, "test (from the run's config)")
                test = TensorDataset(inputs: tx, labels: try QuantizeRun.readLabels(testY, count: tx.shape[0], testFile: testX))
            } else {
                throw CLIError("give --test-x and --test-y: the run '\(o.from)' was quantized without test data")
            }
            splits = try DataSplits(train: train, test: test)
            name = URL(fileURLWithPath: trainX).lastPathComponent
        } else {
            splits = try DataSplits(o.dataset, directory: o.dataDir)
            name = o.dataset.rawValue
        }
        if let limit = o.limit {
            splits = try DataSplits(train: splits.train.subset(Array(0..<min(limit, splits.train.count))),
                                    test: splits.test.subset(Array(0..<min(limit, splits.test.count))))
        }
        guard splits.inputShape == config.inputShape else {
            throw CLIError("the training data has examples of shape \(splits.inputShape), but the model of '\(o.from)' takes \(config.inputShape)")
        }
        return (splits, name)
    }

    /// Trains; returns the final test accuracy, or `nil` when interrupted.
    @discardableResult
    func run() throws -> Double? {
        let start = Date()
        let o = options
        let fromURL = URL(fileURLWithPath: o.from)
        guard GraphRun.isGraphRun(o.from) else {
            throw CLIError("--from '\(o.from)' is not a run folder of `brevitas quantize` (no config.json of format \(GraphRunConfig.formatName))")
        }
        let (q, fromConfig) = try GraphRun.load(fromURL)
        if let b = fromConfig.importBatch {
            throw CLIError("the model of '\(o.from)' fixes the batch size to \(b) (its ONNX input has no symbolic batch dimension); fine-tuning needs one: export it with a dynamic batch axis")
        }
        let (data, dataName) = try data(fromConfig)
        let outURL = URL(fileURLWithPath: o.out)
        guard outURL.standardizedFileURL.path != fromURL.standardizedFileURL.path else {
            throw CLIError("--out must be a new folder, not the run being fine-tuned ('\(o.from)')")
        }
        try AtomicFile.prepareDirectory(outURL)
        var config = fromConfig
        config.training = GraphTraining(from: QuantizeRun.absolute(o.from), epochs: o.epochs, batchSize: o.batchSize,
                                        learningRate: o.learningRate, optimizer: o.optimizer, seed: o.seed, data: dataName)
        try QuantizeRun.copyFloatModel(fromURL.appendingPathComponent(GraphRunConfig.floatModelFile), into: outURL)
        try AtomicFile.writeJSON(config, to: outURL.appendingPathComponent("config.json"))

        let before = try Trainer.evaluate(module: q, forward: { try q.output($0) }, data.test)
        print("brevitas train --from \(o.from): \(config.quantize.summary), \(dataName) (\(data.train.count) train / \(data.test.count) test), "
              + "\(o.optimizer.rawValue) lr \(o.learningRate), batch \(o.batchSize), seed \(o.seed)")
        print("before fine-tuning: test accuracy \(percent(before.accuracy)); writing to \(outURL.path)")
        let trainer = Trainer(module: q, forward: { try q.output($0) }, data: data, phase: "qat", epochs: o.epochs,
                              batchSize: o.batchSize, optimizer: o.optimizer, learningRate: o.learningRate, seed: o.seed)
        trainer.shouldStop = shouldStop
        let progress = self.progress
        trainer.onBatch = { progress.batch($0) }
        var epochs: [EpochResult] = []
        for epoch in 0..<o.epochs {
            guard let result = try trainer.runEpoch(epoch) else {
                progress.abandonLine()
                print(epochs.isEmpty ? "interrupted during epoch 1; no checkpoint was written"
                      : "interrupted during epoch \(epoch + 1); \(outURL.path) holds epoch \(epochs.count)")
                return nil
            }
            epochs.append(result)
            progress.epoch(result, epochs: o.epochs)
            try Checkpoint.save(q, to: outURL.appendingPathComponent("model.safetensors"))
            try AtomicFile.writeJSON(GraphTrainMetrics(before: before.accuracy, epochs: epochs, seconds: Date().timeIntervalSince(start)),
                                     to: outURL.appendingPathComponent("metrics.json"))
        }
        q.eval()
        let report = try finalReport(q, config: config, folder: fromURL, data: data, epochs: epochs)
        try AtomicFile.writeJSON(report, to: outURL.appendingPathComponent("report.json"))
        try AtomicFile.write(report.render() + "\n", to: outURL.appendingPathComponent("report.txt"))
        let after = epochs.last?.testAccuracy ?? before.accuracy
        print("test accuracy \(percent(before.accuracy)) before, \(percent(after)) after \(o.epochs) epoch\(o.epochs == 1 ? "" : "s") (\(f(Date().timeIntervalSince(start), 1)) s)")
        let exports = ONNXFiles.write(q, example: data.test.inputs.narrow(dim: 0, start: 0, length: 1).contiguous(), folder: outURL, dynamicBatch: true)
        let files = ["model.safetensors", "config.json", "float.onnx", "metrics.json", "report.json", "report.txt"]
            + exports.filter { $0.problem == nil }.map(\.file)
        print("saved in \(outURL.path): \(files.joined(separator: ", "))")
        for e in exports { if let problem = e.problem { print("not exported: \(e.file): \(problem)") } }
        return after
    }

    /// The report of the fine-tuned model: accuracy, per-layer error and quantization points on the test split.
    func finalReport(_ q: QuantGraphModule, config: GraphRunConfig, folder: URL, data: DataSplits, epochs: [EpochResult]) throws -> QuantizeReport {
        let float = try GraphRun.importFloat(folder.appendingPathComponent(GraphRunConfig.floatModelFile), input: config.input,
                                             exampleShape: config.inputShape, batch: config.importBatch ?? 1)
        try preprocessForQuantize(float)
        let x = data.test.inputs, labels = data.test.labels
        let fc = try QuantizeReport.correct(x, labels) { float($0) }
        let qc = try QuantizeReport.correct(x, labels) { try q.output($0) }
        let n = labels.count
        let sampleN = min(256, n)
        let sample = x.narrow(dim: 0, start: 0, length: sampleN).contiguous()
        let stage = StageRecord(name: "qat", milliseconds: epochs.reduce(0) { $0 + $1.seconds * 1000 },
                                detail: "\(epochs.count) epoch\(epochs.count == 1 ? "" : "s") on \(data.train.count) examples")
        do {
            return QuantizeReport(
                model: GraphRunConfig.floatModelFile, settings: config.quantize, stages: [stage],
                accuracy: .init(examples: n, floatCorrect: fc, quantizedCorrect: qc, float: Double(fc) / Double(n), quantized: Double(qc) / Double(n)),
                sample: "the first \(sampleN) test examples",
                layers: try QuantizeReport.layerErrors(quant: q, float: float, on: sample),
                quantPoints: QuantizeReport.points(try q.quantizationPoints(on: sample)))
        } catch let e as GraphQuantError {
            throw CLIError(e.description)
        }
    }
}

/// `metrics.json` of a fine-tuning run.
struct GraphTrainMetrics: Codable {
    var before: Double
    var epochs: [EpochResult]
    var seconds: Double
}
