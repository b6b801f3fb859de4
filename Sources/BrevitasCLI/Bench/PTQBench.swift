import Foundation
import GraphQuant
import NN
import PTQ
import QuantNN
import TensorEngine

/// `brevitas bench --only ptq --ptq-dir DIR`: the rows of `ptq_brevitas.py` (its README-ptq.md,
/// section 3.4) on the files the script wrote in DIR (`float.onnx`, `calib.npy`, `test_x.npy`,
/// `test_y.npy`), each through the `brevitas quantize` pipeline with the script's options:
/// per-channel weights with the full signed range, 8- or 4-bit activations, calibration in
/// batches of 64, and the row's stages in Brevitas's order. Every row starts from a fresh import
/// of `float.onnx` (the script's deep copy); the import is not timed, as the copy is not.
///
/// Each row's times use the script's keys (`preprocess` includes cross-layer equalization, as
/// Brevitas's `preprocess_for_quantize` does; `eval` is the 360 test images) and `total` their
/// sum. `w4a8+act_eq` reproduces Brevitas's layerwise activation equalization before graph
/// quantization: the wrapped layers stay float (`quant_layers` 0).
enum PTQBench {
    struct Row: Codable {
        var name: String
        var weight_bits: Int
        var act_bits: Int
        var steps: [String]
        var accuracy: Double
        var correct: Int
        var quant_layers: Int
        var ms: [String: Double]
        var warning: String?
    }

    struct Report: Codable {
        var implementation = "swift-brevitas"
        var threads: Int
        var blas: String
        var dir: String
        var examples: Int
        var float_accuracy: Double
        var rows: [Row]
    }

    /// The script's rows: name, weight bits, activation bits, steps, settings.
    static func rows() -> [(String, Int, Int, [String], (inout QuantizeSettings) -> Void)] {
        [
            ("w8a8", 8, 8, ["calibrate"], { _ in }),
            ("w4a8", 4, 8, ["calibrate"], { _ in }),
            ("w4a8+bc", 4, 8, ["calibrate", "bias_correction"], { $0.biasCorrection = true }),
            ("w4a8+gptq", 4, 8, ["calibrate", "gptq"], { $0.gptq = true }),
            ("w4a8+gpfq", 4, 8, ["calibrate", "gpfq"], { $0.gpfq = true }),
            ("w4a4+gptq+bc", 4, 4, ["calibrate", "gptq", "bias_correction"], { $0.gptq = true; $0.biasCorrection = true }),
            ("w4a8+cle", 4, 8, ["cross_layer_equalization", "calibrate"], { $0.equalize = 20 }),
            ("w4a8+act_eq", 4, 8, ["act_equalization", "calibrate"], { $0.actEqualization = 0.5; $0.actEqualizationScope = .layerwise }),
            ("w4a8+act_eq_fx", 4, 8, ["act_equalization_fx", "calibrate"], { $0.actEqualization = 0.5; $0.actEqualizationScope = .graph }),
        ]
    }

    /// The script's name for one of our stages.
    static func key(_ stage: String) -> String {
        switch stage {
        case "equalize": return "preprocess"
        case "act equalization": return "act_equalization"
        case "bias correction": return "bias_correction"
        default: return stage
        }
    }

    static func run(dir: String, only names: Set<String>, print: (String) -> Void) throws -> Report {
        let folder = URL(fileURLWithPath: dir)
        func file(_ name: String) throws -> String {
            let p = folder.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: p) else {
                throw CLIError("--ptq-dir \(dir) has no \(name): run ../shared/reference/ptq_brevitas.py --out \(dir) first")
            }
            return p
        }
        let model = URL(fileURLWithPath: try file("float.onnx"))
        let calib = try QuantizeRun.readTensor(try file("calib.npy"), "calibration")
        let testX = try QuantizeRun.readTensor(try file("test_x.npy"), "test")
        let labels = try QuantizeRun.readLabels(try file("test_y.npy"), count: testX.shape[0], testFile: "test_x.npy")
        let (input, example, fixedBatch) = try QuantizeRun.modelInput(model, data: calib, file: "calib.npy", what: "calibration data")
        guard fixedBatch == nil else { throw CLIError("float.onnx has a fixed batch size; ptq_brevitas.py exports a dynamic batch (re-run it)") }
        guard Array(testX.shape.dropFirst()) == example else {
            throw CLIError("test_x.npy has shape \(testX.shape), calib.npy \(calib.shape): their examples must have the same shape")
        }
        let float = try GraphRun.importFloat(model, input: input, exampleShape: example, batch: 1)
        let floatCorrect = try QuantizeReport.correct(testX, labels) { float($0) }
        print("float: \(floatCorrect)/\(labels.count)")
        var out: [Row] = []
        for (name, w, a, steps, configure) in rows() where names.isEmpty || names.contains(name) {
            var s = QuantizeSettings()
            s.weightBits = w
            s.actBits = a
            s.perChannel = true
            configure(&s)
            precondition(s.problems().isEmpty, "PTQBench: row \(name): \(s.problems())")
            let graph = try GraphRun.importFloat(model, input: input, exampleShape: example, batch: 1)
            let work = QuantizeWork(settings: s, graph: graph, calibration: calib)
            let records = try QuantizePipeline.run(work, stages: QuantizePipeline.stages(s))
            var ms: [String: Double] = [:]
            for r in records { ms[key(r.name), default: 0] += r.milliseconds }
            let q = work.quantized("eval")
            let start = DispatchTime.now().uptimeNanoseconds
            let correct = try QuantizeReport.correct(testX, labels) { try q.output($0) }
            ms["eval"] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            ms["total"] = ms.values.reduce(0, +)
            let layers = q.modules().filter { $0 is QuantConv2d || $0 is QuantLinear }.count
            let row = Row(name: name, weight_bits: w, act_bits: a, steps: steps, accuracy: Double(correct) / Double(labels.count),
                          correct: correct, quant_layers: layers, ms: ms.mapValues { ($0 * 1000).rounded() / 1000 },
                          warning: layers == 0 ? "no QuantConv2d/QuantLinear in the quantized model: the weights stayed float (only activations are quantized)" : nil)
            print("  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(correct)/\(labels.count)  \(String(format: "%9.1f", ms["total"]!)) ms"
                  + (layers == 0 ? "  (weights float)" : ""))
            out.append(row)
        }
        return Report(threads: Parallel.threadCount, blas: BLAS.info, dir: dir, examples: labels.count, float_accuracy: Double(floatCorrect) / Double(labels.count), rows: out)
    }

    /// Our rows next to a `ptq_brevitas.py --json` file's, paired by name.
    static func render(_ ours: Report, reference path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path),
            let j = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let rows = j["rows"] as? [[String: Any]]
        else { throw CLIError("--compare \(path) is not a ptq_brevitas.py --json file (no rows)") }
        var lines = ["| row | accuracy (ours) | accuracy (Brevitas) | images | ms (ours) | ms (Brevitas) | speed-up |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in ours.rows {
            guard let ref = rows.first(where: { $0["name"] as? String == r.name }), let acc = ref["accuracy"] as? Double,
                let ms = (ref["ms"] as? [String: Any])?["total"] as? Double
            else {
                lines.append("| \(r.name) | \(String(format: "%.4f", r.accuracy)) | (missing) | | \(String(format: "%.1f", r.ms["total"]!)) | | |")
                continue
            }
            let images = r.correct - Int((acc * Double(ours.examples)).rounded())
            lines.append("| \(r.name) | \(String(format: "%.4f", r.accuracy)) | \(String(format: "%.4f", acc)) | \(images >= 0 ? "+" : "")\(images) | "
                         + "\(String(format: "%.1f", r.ms["total"]!)) | \(String(format: "%.1f", ms)) | \(String(format: "%.1fx", ms / r.ms["total"]!)) |")
        }
        return lines.joined(separator: "\n")
    }
}
