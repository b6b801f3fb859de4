import Foundation
import Graph
import GraphQuant
import NN
import QuantNN
import TensorEngine

/// `report.json` / `report.txt` of a graph run: what each stage did and took, float vs
/// quantized accuracy (when labels were given), the per-layer quantization error and every
/// quantization point with its scale.
struct QuantizeReport: Codable {
    var model: String
    var settings: QuantizeSettings
    var stages: [StageRecord]
    /// `nil` without labels.
    var accuracy: Accuracy?
    /// What the error table and the quantization points were measured on.
    var sample: String
    var layers: [LayerError]
    var quantPoints: [Point]

    struct Accuracy: Codable, Equatable {
        var examples: Int
        var floatCorrect: Int
        var quantizedCorrect: Int
        var float: Double
        var quantized: Double
    }

    /// Signal-to-quantization-noise ratios, `10·log10(Σ f² / Σ (f − q)²)` dB (`nil`: no noise).
    struct LayerError: Codable, Equatable {
        var layer: String
        var type: String
        /// The quantized weight against the float weight.
        var weightSQNR: Double?
        /// The layer alone: its quantized output against its float output on the same input.
        var layerSQNR: Double?
        /// Cumulative: the quantized model's output of this layer against the float model's.
        var outputSQNR: Double?
    }

    /// One quantizer of the graph, named after the float graph (README-ptq's keys).
    struct Point: Codable, Equatable {
        var key: String
        var kind: String
        var calls: Int
        var bitWidth: Int?
        var signed: Bool?
        /// One value (per tensor) or one per channel.
        var scale: [Float]?
        var zeroPoint: [Float]?
        var appliedTo: [String]?
        var scaleSharedWith: [String]
    }

    static func sqnr(_ f: Tensor, _ q: Tensor) -> Double? {
        precondition(f.shape == q.shape, "sqnr: float \(f.shape) and quantized \(q.shape) differ")
        var signal = 0.0, noise = 0.0
        for (a, b) in zip(f.scalars, q.scalars) {
            signal += Double(a) * Double(a)
            noise += Double(a - b) * Double(a - b)
        }
        guard noise > 0 else { return nil }
        return 10 * log10(max(signal, .leastNonzeroMagnitude) / noise)
    }

    /// The error table of `quant` against `float` (the preprocessed float graph) on `x`.
    static func layerErrors(quant: QuantGraphModule, float: GraphModule, on x: Tensor) throws -> [LayerError] {
        let floatRunner = QuantGraphModule(taking: float)
        floatRunner.eval()
        var floatOut: [String: Tensor] = [:]
        _ = try Autograd.noGrad {
            try floatRunner.forwardIntercepting([.float(x)]) { node, _, _, out in
                floatOut[node] = out.value
                return nil
            }
        }
        var rows: [LayerError] = []
        _ = try Autograd.noGrad {
            try quant.forwardIntercepting([.float(x)]) { node, m, input, out in
                guard let l = m as? QuantWeightBiasLayer else { return nil }
                let qw = l.quantWeight().value
                let alone = floatOp(l, l.inputQuant(input).value)
                let cumulative = floatOut[node].flatMap { $0.shape == out.value.shape ? sqnr($0, out.value) : nil }
                rows.append(LayerError(layer: node, type: l.typeName, weightSQNR: sqnr(l.weight, qw),
                                       layerSQNR: alone.map { sqnr($0, out.value) } ?? nil, outputSQNR: cumulative))
                return nil
            }
        }
        return rows
    }

    /// A compute layer's output with float weight and bias on `x` (`nil` for kinds without one here).
    static func floatOp(_ l: QuantWeightBiasLayer, _ x: Tensor) -> Tensor? {
        switch l {
        case let c as QuantConv2d:
            return Tensor.conv2d(x, weight: c.weight, bias: c.bias, stride: c.stride.pair, padding: c.padding.pair,
                                 dilation: c.dilation.pair, groups: c.groups)
        case let f as QuantLinear:
            return Tensor.linear(x, weight: f.weight, bias: f.bias)
        default:
            return nil
        }
    }

    static func points(_ points: [QuantizationPoint]) -> [Point] {
        points.map { p in
            Point(key: p.key, kind: p.kind, calls: p.calls, bitWidth: p.bitWidth.map { Int($0) }, signed: p.signed,
                  scale: p.scale?.scalars, zeroPoint: p.zeroPoint?.scalars, appliedTo: p.appliedTo, scaleSharedWith: p.scaleSharedWith)
        }
    }

    /// Correct predictions (argmax, ties to the lowest index) of `forward` on `x`, in batches of `batch`.
    static func correct(_ x: Tensor, _ labels: [Int], batch: Int = 500, _ forward: (Tensor) throws -> Tensor) throws -> Int {
        var correct = 0, at = 0
        let n = x.shape[0]
        while at < n {
            let m = min(batch, n - at)
            let logits = try Autograd.noGrad { try forward(x.narrow(dim: 0, start: at, length: m).contiguous()) }
            guard logits.rank == 2 else {
                throw CLIError("the model's output is \(logits.shape), not [N, classes]: accuracy needs class scores")
            }
            correct += Trainer.correctCount(logits, Array(labels[at..<at + m]))
            at += m
        }
        return correct
    }

    // MARK: Text

    /// The readable form (`report.txt`).
    func render() -> String {
        var out = ["brevitas quantize \(model): \(settings.summary)", ""]
        var stageTable = TextTable(["stage", "ms", "what it did"], alignments: [.left, .right, .left])
        for s in stages { stageTable.add([s.name, f(s.milliseconds, 1), s.detail]) }
        stageTable.add(["total", f(stages.reduce(0) { $0 + $1.milliseconds }, 1), ""])
        out.append(stageTable.render())
        if let a = accuracy {
            out += ["", "accuracy on \(a.examples) test examples:",
                    "  float      \(percent(a.float)) (\(a.floatCorrect)/\(a.examples))",
                    "  quantized  \(percent(a.quantized)) (\(a.quantizedCorrect)/\(a.examples))"]
        }
        out += ["", renderErrors(), "", renderPoints()]
        return out.joined(separator: "\n")
    }

    /// The per-layer error table.
    func renderErrors() -> String {
        func db(_ v: Double?) -> String { v.map { f($0, 2) } ?? "exact" }
        var layerTable = TextTable(["layer", "type", "weight SQNR dB", "layer SQNR dB", "output SQNR dB"])
        for l in layers { layerTable.add([l.layer, l.type, db(l.weightSQNR), db(l.layerSQNR), db(l.outputSQNR)]) }
        return "quantization error on \(sample) (SQNR = 10·log10(Σ float² / Σ (float − quantized)²)):\n" + layerTable.render(indent: "  ")
    }

    /// The quantization points with their bit widths and scales.
    func renderPoints() -> String {
        var pointTable = TextTable(["quantization point", "kind", "bits", "signed", "scale", "calls"],
                                   alignments: [.left, .left, .right, .left, .left, .right])
        for p in quantPoints {
            let scale: String
            switch p.scale?.count {
            case nil: scale = "-"
            case 1?: scale = String(format: "%.6g", p.scale![0])
            case let n?:
                let v = p.scale!
                scale = "per-channel (\(n)): \(String(format: "%.4g", v.min()!))...\(String(format: "%.4g", v.max()!))"
            }
            var key = p.key
            if !p.scaleSharedWith.isEmpty { key += " (scale shared with \(p.scaleSharedWith.joined(separator: ", ")))" }
            pointTable.add([key, p.kind, p.bitWidth.map(String.init) ?? "-", p.signed.map { $0 ? "yes" : "no" } ?? "-", scale, "\(p.calls)"])
        }
        return "quantization points (on \(sample)):\n" + pointTable.render(indent: "  ")
    }
}
