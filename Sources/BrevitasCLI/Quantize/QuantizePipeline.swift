import Foundation
import Graph
import GraphQuant
import NN
import PTQ
import QuantNN
import TensorEngine

/// The model a `brevitas quantize` pipeline works on, handed from stage to stage.
final class QuantizeWork {
    let settings: QuantizeSettings
    /// The float graph: preprocessed in place, then taken over by the quantized graph.
    let graph: GraphModule
    /// The quantized graph, once the `quantize` stage ran.
    var quant: QuantGraphModule?
    /// The calibration examples, `[N, ...]`, used in batches of `settings.calibrationBatchSize`.
    let calibration: Tensor
    /// The float weights of layers whose stored weight a stage replaced by a rounded one
    /// (learned rounding), for the stages that need the float output (bias correction).
    var floatWeights: [ObjectIdentifier: Tensor] = [:]
    /// Checked between calibration batches and stages (Ctrl-C).
    var shouldStop: () -> Bool = { false }
    /// Live progress text within a stage (`calibrate: batch 2/4`), `nil` to end the live line.
    var progress: (String?) -> Void = { _ in }

    init(settings: QuantizeSettings, graph: GraphModule, calibration: Tensor) {
        self.settings = settings
        self.graph = graph
        self.calibration = calibration
    }

    /// Number of calibration batches (the last one may be smaller).
    var batchCount: Int {
        let b = settings.calibrationBatchSize
        return (calibration.shape[0] + b - 1) / b
    }

    /// Calibration batch `k` (0-based); throws ``QuantizeInterrupted`` when a stop was asked for.
    func batch(_ k: Int) throws -> Tensor {
        if shouldStop() { throw QuantizeInterrupted() }
        let b = settings.calibrationBatchSize
        let start = k * b
        return calibration.narrow(dim: 0, start: start, length: min(b, calibration.shape[0] - start)).contiguous()
    }

    /// Every calibration batch, for the algorithms that pass over them several times.
    func allBatches() throws -> [Tensor] { try (0..<batchCount).map(batch) }

    /// The quantized graph; a stage that needs it before `quantize` is a programmer error.
    func quantized(_ stage: String) -> QuantGraphModule {
        guard let quant else { preconditionFailure("QuantizePipeline: stage '\(stage)' runs before 'quantize'") }
        return quant
    }
}

/// Thrown by a stage when Ctrl-C asked the pipeline to stop.
struct QuantizeInterrupted: Error {}

/// One stage of the pipeline: what it does to the model and, for the stages that change the
/// model's structure (not only values), how a run folder replays it before its checkpoint is
/// loaded.
struct QuantizeStage {
    /// The stage's name in progress lines, the report and `config.json`.
    let name: String
    /// Runs the stage; returns a one-line account of what it did.
    let run: (QuantizeWork) throws -> String
    /// Replays the structural part of the stage on a rebuilt model (`nil`: the stage changes
    /// only values, which the checkpoint holds).
    let rebuild: ((QuantizeWork) throws -> Void)?
}

/// What one stage did and how long it took.
struct StageRecord: Codable, Equatable {
    var name: String
    var milliseconds: Double
    var detail: String
}

/// The stages of `brevitas quantize`, in Brevitas's order (`ptq_evaluate.py`): preprocess,
/// [activation equalization], quantize, calibrate, GPFQ, GPTQ, learned round, bias correction. A new stage is
/// one more `QuantizeStage` returned by ``stages(_:)`` at its place in that order.
enum QuantizePipeline {
    static func stages(_ s: QuantizeSettings) -> [QuantizeStage] {
        var out = [preprocess]
        if let n = s.equalize, n > 0 { out.append(equalize(n)) }
        if let a = s.actEqualization { out.append(actEqualization(a, s.effectiveActEqualizationScope)) }
        out.append(quantize)
        out.append(calibrate)
        if s.gpfq { out.append(gpfq) }
        if s.gptq { out.append(gptq) }
        if let lr = s.learnedRound { out.append(learnedRound(lr)) }
        if s.biasCorrection { out.append(biasCorrection) }
        return out
    }

    /// Runs every stage on `work`, reporting each as it ends; returns the records.
    static func run(_ work: QuantizeWork, stages: [QuantizeStage], onStage: (StageRecord) -> Void = { _ in }) throws -> [StageRecord] {
        var records: [StageRecord] = []
        for stage in stages {
            if work.shouldStop() { throw QuantizeInterrupted() }
            let start = DispatchTime.now().uptimeNanoseconds
            let detail = try stage.run(work)
            work.progress(nil)
            let record = StageRecord(name: stage.name, milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, detail: detail)
            records.append(record)
            onStage(record)
        }
        return records
    }

    /// Replays the structural stages on `work` (a freshly imported float graph), for loading.
    static func rebuild(_ work: QuantizeWork, stages: [QuantizeStage]) throws {
        for stage in stages { try stage.rebuild?(work) }
    }

    // MARK: The stages

    /// `preprocess_for_quantize`: BatchNorm merge, ReLU6 -> ReLU.
    static let preprocess = QuantizeStage(
        name: "preprocess",
        run: { w in
            let bns = w.graph.moduleNodes.filter { $0.module is BatchNorm }.count
            try preprocessForQuantize(w.graph)
            let left = w.graph.moduleNodes.filter { $0.module is BatchNorm }.count
            return "\(bns - left) BatchNorm\(bns - left == 1 ? "" : "s") merged"
        },
        rebuild: { w in try preprocessForQuantize(w.graph) })

    /// Checks, before any work, that the equalizations asked for have something to equalize
    /// (`float` builds a fresh float graph): an error names the option and why.
    static func check(_ s: QuantizeSettings, float: () throws -> GraphModule) throws {
        let wantsCLE = (s.equalize ?? 0) > 0
        let wantsGraphActEq = s.actEqualization != nil && s.effectiveActEqualizationScope == .graph
        guard wantsCLE || wantsGraphActEq else { return }
        let g = try float()
        try preprocessForQuantize(g)
        if EqualizeGraph.regions(of: g).isEmpty {
            let what = wantsCLE ? "--equalize" : "--act-equalization (graph scope)"
            throw CLIError("\(what): the graph has no foldable pair (a conv/linear whose output reaches other conv/linear layers only through ReLU, pools, dropout, flatten, adds or concats), so there is nothing to equalize\(wantsCLE ? "" : "; use --act-equalization-scope layerwise")")
        }
    }

    /// Cross-layer equalization (the last step of Brevitas's `preprocess_for_quantize`).
    static func equalize(_ iterations: Int) -> QuantizeStage {
        QuantizeStage(
            name: "equalize",
            run: { w in
                let (regions, ran) = EqualizeGraph(iterations: iterations).apply(to: w.graph)
                return "\(regions.count) region\(regions.count == 1 ? "" : "s") (\(regions.map { $0.sourceNames.joined(separator: "+") + "->" + $0.sinkNames.joined(separator: "+") }.joined(separator: ", "))), \(ran) of \(iterations) iterations"
            },
            rebuild: nil)
    }

    /// Activation equalization (`activation_equalization_mode`) over the calibration batches.
    static func actEqualization(_ alpha: Double, _ scope: ActivationEqualizationScope) -> QuantizeStage {
        QuantizeStage(
            name: "act equalization",
            run: { w in
                let r = try activationEqualization(w.graph, batches: try w.allBatches(), alpha: alpha, scope: scope)
                var detail = "alpha \(alpha), \(scope.rawValue): \(r.equalized.count) region\(r.equalized.count == 1 ? "" : "s") equalized, \(r.skipped.count) left alone"
                if w.settings.weightsStayFloat { detail += "; the wrapped layers stay float under graph quantization (Brevitas's behaviour)" }
                return detail
            },
            rebuild: scope == .layerwise ? { w in wrapForActivationEqualization(w.graph) } : nil)
    }

    /// `quantize` (or `layerwise_quantize`) with the settings' maps.
    static let quantize = QuantizeStage(
        name: "quantize",
        run: { w in
            let q = try quantizeGraph(w)
            initializeWeightScales(q)
            let layers = q.points.filter { $0.proxy == .weightQuant }.count
            let acts = q.points.filter { $0.proxy.kind == "activation" }.count
            return "\(layers) quantized layer\(layers == 1 ? "" : "s"), \(acts) activation quantizer\(acts == 1 ? "" : "s")"
        },
        rebuild: { w in _ = try quantizeGraph(w) })

    /// Runs every weight quantizer once, as the first quantized forward of `ptq_evaluate.py`
    /// (one eval batch right after `quantize_model`) does: a scale taken from the weights once
    /// (`ParameterFromStatsFromParameterScaling`) is set here, from the weights as they are after
    /// preprocessing, and stays fixed through GPTQ, GPFQ and bias correction.
    static func initializeWeightScales(_ q: QuantGraphModule) {
        Autograd.noGrad {
            for case let l as QuantWeightBiasLayer in q.modules() where l.weightQuant.isQuantEnabled { _ = l.quantWeight() }
        }
    }

    static func quantizeGraph(_ w: QuantizeWork) throws -> QuantGraphModule {
        let q: QuantGraphModule
        if w.settings.layerwise {
            let (map, overrides) = try w.settings.layerwiseMap(for: w.graph)
            q = try layerwiseQuantize(w.graph, map: map, overrides: overrides)
        } else {
            q = try GraphQuant.quantize(w.graph, maps: try w.settings.maps(for: w.graph))
        }
        w.quant = q
        return q
    }

    /// `calibration_mode`: the activation scales from the calibration batches (running mean of
    /// each batch's statistic), streamed one batch at a time.
    static let calibrate = QuantizeStage(
        name: "calibrate",
        run: { w in
            let q = w.quantized("calibrate")
            let n = w.batchCount
            try GraphQuant.calibrate(q, batchCount: n, batch: w.batch) { done, total in
                w.progress("calibrate: batch \(done)/\(total)")
            }
            return "\(n) batch\(n == 1 ? "" : "es") of \(w.settings.calibrationBatchSize) (\(w.calibration.shape[0]) examples)"
        },
        rebuild: nil)

    /// `gpfq_mode` over the calibration batches.
    static let gpfq = QuantizeStage(
        name: "gpfq",
        run: { w in
            try gpfqMode(w.quantized("gpfq"), batches: try w.allBatches(), actOrder: w.settings.actOrder)
            return "weights updated layer by layer\(w.settings.actOrder ? " (act_order)" : "")"
        },
        rebuild: nil)

    /// `gptq_mode` over the calibration batches.
    static let gptq = QuantizeStage(
        name: "gptq",
        run: { w in
            try gptqMode(w.quantized("gptq"), batches: try w.allBatches(), actOrder: w.settings.actOrder)
            return "weights updated layer by layer\(w.settings.actOrder ? " (act_order)" : "")"
        },
        rebuild: nil)

    /// Learned rounding (`apply_learned_round`, AdaRound with the hard sigmoid) over the
    /// calibration batches; the rounded weights are stored in the layers.
    static func learnedRound(_ s: LearnedRoundSettings) -> QuantizeStage {
        QuantizeStage(
            name: "learned round",
            run: { w in
                let r = try learnedRoundMode(w.quantized("learned round"), batches: try w.allBatches(), options: s.options) { p in
                    if w.shouldStop() { throw QuantizeInterrupted() }
                    w.progress("learned round: layer \(p.layerIndex)/\(p.layerCount) \(p.layer), iteration \(p.iteration)/\(p.iterations), loss \(String(format: "%.3e", p.loss))")
                }
                w.floatWeights.merge(r.floatWeights) { old, _ in old }
                let flipped = r.layers.map(\.flipped).reduce(0, +), total = r.layers.map(\.weights).reduce(0, +)
                let perLayer = r.layers.map { "\($0.layer) \($0.flipped)/\($0.weights) flipped, loss \(String(format: "%.3e", $0.initialLoss)) -> \(String(format: "%.3e", $0.finalLoss))" }
                return "\(s.iterations) iterations per layer (lr \(s.learningRate), batch \(s.batchSize), \(s.loss.rawValue)\(s.linearSchedule ? ", linear lr" : "")): "
                    + "\(flipped) of \(total) weights rounded away from nearest; " + perLayer.joined(separator: "; ")
            },
            rebuild: nil)
    }

    /// `bias_correction_mode` over the calibration batches.
    static let biasCorrection = QuantizeStage(
        name: "bias correction",
        run: { w in
            try correctBias(w.quantized("bias correction"), batches: try w.allBatches(), floatWeights: w.floatWeights)
            return "biases corrected over \(w.batchCount) batch\(w.batchCount == 1 ? "" : "es")"
        },
        rebuild: nil)
}
