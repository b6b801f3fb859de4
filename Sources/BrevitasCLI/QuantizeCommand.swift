import ArgumentParser
import Foundation
import GraphQuant
import Models
import NN
import PTQ
import TensorEngine

/// `brevitas quantize`: post-training quantization of a float ONNX model, Brevitas's
/// `brevitas.graph` flow, into a run folder.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Post-training quantization of a float ONNX model (Brevitas's graph flow) into a run folder.",
        discussion: """
            Stages, in Brevitas's order (ptq_evaluate.py): preprocess (BatchNorm merge, ReLU6 -> ReLU), \
            quantize (the maps of Brevitas's ptq_evaluate.py: 8-bit weights with full signed range and a \
            scale taken once from the weights, per tensor unless --per-channel, Int32 bias, 8-bit \
            activations, unsigned after ReLU, residual adds on one shared quantizer; or --layerwise), \
            calibrate (the \
            activation scales from --calib in batches of 64, running mean of each batch's 99.999th \
            percentile), then optionally GPFQ, GPTQ, learned rounding (AdaRound) and bias correction \
            over the same batches.

            --out gets: model.safetensors (Brevitas state-dict keys), config.json, float.onnx (a copy \
            of MODEL and its external data), report.json and report.txt (the time of each stage, float \
            vs quantized accuracy with --test/--labels, per-layer SQNR, every quantization point with \
            its scale), model.qcdq.onnx and model.qonnx.onnx (dynamic batch). The folder appears whole \
            or not at all. `brevitas eval`, `inspect`, `run`, `export`, `verify`, `deploy` and \
            `train --from` read it. A model whose ONNX input fixes the batch size runs in batches of it.

            --override LAYER:key=value sets a keyword on one layer (the float graph's node name): \
            bits=N, per_channel=true|false, or any Brevitas keyword of the layer (weight_bit_width, \
            bit_width, weight_quant=Int8WeightPerChannelFloat, ...). Repeat it for several.

            --format fp8e4m3|fp8e5m2|fp8e4m3fnuz|fp8e5m2fnuz|fp6|fp4|eXmY|mxint8|mxfp8 picks Brevitas's \
            float / MX quantizers (ptq_common's quant_format maps): minifloat weights and activations with \
            float biases; MX (with --layerwise, --group-size N) group-wise weights and inputs. FP8 runs \
            export to QCDQ (ONNX float8) and QONNX (FloatQuant); fp6/fp4 to QONNX; MX has no ONNX form.
            Example: brevitas quantize float.onnx --calib calib.npy --test test_x.npy --labels test_y.npy \
            --weight-bits 4 --per-channel --out runs/w4a8
            """)

    @Argument(help: ArgumentHelp("The float model (.onnx).", valueName: "model"), completion: .file(extensions: ["onnx"]))
    var model: String

    @Option(help: ArgumentHelp("Calibration inputs (.npy, [N, ...] as the model takes them).", valueName: "x.npy"), completion: .file(extensions: ["npy"]))
    var calib: String

    @Option(help: ArgumentHelp("Test inputs (.npy) for the accuracy in the report (with --labels).", valueName: "x.npy"), completion: .file(extensions: ["npy"]))
    var test: String?

    @Option(help: ArgumentHelp("Test labels (.npy, integer class indices, one per test input).", valueName: "y.npy"), completion: .file(extensions: ["npy"]))
    var labels: String?

    @Option(help: ArgumentHelp("Weight bit width (2...16; default 8; --format int only).", valueName: "bits"))
    var weightBits: Int?

    @Option(help: ArgumentHelp("Activation bit width (2...16; default 8; --format int only).", valueName: "bits"))
    var actBits: Int?

    @Option(help: ArgumentHelp("Bias bit width (2...32, default 32: Int32Bias; --format int only, other formats keep biases float).", valueName: "bits"))
    var biasBits: Int?

    @Option(help: ArgumentHelp("Number format: \(QuantFormat.names.joined(separator: ", ")) (default int; as brevitas train --format).", valueName: "name"))
    var format: String?

    @Option(help: ArgumentHelp("Group size of the MX formats (default 32).", valueName: "n"))
    var groupSize: Int?

    @Flag(help: "One weight scale per output channel (Int8WeightPerChannelFloat) instead of per tensor.")
    var perChannel = false

    @Flag(help: "Weights on the narrow range [-(2^(b-1)-1), 2^(b-1)-1] (Brevitas's quantize() presets) instead of [-2^(b-1), 2^(b-1)-1] (its ptq_evaluate.py default).")
    var weightNarrowRange = false

    @Flag(help: "layerwise_quantize: each conv/linear quantizes its own input; activations stay float.")
    var layerwise = false

    @Option(name: .customLong("override"), help: ArgumentHelp("LAYER:key=value for one layer (repeat).", valueName: "layer:key=value"))
    var overrides: [String] = []

    @Flag(help: "Bias correction after calibration (bias_correction_mode).")
    var biasCorrection = false

    @Flag(help: "GPTQ after calibration (gptq_mode).")
    var gptq = false

    @Flag(help: "GPTQ/GPFQ: process columns in decreasing Hessian-diagonal order.")
    var actOrder = false

    @Flag(help: "GPFQ after calibration (gpfq_mode).")
    var gpfq = false

    @Option(help: ArgumentHelp("Cross-layer equalization after preprocessing, up to N iterations (Brevitas's equalize_iters; 20 in ptq_evaluate.py).", valueName: "n"))
    var equalize: Int?

    @Option(help: ArgumentHelp("Activation equalization (SmoothQuant) with this alpha before quantize, over the calibration batches.", valueName: "alpha"))
    var actEqualization: Double?

    @Option(help: ArgumentHelp("graph: fold the factors into the preceding layer (default); layerwise: a multiplier in front of each layer (default with --layerwise; with graph quantization the layers then stay float, as in Brevitas).", valueName: "scope"))
    var actEqualizationScope: ActivationEqualizationScope?

    @Option(help: ArgumentHelp("How calibration finds activation scales: stats (a percentile of |x|, default) or mse (the range with the least quantization error, Int8ActPerTensorFloatMSE).", valueName: "method"))
    var actParamMethod: ActivationScaleMethod?

    @Option(help: ArgumentHelp("The percentile of |x| the stats method takes (Brevitas's act_quant_percentile, 99.999).", valueName: "q"))
    var actQuantPercentile: Double?

    @Option(help: ArgumentHelp("Learned rounding (AdaRound, Brevitas's hard sigmoid) after GPFQ/GPTQ: this many Adam steps per layer (Brevitas: 1000).", valueName: "iters"))
    var learnedRound: Int?

    @Option(help: ArgumentHelp("Learned rounding: Adam's learning rate.", valueName: "lr"))
    var learnedRoundLr: Double?

    @Option(help: ArgumentHelp("Learned rounding: calibration examples per step, drawn with replacement.", valueName: "n"))
    var learnedRoundBatchSize: Int?

    @Option(help: ArgumentHelp("Learned rounding: regularised_mse (MSE summed over channels plus the rounding regulariser) or mse.", valueName: "loss"))
    var learnedRoundLoss: LearnedRoundOptions.Loss?

    @Option(help: ArgumentHelp("Learned rounding: 'linear' lowers the learning rate linearly to 0 over the steps.", valueName: "schedule"))
    var learnedRoundLrScheduler: LearnedRoundSchedule?

    @Option(help: ArgumentHelp("Examples per calibration batch.", valueName: "n"))
    var calibrationBatchSize = 64

    @Option(help: ArgumentHelp("The run folder to write.", valueName: "dir"), completion: .directory)
    var out: String

    @Option(help: ArgumentHelp("Threads for the engine's kernels (default: all cores).", valueName: "n"))
    var threads: Int?

    func validate() throws {
        var problems: [String] = []
        for o in overrides {
            do { _ = try QuantizeSettings.LayerOverride(parsing: o) } catch let e as CLIError { problems.append(e.message) }
        }
        if let format, QuantFormat(parsing: format) == nil {
            problems.append("--format: unknown format '\(format)' (known: \(QuantFormat.names.joined(separator: ", ")))")
        }
        if problems.isEmpty {
            let s = try settings()
            problems += s.problems()
            if s.effectiveFormat != .int {
                let given = [("--weight-bits", weightBits), ("--act-bits", actBits), ("--bias-bits", biasBits)].filter { $0.1 != nil }.map(\.0)
                problems += s.formatProblems(explicitBits: given).filter { !problems.contains($0) }
            }
        }
        if labels != nil && test == nil { problems.append("--labels needs --test") }
        if learnedRound == nil {
            let given = [("--learned-round-lr", learnedRoundLr != nil), ("--learned-round-batch-size", learnedRoundBatchSize != nil),
                         ("--learned-round-loss", learnedRoundLoss != nil), ("--learned-round-lr-scheduler", learnedRoundLrScheduler != nil)]
            for (flag, set) in given where set { problems.append("\(flag) needs --learned-round ITERS") }
        }
        if let threads, threads < 1 { problems.append("--threads must be >= 1, got \(threads)") }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n       ")) }
    }

    func settings() throws -> QuantizeSettings {
        var s = QuantizeSettings()
        s.weightBits = weightBits ?? 8
        s.actBits = actBits ?? 8
        s.biasBits = biasBits ?? 32
        s.format = format.flatMap(QuantFormat.init(parsing:))
        s.groupSize = groupSize
        s.perChannel = perChannel
        s.weightNarrowRange = weightNarrowRange
        s.layerwise = layerwise
        s.overrides = try overrides.map(QuantizeSettings.LayerOverride.init(parsing:))
        s.calibrationBatchSize = calibrationBatchSize
        s.biasCorrection = biasCorrection
        s.gptq = gptq
        s.actOrder = actOrder
        s.gpfq = gpfq
        s.equalize = equalize
        s.actEqualization = actEqualization
        s.actEqualizationScope = actEqualizationScope
        s.actParamMethod = actParamMethod
        s.actQuantPercentile = actQuantPercentile
        if let iterations = learnedRound {
            var lr = LearnedRoundSettings(iterations: iterations)
            if let v = learnedRoundLr { lr.learningRate = v }
            if let v = learnedRoundBatchSize { lr.batchSize = v }
            if let v = learnedRoundLoss { lr.loss = v }
            lr.linearSchedule = learnedRoundLrScheduler == .linear
            s.learnedRound = lr
        }
        return s
    }

    func run() throws {
        Threads.apply(threads)
        let run = QuantizeRun(model: model, calib: calib, test: test, labels: labels, settings: try settings(), out: out)
        Interrupt.install()
        defer { Interrupt.uninstall() }
        run.shouldStop = { Interrupt.requested }
        do {
            try run.run()
        } catch is QuantizeInterrupted {
            print("interrupted: nothing was written to \(out)")
            throw ExitCode(130)
        }
    }
}
