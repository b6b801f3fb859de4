import Distributed
import Foundation
import NN
import QuantNN
import TensorEngine
import Models

/// One `brevitas train` run: load the data, build the model, optionally train or load a float
/// model first, calibrate, run QAT with a checkpoint after every epoch, export, summarise.
final class TrainRun {
    struct Options: Equatable {
        var arch: Architecture
        var dataset: DatasetChoice
        var dataDir: String?
        var weightBits: Int, actBits: Int, inputBits: Int
        var epochs: Int
        var batchSize: Int
        var learningRate: Float
        var optimizer: OptimizerChoice
        var seed: UInt64
        var fromFloat: String?
        var floatEpochs: Int
        var calibrateSteps: Int
        var collectStatsSteps: Int
        var limit: Int?
        var out: String
        /// A simulated accumulator width of the quantized convolutions and linear layers.
        var accumulatorBits: Int? = nil
        var overflow: AccumulatorSimulation.Overflow = .wrap
        /// The quantizers' number format and the MX group size.
        var format: QuantFormat = .int
        var groupSize: Int? = nil
    }

    /// How a run ended.
    enum Outcome: Equatable {
        case completed(RunSummary)
        /// Stopped by `shouldStop`; `epochs` complete QAT epochs are in the checkpoint.
        case interrupted(epochs: Int)
    }

    let options: Options
    /// Checked between batches; the SIGINT flag in the command.
    var shouldStop: () -> Bool = { false }
    let progress: Progress
    /// Where lines of text go (the summary, notices).
    let print: (String) -> Void
    /// `--distributed`: the MPI job this run is one rank of (rank 0 writes the files).
    var communicator: Communicator?
    /// `--sync-bn`: BatchNorm statistics over the global batch (with a communicator).
    var syncBatchNorm = false

    init(options: Options, progress: Progress = Progress(), print: @escaping (String) -> Void = { Swift.print($0) }) {
        self.options = options
        self.progress = progress
        self.print = print
    }

    static func defaultOutputFolder(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/" + formatter.string(from: date)
    }

    var outURL: URL { URL(fileURLWithPath: options.out) }
    func file(_ name: String) -> URL { outURL.appendingPathComponent(name) }
    /// Whether this process writes the run's files: always, except on the ranks other than 0.
    var writesFiles: Bool { (communicator?.rank ?? 0) == 0 }

    func run() throws -> Outcome {
        let start = Date()
        let o = options
        let data = try DataSplits(o.dataset, directory: o.dataDir, limit: o.limit)
        var spec = ModelSpec(arch: o.arch, inputShape: data.inputShape, classes: o.dataset.classes, weightBits: o.weightBits,
                             actBits: o.actBits, inputBits: o.inputBits, collectStatsSteps: o.collectStatsSteps)
        if let bits = o.accumulatorBits { (spec.accumulatorBits, spec.overflow) = (bits, o.overflow) }
        if o.format != .int { spec.format = o.format }
        spec.groupSize = o.groupSize
        let problems = spec.problems()
        guard problems.isEmpty else { throw CLIError(problems.joined(separator: "; ")) }
        var floatModel = try o.fromFloat.map {
            try Checkpoint.loadFloat(URL(fileURLWithPath: $0), spec: spec, generator: RandomGenerator(seed: o.seed))
        }
        if let communicator {
            try ConfigurationCheck.verify(DistributedTraining.describe(o, data: data, ranks: communicator.size, syncBatchNorm: syncBatchNorm),
                                          on: communicator)
        }
        if writesFiles { try AtomicFile.prepareDirectory(outURL) }

        let config = RunConfig(
            model: spec, dataset: o.dataset, dataDir: o.dataDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
            training: TrainingSettings(epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate, optimizer: o.optimizer,
                                       seed: o.seed, floatEpochs: o.floatEpochs, calibrateSteps: o.calibrateSteps,
                                       fromFloat: o.fromFloat, limit: o.limit))
        if writesFiles { try AtomicFile.writeJSON(config, to: file("config.json")) }
        let quantModel = try spec.makeModel(quantized: true, generator: RandomGenerator(seed: o.seed))
        let floatTwin = try floatModel ?? spec.makeModel(quantized: false, generator: RandomGenerator(seed: o.seed))
        var metrics = RunMetrics(config: config, calibrationSteps: o.calibrateSteps,
                                 floatSizeBytes: Self.sizeBytes(spec.parameterBits(of: floatTwin)),
                                 quantSizeBytes: Self.sizeBytes(spec.parameterBits(of: quantModel)))
        print("brevitas train: \(spec.summary), \(o.dataset.rawValue) (\(data.train.count) train / \(data.test.count) test), "
              + "\(o.optimizer.rawValue) lr \(o.learningRate), batch \(o.batchSize), seed \(o.seed), "
              + (communicator.map { "\($0.size) MPI ranks x " } ?? "") + "\(Parallel.threadCount) thread\(Parallel.threadCount == 1 ? "" : "s")")
        print("writing to \(outURL.path)")

        func saveProgress() throws {
            guard writesFiles else { return }
            metrics.seconds = Date().timeIntervalSince(start)
            try AtomicFile.writeJSON(metrics, to: file("metrics.json"))
            try AtomicFile.write(CurvesSVG.render(metrics.epochs, title: "brevitas train: \(o.arch.rawValue) w\(o.weightBits)a\(o.actBits) on \(o.dataset.rawValue)"),
                                 to: file("curves.svg"))
        }

        // Float pre-training.
        if o.floatEpochs > 0 {
            let model = floatTwin
            let trainer = try makeTrainer(model, data, phase: "float", epochs: o.floatEpochs)
            for epoch in 0..<o.floatEpochs {
                guard let result = try trainer.runEpoch(epoch) else {
                    progress.abandonLine()
                    try saveProgress()
                    print("interrupted during float epoch \(epoch + 1); no quantized checkpoint was written")
                    return .interrupted(epochs: 0)
                }
                metrics.epochs.append(result)
                progress.epoch(result, epochs: o.floatEpochs)
                if writesFiles { try Checkpoint.save(model, to: file("float.safetensors")) }
                try saveProgress()
            }
            floatModel = model
        }
        if let floatModel {
            if let last = metrics.epochs.last(where: { $0.phase == "float" }) {
                metrics.floatTestAccuracy = last.testAccuracy
            } else {
                metrics.floatTestAccuracy = try Trainer.evaluate(floatModel, data.test).accuracy
            }
            try quantModel.loadStateDict(Checkpoint.brevitasStateDict(floatModel), strict: false)
        }

        // Quantization-aware training.
        let trainer = try makeTrainer(quantModel, data, phase: "qat", epochs: o.epochs)
        if o.calibrateSteps > 0 {
            if floatModel == nil {
                print("note: calibrating an untrained model: its activation ranges come from random weights (combine --calibrate-steps with --float-epochs or --from-float)")
            }
            guard try trainer.calibrate(steps: o.calibrateSteps) else {
                print("interrupted during calibration; no quantized checkpoint was written")
                return .interrupted(epochs: 0)
            }
            print("calibrated the activation quantizers on \(o.calibrateSteps) batches")
        }
        var completed = 0
        for epoch in 0..<o.epochs {
            guard let result = try trainer.runEpoch(epoch) else {
                progress.abandonLine()
                try saveProgress()
                if completed == 0 {
                    print("interrupted during QAT epoch 1; no quantized checkpoint was written")
                } else {
                    print("interrupted during QAT epoch \(epoch + 1); \(file("model.safetensors").path) holds epoch \(completed) (test accuracy \(percent(metrics.quantTestAccuracy ?? 0)))")
                }
                return .interrupted(epochs: completed)
            }
            metrics.epochs.append(result)
            metrics.quantTestAccuracy = result.testAccuracy
            progress.epoch(result, epochs: o.epochs)
            if writesFiles { try Checkpoint.save(quantModel, to: file("model.safetensors")) }
            completed += 1
            try saveProgress()
        }
        let exports = writesFiles ? ONNXFiles.write(quantModel, example: data.test.batch(at: [0]).inputs, folder: outURL) : []
        metrics.completed = true
        try saveProgress()
        let summary = RunSummary(metrics: metrics, spec: spec, exports: exports)
        print("")
        print(summary.render(folder: outURL.path))
        return .completed(summary)
    }

    func makeTrainer(_ model: QuantSequential, _ data: DataSplits, phase: String, epochs: Int) throws -> Trainer {
        let o = options
        let trainer = Trainer(model: model, data: data, phase: phase, epochs: epochs, batchSize: o.batchSize,
                              optimizer: o.optimizer, learningRate: o.learningRate, seed: o.seed)
        trainer.shouldStop = shouldStop
        let progress = self.progress
        trainer.onBatch = { progress.batch($0) }
        if let communicator {
            let parallel = DataParallel(model: model, communicator: communicator)
            try parallel.broadcastState()
            if syncBatchNorm && SyncBatchNorm.convert(model, communicator: communicator) == 0 {
                print("note: --sync-bn: the \(phase) model has no BatchNorm layer")
            }
            trainer.parallel = parallel
        }
        return trainer
    }

    static func sizeBytes(_ parts: [(count: Int, bits: Int)]) -> Int {
        (parts.reduce(0) { $0 + $1.count * $1.bits } + 7) / 8
    }
}

/// The final table of a run.
struct RunSummary: Equatable {
    var floatAccuracy: Double?
    var quantAccuracy: Double
    var floatSizeBytes: Int
    var quantSizeBytes: Int
    var floatSeconds: Double
    var qatSeconds: Double
    var totalSeconds: Double
    var bits: String
    /// The ONNX files, each with the reason it was not written (`nil` when it was).
    var exports: [ExportedFile]

    struct ExportedFile: Equatable {
        var file: String
        var problem: String?
    }

    init(metrics: RunMetrics, spec: ModelSpec, exports: [(file: String, problem: String?)]) {
        floatAccuracy = metrics.floatTestAccuracy
        quantAccuracy = metrics.quantTestAccuracy ?? 0
        floatSizeBytes = metrics.floatSizeBytes
        quantSizeBytes = metrics.quantSizeBytes
        floatSeconds = metrics.epochs.filter { $0.phase == "float" }.reduce(0) { $0 + $1.seconds }
        qatSeconds = metrics.epochs.filter { $0.phase == "qat" }.reduce(0) { $0 + $1.seconds }
        totalSeconds = metrics.seconds
        bits = spec.quantLabel
        self.exports = exports.map { ExportedFile(file: $0.file, problem: $0.problem) }
    }

    func render(folder: String) -> String {
        var table = TextTable(["model", "test accuracy", "weights", "training time"])
        table.add(["float (32-bit)", floatAccuracy.map(percent) ?? "not trained", byteSize(floatSizeBytes),
                   floatAccuracy == nil ? "" : f(floatSeconds, 1) + " s"])
        table.add(["quantized (\(bits))", percent(quantAccuracy), byteSize(quantSizeBytes), f(qatSeconds, 1) + " s"])
        var lines = [table.render()]
        let ratio = Double(floatSizeBytes) / Double(max(quantSizeBytes, 1))
        lines.append("")
        lines.append("weights \(f(ratio, 1))x smaller than float; total time \(f(totalSeconds, 1)) s"
                     + (floatAccuracy == nil ? " (add --float-epochs N to train a float baseline first)" : ""))
        var files = ["model.safetensors", "config.json", "metrics.json", "curves.svg"]
        if floatAccuracy != nil && floatSeconds > 0 { files.append("float.safetensors") }
        files += exports.filter { $0.problem == nil }.map(\.file)
        lines.append("saved in \(folder): " + files.joined(separator: ", "))
        for e in exports {
            if let problem = e.problem { lines.append("not exported: \(e.file): \(problem)") }
        }
        return lines.joined(separator: "\n")
    }
}
