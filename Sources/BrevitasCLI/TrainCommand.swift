import ArgumentParser
import Foundation
import NN
import QuantNN
import TensorEngine
import Models

/// `brevitas train`: quantization-aware training end to end.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Quantization-aware training of a quantized network, from one command.",
        discussion: """
            With no options: a LeNet-style CNN with 4-bit weights and activations and an 8-bit input \
            quantizer, trained for 15 epochs on the bundled 8x8 handwritten digits: a few seconds on 2 cores \
            in a release build, about 98% test accuracy.

            Activation quantizers first collect statistics (the 99.999th percentile of each batch, \
            averaged) for --collect-stats-steps training steps, then the collected range becomes a \
            learned parameter. Brevitas's default is 300 steps; 30 suits short runs. \
            --calibrate-steps N instead runs N forward passes without updates before training and \
            then ends collection, so training starts with learned ranges: use it on a trained float \
            model (--float-epochs or --from-float); ranges taken from random weights are poor.

            Writes into --out: model.safetensors (Brevitas state-dict keys; rewritten after each \
            epoch, atomically), config.json (what eval/inspect/export need to rebuild the model), \
            metrics.json (per epoch: loss, accuracy, time), curves.svg (loss and accuracy per \
            epoch), float.safetensors (with --float-epochs), and the ONNX exports. Ctrl-C stops \
            between batches and keeps the last complete checkpoint.

            Data for --dataset mnist and fashion-mnist: the four IDX files (train-images-idx3-ubyte, \
            train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally \
            .gz) in --data-dir; for cifar10: the binary batches (data_batch_1.bin ... \
            data_batch_5.bin, test_batch.bin). Nothing is downloaded.
            """)

    @Option(help: "Network: LeNet-5-style CNN, multi-layer perceptron, a small ResNet with BatchNorm, or an LSTM reading the image row by row.")
    var arch: Architecture = .lenet

    @Option(help: "Data set; digits is bundled, the others are read from --data-dir.")
    var dataset: DatasetChoice = .digits

    @Option(help: ArgumentHelp("Folder with the data files of --dataset (not used for digits).", valueName: "dir"), completion: .directory)
    var dataDir: String?

    @Option(help: ArgumentHelp("Weight bit width (2...16).", valueName: "bits"))
    var weightBits = 4

    @Option(help: ArgumentHelp("Activation bit width (2...16).", valueName: "bits"))
    var actBits = 4

    @Option(help: ArgumentHelp("Bit width of the quantizer on the network input (2...16).", valueName: "bits"))
    var inputBits = 8

    @Option(help: ArgumentHelp("Number format of the quantizers: int (--weight-bits, --act-bits, --input-bits), fp8e4m3, fp8e5m2, fp8e4m3fnuz, fp8e5m2fnuz, fp6 (e3m2), fp4 (e2m1), eXmY (any OCP-style minifloat), mxint8, mxfp8 (microscaling; the network input stays int at --input-bits).", valueName: "format"))
    var format = "int"

    @Option(help: ArgumentHelp("Group size of mxint8 and mxfp8 (default 32): consecutive channels or features sharing one power-of-two scale; must divide every grouped dimension.", valueName: "n"))
    var groupSize: Int?

    @Option(help: ArgumentHelp("Quantization-aware training epochs.", valueName: "n"))
    var epochs = 15

    @Option(help: ArgumentHelp("Examples per training batch.", valueName: "n"))
    var batchSize = 32

    @Option(help: ArgumentHelp("Initial learning rate, annealed to 0 along a cosine (default 0.005 for adam/adamw, 0.1 for sgd).", valueName: "rate"))
    var lr: Float?

    @Option(help: "sgd (momentum 0.9), adam, or adamw (weight decay 0.01).")
    var optimizer: OptimizerChoice = .adam

    @Option(help: ArgumentHelp("Seed of the initial weights and of the batch order.", valueName: "n"))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Start from this float checkpoint (safetensors with the float model's keys, e.g. float.safetensors of an earlier run).", valueName: "checkpoint"), completion: .file(extensions: ["safetensors"]))
    var fromFloat: String?

    @Option(help: ArgumentHelp("Train the float model this many epochs first, then quantize it and run QAT.", valueName: "n"))
    var floatEpochs = 0

    @Option(help: ArgumentHelp("Forward passes (no updates) that collect activation statistics before training; 0 to collect during training.", valueName: "n"))
    var calibrateSteps = 0

    @Option(help: ArgumentHelp("Training steps over which activation quantizers collect statistics before their range is learned (Brevitas collect_stats_steps).", valueName: "n"))
    var collectStatsSteps = 30

    @Option(help: ArgumentHelp("Simulate accumulators of this many bits in every quantized convolution and linear layer (QAT and evaluation see the overflow).", valueName: "bits"))
    var accumulatorBits: Int?

    @Option(help: "What a simulated accumulator does on overflow: wrap (two's complement) or saturate.")
    var overflow: AccumulatorSimulation.Overflow = .wrap

    @Option(help: ArgumentHelp("Use only the first n examples of each split (a quick trial run).", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("Fine-tune the quantized model of this run folder of `brevitas quantize` (QAT) instead of building --arch.", valueName: "run"), completion: .directory)
    var from: String?

    @Option(help: ArgumentHelp("With --from: training inputs (.npy) instead of --dataset.", valueName: "x.npy"), completion: .file(extensions: ["npy"]))
    var trainX: String?

    @Option(help: ArgumentHelp("With --train-x: training labels (.npy, class indices).", valueName: "y.npy"), completion: .file(extensions: ["npy"]))
    var trainY: String?

    @Option(help: ArgumentHelp("With --train-x: test inputs (.npy; default: the run's --test data).", valueName: "x.npy"), completion: .file(extensions: ["npy"]))
    var testX: String?

    @Option(help: ArgumentHelp("With --test-x: test labels (.npy).", valueName: "y.npy"), completion: .file(extensions: ["npy"]))
    var testY: String?

    @Option(help: ArgumentHelp("Output folder (default runs/<date>-<time>).", valueName: "dir"), completion: .directory)
    var out: String?

    @Option(help: ArgumentHelp("Threads for the engine's kernels (default: all cores). The results do not depend on it (matrix products use one BLAS thread).", valueName: "n"))
    var threads: Int?

    @Flag(help: "Train data-parallel as one rank of an MPI job: mpirun -np N brevitas train --distributed ... (see the README). Rank 0 writes --out; --batch-size is the global batch, split among the ranks.")
    var distributed = false

    @Flag(help: "With --distributed: BatchNorm normalises with the statistics of the global batch (PyTorch SyncBatchNorm); without it each rank uses its shard's, as PyTorch DDP does.")
    var syncBn = false

    @Flag(help: "With --distributed: the ranks other than 0 print their progress too (by default they print only errors).")
    var verbose = false

    func validate() throws {
        var problems: [String] = []
        for (name, bits) in [("--weight-bits", weightBits), ("--act-bits", actBits), ("--input-bits", inputBits)]
        where !(2...16).contains(bits) {
            problems.append("\(name) must be in 2...16, got \(bits)")
        }
        if epochs < 1 { problems.append("--epochs must be >= 1, got \(epochs)") }
        if batchSize < 1 { problems.append("--batch-size must be >= 1, got \(batchSize)") }
        if let lr, !(lr > 0 && lr.isFinite) { problems.append("--lr must be > 0, got \(lr)") }
        if floatEpochs < 0 { problems.append("--float-epochs must be >= 0, got \(floatEpochs)") }
        if calibrateSteps < 0 { problems.append("--calibrate-steps must be >= 0, got \(calibrateSteps)") }
        if collectStatsSteps < 1 { problems.append("--collect-stats-steps must be >= 1, got \(collectStatsSteps)") }
        if let limit, limit < 1 { problems.append("--limit must be >= 1, got \(limit)") }
        if let threads, threads < 1 { problems.append("--threads must be >= 1, got \(threads)") }
        if let accumulatorBits, !(2...62).contains(accumulatorBits) { problems.append("--accumulator-bits must be in 2...62, got \(accumulatorBits)") }
        if dataset.needsDirectory && dataDir == nil {
            problems.append("--dataset \(dataset.rawValue) needs --data-dir DIR holding \(dataset.expectedFiles)")
        }
        if !dataset.needsDirectory && dataDir != nil {
            problems.append("--data-dir is not used with --dataset digits (the digits are bundled); choose mnist, fashion-mnist or cifar10")
        }
        problems += fromProblems()
        if let f = QuantFormat(parsing: format) {
            for p in f.problems(groupSize: groupSize) {
                problems.append("\(p.key == "group_size" ? "--group-size" : "--format \(format)"): \(p.key): \(p.message)")
            }
        } else {
            problems.append("--format '\(format)' is not a format; use one of \(QuantFormat.names.joined(separator: ", "))")
        }
        if !distributed && (syncBn || verbose) { problems.append("--sync-bn and --verbose need --distributed") }
        if distributed && from != nil { problems.append("--distributed trains the built-in models; it does not apply with --from (a quantize run) yet") }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n       ")) }
    }

    /// The options of `--from` that go together.
    func fromProblems() -> [String] {
        var problems: [String] = []
        if (trainX == nil) != (trainY == nil) { problems.append("--train-x and --train-y go together") }
        if (testX == nil) != (testY == nil) { problems.append("--test-x and --test-y go together") }
        if testX != nil && trainX == nil { problems.append("--test-x needs --train-x") }
        guard from != nil else {
            if trainX != nil { problems.append("--train-x fine-tunes a quantize run: add --from RUN") }
            return problems
        }
        if fromFloat != nil { problems.append("--from fine-tunes a quantized run; --from-float does not apply") }
        if floatEpochs != 0 { problems.append("--from fine-tunes a quantized run; --float-epochs does not apply") }
        if calibrateSteps != 0 { problems.append("--from: the run is already calibrated; --calibrate-steps does not apply") }
        if accumulatorBits != nil { problems.append("--accumulator-bits is not supported with --from") }
        if format != "int" || groupSize != nil { problems.append("--from keeps the quantize run's quantizers; --format and --group-size apply to new models (or to brevitas quantize)") }
        if trainX != nil && dataDir != nil { problems.append("--data-dir does not apply with --train-x") }
        return problems
    }

    func run() throws {
        if distributed {
            return try DistributedTraining.run(options: options, threads: threads, syncBatchNorm: syncBn, verbose: verbose)
        }
        Threads.apply(threads)
        if let from {
            let run = GraphTrainRun(options: .init(
                from: from, dataset: dataset, dataDir: dataDir, trainX: trainX, trainY: trainY, testX: testX, testY: testY,
                epochs: epochs, batchSize: batchSize, learningRate: lr ?? optimizer.defaultLearningRate, optimizer: optimizer,
                seed: seed, limit: limit, out: out ?? TrainRun.defaultOutputFolder()))
            Interrupt.install()
            defer { Interrupt.uninstall() }
            run.shouldStop = { Interrupt.requested }
            if try run.run() == nil { throw ExitCode(130) }
            return
        }
        let run = TrainRun(options: options)
        Interrupt.install()
        defer { Interrupt.uninstall() }
        run.shouldStop = { Interrupt.requested }
        let outcome = try run.run()
        if case .interrupted = outcome { throw ExitCode(130) }
    }

    /// The parsed options as a run description.
    var options: TrainRun.Options {
        TrainRun.Options(
            arch: arch, dataset: dataset, dataDir: dataDir, weightBits: weightBits, actBits: actBits, inputBits: inputBits,
            epochs: epochs, batchSize: batchSize, learningRate: lr ?? optimizer.defaultLearningRate, optimizer: optimizer,
            seed: seed, fromFloat: fromFloat, floatEpochs: floatEpochs, calibrateSteps: calibrateSteps,
            collectStatsSteps: collectStatsSteps, limit: limit, out: out ?? TrainRun.defaultOutputFolder(),
            accumulatorBits: accumulatorBits, overflow: overflow, format: QuantFormat(parsing: format) ?? .int, groupSize: groupSize)
    }
}

/// `--threads`: the thread count of the engine's kernels and matrix products. Results do not
/// depend on it: every kernel and every GEMM splits its work into pieces fixed by the shapes.
enum Threads {
    static func apply(_ n: Int?) {
        if let n { Parallel.threadCount = n }
    }
}
