import Foundation
import Graph
import GraphQuant
import NN
import TensorEngine

/// Replays the graph-quantization stages of a `shared/conformance/ptq` case (README-ptq.md):
/// builds the float graph, loads `initial_state`, applies `float`, `preprocess_for_quantize`,
/// `quantize`, `layerwise_quantize` and `calibration_mode` in order, and after each compares the
/// stage record (weights and float outputs close(0), quantized outputs normwise 0.05, the
/// quantization points exactly in keys/kind/bits/sign/calls/applied_to/sharing, scales and zero
/// points close(0)). Stops at the first stage of another kind or at `comparable_stages`.
struct PTQCaseReplay {
    /// `shared/conformance/ptq` beside the repository or beside one of its parent folders (a
    /// worktree lives one level deeper than the main checkout); `nil` when there is none.
    static let folder: URL? = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for _ in 0..<3 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("shared/conformance/ptq")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    let name: String
    var failures: [String] = []
    var stagesCompared: [String] = []

    init(_ name: String) { self.name = name }

    static func tensor(_ j: Any?) -> Tensor? {
        guard let d = j as? [String: Any], let shape = d["shape"] as? [Int], let data = d["data"] as? [Double] else { return nil }
        return Tensor(shape: shape, data.map { Float($0) })
    }

    /// close(0): |a − b| ≤ 1e-5·|b| + 1e-6·max|b| elementwise.
    mutating func close(_ path: String, _ a: Tensor?, _ b: Tensor?) {
        guard let a, let b else { failures.append("\(path): missing (ours \(a == nil ? "nil" : "set"), ref \(b == nil ? "nil" : "set"))"); return }
        guard a.count == b.count else { failures.append("\(path): shape \(a.shape) vs \(b.shape)"); return }
        let m = b.scalars.map { abs($0) }.max() ?? 0
        for (x, y) in zip(a.scalars, b.scalars) where abs(x - y) > 1e-5 * abs(y) + 1e-6 * m {
            failures.append("\(path): \(x) vs \(y)")
            return
        }
    }

    mutating func normwise(_ path: String, _ a: Tensor, _ b: Tensor?, _ t: Float) {
        guard let b, a.count == b.count else { failures.append("\(path): shape \(a.shape) vs \(b?.shape ?? [])"); return }
        let m = b.scalars.map { abs($0) }.max() ?? 0
        let d = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        if d > t * m { failures.append("\(path): max |diff| \(d) > \(t) * \(m)") }
    }

    mutating func run() throws {
        let url = Self.folder!.appendingPathComponent(name + ".json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let spec = json["spec"] as! [String: Any]
        let graphJSON = (spec["float_model"] as! [String: Any])["graph"]!
        let float = try TorchGraphSpec.build(graphJSON)
        var state: [String: Tensor] = [:]
        let initial = json["initial_state"] as! [String: Any]
        for part in ["params", "buffers"] {
            for (k, v) in initial[part] as! [String: Any] { state[k] = Self.tensor(v)! }
        }
        for (k, t) in state { float.tensor(at: k)!.assign(t) }
        float.eval()
        let data = json["data"] as! [String: Any]
        let test = Self.tensor(data["test"])!
        let pipeline = spec["pipeline"] as! [[String: Any]]
        let records = json["stages"] as! [[String: Any]]
        let comparable = ((json["reference_error"] as? [String: Any])?["comparable_stages"] as? Int) ?? pipeline.count
        var graph: GraphModule = float
        var quant: QuantGraphModule? = nil
        func record(_ k: Int) -> [String: Any] { records[k] }
        for (k, stage) in pipeline.enumerated() where k < comparable {
            let kind = stage["stage"] as! String
            let kwargs = stage["kwargs"] as? [String: Any] ?? [:]
            switch kind {
            case "float": break
            case "preprocess_for_quantize":
                var o = PreprocessOptions()
                if let v = kwargs["relu6_to_relu"] as? Bool { o.relu6ToReLU = v }
                if let v = kwargs["equalize_iters"] as? Int { o.equalizeIterations = v }
                if let v = kwargs["equalize_merge_bias"] as? Bool { o.equalizeMergeBias = v }
                try preprocessForQuantize(graph, options: o)
                if let regions = record(k)["equalization_regions"] as? [[String: [String]]] {
                    let ours = EqualizeGraph.regions(of: graph).map { ["srcs": $0.sourceNames, "sinks": $0.sinkNames] }
                    if ours != regions { failures.append("stages[\(k)] equalization_regions: ours \(ours), reference \(regions)") }
                }
            case "quantize":
                let q = try GraphQuant.quantize(graph, maps: try QuantizeMaps(json: stage))
                (graph, quant) = (q, q)
            case "layerwise_quantize":
                let q = try layerwiseQuantize(graph)
                (graph, quant) = (q, q)
            case "calibration_mode":
                let batches = (data[stage["batches"] as! String] as! [Any]).map { Self.tensor($0)! }
                try calibrate(quant!, batches: batches)
            case "bias_correction_mode":
                let batches = (data[stage["batches"] as! String] as! [Any]).map { Self.tensor($0)! }
                try correctBias(quant!, batches: batches)
            default:
                return
            }
            stagesCompared.append(kind)
            try compare("stages[\(k)] \(kind)", records[k], graph, quant, test)
        }
    }

    mutating func compare(_ p: String, _ record: [String: Any], _ graph: GraphModule, _ quant: QuantGraphModule?, _ test: Tensor) throws {
        let ref = Self.tensor(record["output"])
        if let quant {
            normwise("\(p) output", try quant.output(test), ref, 0.05)
        } else {
            close("\(p) output", graph(test), ref)
        }
        for (layer, r) in record["weights"] as! [String: Any] {
            let r = r as! [String: Any]
            let path = quant?.module(at: layer) == nil && graph.module(at: layer + ".layer") != nil ? layer + ".layer" : layer
            close("\(p) \(layer).weight", graph.tensor(at: path + ".weight"), Self.tensor(r["weight"]))
            if r["bias"] is NSNull { if graph.tensor(at: path + ".bias") != nil { failures.append("\(p) \(layer).bias: ours has one") } } else {
                close("\(p) \(layer).bias", graph.tensor(at: path + ".bias"), Self.tensor(r["bias"]))
            }
        }
        guard let refPoints = record["quant_points"] as? [[String: Any]] else { return }
        guard let quant else { failures.append("\(p): the reference is quantized here"); return }
        let ours = Dictionary(uniqueKeysWithValues: try quant.quantizationPoints(on: test).map { ($0.key, $0) })
        let refKeys = refPoints.map { $0["key"] as! String }.sorted()
        if refKeys != ours.keys.sorted() { failures.append("\(p) point keys: ours \(ours.keys.sorted()) ref \(refKeys)") }
        for r in refPoints {
            let key = r["key"] as! String
            guard let o = ours[key] else { continue }
            let pp = "\(p) [\(key)]"
            if o.kind != r["kind"] as? String { failures.append("\(pp) kind \(o.kind)") }
            if o.calls != r["calls"] as? Int { failures.append("\(pp) calls \(o.calls) vs \(r["calls"]!)") }
            if o.appliedTo != r["applied_to"] as? [String] { failures.append("\(pp) applied_to \(o.appliedTo ?? []) vs \(r["applied_to"] ?? "absent")") }
            if o.scaleSharedWith != r["scale_shared_with"] as? [String] { failures.append("\(pp) scale_shared_with \(o.scaleSharedWith) vs \(r["scale_shared_with"]!)") }
            guard o.calls > 0 else { continue }
            if o.bitWidth.map(Double.init) != r["bit_width"] as? Double { failures.append("\(pp) bit_width \(o.bitWidth ?? -1) vs \(r["bit_width"]!)") }
            if o.signed != r["signed"] as? Bool { failures.append("\(pp) signed \(o.signed ?? false)") }
            let rs = Self.tensor(r["scale"]), rz = Self.tensor(r["zero_point"])
            close("\(pp) scale", o.scale.map { $0.reshape(rs?.shape ?? $0.shape) }, rs)
            close("\(pp) zero_point", o.zeroPoint.map { rz != nil && $0.count == rz!.count ? $0.reshape(rz!.shape) : $0 }, rz)
        }
    }
}
