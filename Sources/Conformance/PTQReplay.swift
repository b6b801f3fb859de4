import Foundation
import Graph
import GraphQuant
import PTQ
import NN
import TensorEngine

/// Replays a PTQ case (README-ptq.md, "Replaying a case"): builds the float graph, loads
/// `initial_state`, then applies the stages of `spec.pipeline` in order to the one model and,
/// after each, runs `data.test` in eval mode and compares the stage record: `output`, `weights`
/// and, once the model is quantized, `quant_points`.
///
/// Each stage is one `case` of `apply(_:_:)`; a stage the product cannot perform yet fails the
/// case with "pipeline stage X is not supported yet" after the stages before it were compared.
/// With `reference_error.comparable_stages = n` (a Brevitas defect) only the first `n` stages
/// are compared and the case is then not comparable.
struct PTQReplay {
    let json: JSON
    let spec: JSON
    let chk: Checker

    /// The stages of README-ptq.md "Pipeline".
    enum Stage: String {
        case float
        case preprocessForQuantize = "preprocess_for_quantize"
        case quantize
        case layerwiseQuantize = "layerwise_quantize"
        case calibrationMode = "calibration_mode"
        case biasCorrectionMode = "bias_correction_mode"
        case gptqMode = "gptq_mode"
        case gpfqMode = "gpfq_mode"
        case activationEqualizationMode = "activation_equalization_mode"

        /// GPTQ and GPFQ are greedy: from the first of them on, weights and scales are compared
        /// normwise (README-ptq "Tolerances" 4).
        var isGreedy: Bool { self == .gptqMode || self == .gpfqMode }
    }

    /// The model being transformed, and what the stages so far made of it.
    final class State {
        /// The float graph (`TorchGraphSpec`), transformed in place by the float stages; after
        /// `quantize`/`layerwise_quantize` the quantized graph, which took over its modules.
        var graph: GraphModule
        /// The quantized model, once a stage quantized it.
        var quant: QuantGraphModule?
        /// The float layers with weights, as the spec names them.
        let layerNames: [String]
        /// Whether the model holds quantizers (its outputs are then compared normwise).
        var quantized: Bool { quantPoints != nil }
        /// Whether a GPTQ/GPFQ stage ran.
        var afterGreedy = false
        /// The cross-layer equalization regions of the preprocessed graph.
        var regions: [EqualizationRegion]?
        /// The quantization points of the quantized model on the test batch (README-ptq
        /// "Quantization points"), as the stage that quantizes records them: a list of
        /// `{"key", "kind", "calls", "scale", "zero_point", "bit_width", "signed",
        /// "applied_to"?, "scale_shared_with"}`. `nil` while the model is float.
        var quantPoints: (() throws -> JSON)?

        init(graph: GraphModule, layerNames: [String]) {
            self.graph = graph
            self.layerNames = layerNames
        }

        func output(_ x: Tensor) throws -> Tensor {
            try Autograd.noGrad { () throws -> Tensor in
                if let quant { return try quant.output(x) }
                return graph(x)
            }
        }

        /// `{layer: {"weight", "bias"}}` for every conv/linear, float or quantized; a layer wrapped
        /// by activation equalization lives at `L.layer`.
        func weightRecords() -> JSON {
            let model: Module = quant ?? graph
            let o = JSONObject()
            for name in layerNames {
                guard let path = [name, name + ".layer"].first(where: { model.tensor(at: $0 + ".weight") != nil }) else { continue }
                var fields = [("weight", Records.record(model.tensor(at: path + ".weight"))), ("bias", Records.record(model.tensor(at: path + ".bias")))]
                if let e = model.module(at: name) as? EqualizedModule { fields.append(("input_scale", Records.record(e.scale.weight))) }
                o[name] = .object(JSONObject(fields))
            }
            return .object(o)
        }

        /// Makes `q` the model and records its quantization points on `test`.
        func quantized(by q: QuantGraphModule, test: Tensor) {
            (graph, quant) = (q, q)
            quantPoints = { try PTQReplay.pointRecords(try q.quantizationPoints(on: test)) }
        }
    }

    /// Our quantization points in the case's format.
    static func pointRecords(_ points: [QuantizationPoint]) -> JSON {
        .array(points.map { p in
            var fields: [(String, JSON)] = [("key", .string(p.key)), ("kind", .string(p.kind)), ("calls", .number(Double(p.calls)))]
            if p.calls > 0, let scale = p.scale, let zp = p.zeroPoint, let bw = p.bitWidth, let signed = p.signed {
                fields += [("scale", Records.record(scale)), ("zero_point", Records.record(zp)), ("bit_width", .number(Double(bw))),
                           ("signed", .bool(signed))]
            }
            if let applied = p.appliedTo { fields.append(("applied_to", .array(applied.map(JSON.string)))) }
            fields.append(("scale_shared_with", .array(p.scaleSharedWith.map(JSON.string))))
            return .object(JSONObject(fields))
        })
    }

    /// A parsed case value as Foundation values (what `TorchGraphSpec` and `QuantizeMaps` read).
    static func foundation(_ j: JSON) -> Any {
        switch j {
        case .null: return NSNull()
        case .bool(let b): return NSNumber(value: b)
        case .number(let d): return d == d.rounded() && Swift.abs(d) < 1e15 ? NSNumber(value: Int(d)) : NSNumber(value: d)
        case .string(let s): return s
        case .array(let a): return a.map(foundation)
        case .numbers(let d): return d.map { foundation(.number($0)) }
        case .object(let o):
            var out: [String: Any] = [:]
            for (k, v) in o.pairs { out[k] = foundation(v) }
            return out
        }
    }

    func run() throws -> String? {
        let graph = try need(try need(spec, "float_model", "spec"), "graph", "spec.float_model")
        guard let pipeline = try need(spec, "pipeline", "spec").array, !pipeline.isEmpty else { throw ReplayError.malformed("spec.pipeline is not a list of stages") }
        guard let records = try need(json, "stages", "case").array else { throw ReplayError.malformed("stages is not a list") }
        guard records.count == pipeline.count else {
            throw ReplayError.malformed("\(pipeline.count) pipeline stages but \(records.count) stage records")
        }
        guard pipeline[0]["stage"]?.string == Stage.float.rawValue else { throw ReplayError.malformed("the pipeline does not start with the float stage") }
        guard let inputs = try need(spec, "inputs", "spec").array?.compactMap(\.string), inputs == ["x"] else {
            throw ReplayError.unsupported("PTQ models with inputs other than [\"x\"]")
        }
        let data = try need(json, "data", "case")
        let test = try Records.tensor(try need(data, "test", "data"))
        let final = try need(json, "final", "case")
        let float: GraphModule
        do { float = try TorchGraphSpec.build(Self.foundation(graph)) } catch { throw ReplayError.malformed("spec.float_model.graph: \(error)") }
        let layerNames = (graph["modules"]?.object?.pairs ?? []).compactMap { name, m -> String? in
            ["torch.nn.Conv2d", "torch.nn.Linear"].contains(m["class"]?.string ?? "") ? name : nil
        }
        let state = State(graph: float, layerNames: layerNames)
        let initial = try need(json, "initial_state", "case")
        for part in ["params", "buffers"] where initial[part]?.object == nil { throw ReplayError.malformed("initial_state: no \(part)") }
        try ModuleState.load(initial, into: float)
        float.eval()
        let re = json["reference_error"]
        let comparable = re == nil ? pipeline.count : try need(re, "comparable_stages", "reference_error").int ?? 0
        for (k, stageSpec) in pipeline.enumerated() {
            let p = "stages[\(k)]"
            guard let name = try need(stageSpec, "stage", "spec.pipeline[\(k)]").string, records[k]["stage"]?.string == name else {
                throw ReplayError.malformed("\(p): the record is not of stage \(stageSpec["stage"] ?? .null)")
            }
            if k >= comparable {
                return "not comparable: the reference raised \(re?["type"]?.string ?? "an error") (\(re?["message"]?.string ?? "")); stages 0..<\(comparable) compared, \(name) and later record the defective reference"
            }
            guard let stage = Stage(rawValue: name) else { throw ReplayError.unsupported("pipeline stage \(name)") }
            chk.startStep()
            try apply(stage, stageSpec, state, data)
            try compare(p, records[k], state, test)
        }
        let last = records[records.count - 1]
        for key in ["output", "quant_points"] where (final[key] == nil) != (last[key] == nil) {
            throw ReplayError.malformed("final.\(key) is not a copy of the last stage's")
        }
        if let out = final["output"] { compareOutput("final/output", out, state, test) }
        return nil
    }

    /// Applies one stage to the model.
    func apply(_ stage: Stage, _ stageSpec: JSON, _ state: State, _ data: JSON) throws {
        let kwargs = stageSpec["kwargs"]
        switch stage {
        case .float:
            return  // nothing is done: the stage records the float model
        case .preprocessForQuantize:
            var o = PreprocessOptions()
            if let v = kwargs?["relu6_to_relu"]?.bool { o.relu6ToReLU = v }
            if let v = kwargs?["merge_bn"]?.bool { o.mergeBatchNorm = v }
            if let v = kwargs?["equalize_merge_bias"]?.bool { o.equalizeMergeBias = v }
            if let v = kwargs?["equalize_iters"]?.int {
                try CaseCheck.iterations(v, field: "spec.pipeline.preprocess_for_quantize.kwargs.equalize_iters")
                o.equalizeIterations = v
            }
            for key in ["equalize_bias_shrinkage", "equalize_scale_computation"] where kwargs?[key] != nil {
                throw ReplayError.unsupported("preprocess_for_quantize with \(key) other than its default")
            }
            try preprocessForQuantize(state.graph, options: o)
            state.regions = EqualizeGraph.regions(of: state.graph)
        case .quantize:
            guard state.quant == nil else { throw ReplayError.malformed("quantize of a model that is already quantized") }
            let maps = try QuantizeMaps(json: Self.foundation(stageSpec) as? [String: Any] ?? [:])
            state.quantized(by: try GraphQuant.quantize(state.graph, maps: maps), test: try Records.tensor(try need(data, "test", "data")))
        case .layerwiseQuantize:
            guard state.quant == nil else { throw ReplayError.malformed("layerwise_quantize of a model that is already quantized") }
            state.quantized(by: try GraphQuant.layerwiseQuantize(state.graph), test: try Records.tensor(try need(data, "test", "data")))
        case .calibrationMode:
            guard let quant = state.quant else { throw ReplayError.malformed("calibration_mode of a float model") }
            try calibrate(quant, batches: try batches(stageSpec, data))
        case .biasCorrectionMode:
            guard let quant = state.quant else { throw ReplayError.malformed("bias_correction_mode of a float model") }
            try correctBias(quant, batches: try batches(stageSpec, data))
        case .gptqMode:
            guard let quant = state.quant else { throw ReplayError.malformed("gptq_mode of a float model") }
            try gptqMode(quant, batches: try batches(stageSpec, data), actOrder: stageSpec["kwargs"]?["act_order"]?.bool ?? false)
            state.afterGreedy = true
        case .gpfqMode:
            guard let quant = state.quant else { throw ReplayError.malformed("gpfq_mode of a float model") }
            try gpfqMode(quant, batches: try batches(stageSpec, data), actOrder: stageSpec["kwargs"]?["act_order"]?.bool ?? false)
            state.afterGreedy = true
        case .activationEqualizationMode:
            guard state.quant == nil else { throw ReplayError.malformed("activation_equalization_mode of a quantized model") }
            let layerwise = kwargs?["layerwise"]?.bool ?? true
            if !layerwise && kwargs?["add_mul_node"]?.bool != false {
                throw ReplayError.unsupported("graph activation equalization with add_mul_node=True (mul nodes after scale-varying activations)")
            }
            guard let alpha = kwargs?["alpha"]?.double else { throw ReplayError.malformed("activation_equalization_mode without alpha") }
            _ = try activationEqualization(state.graph, batches: try batches(stageSpec, data), alpha: alpha, scope: layerwise ? .layerwise : .graph)
        }
    }

    /// The batches a stage names (`"batches": "calib"`), from `data`.
    func batches(_ stageSpec: JSON, _ data: JSON) throws -> [Tensor] {
        guard let key = stageSpec["batches"]?.string, let list = data[key]?.array else {
            throw ReplayError.malformed("stage \(stageSpec["stage"] ?? .null): 'batches' names no list in data")
        }
        return try list.map(Records.tensor)
    }

    /// Compares the stage record with the model after the stage (README-ptq "Tolerances").
    func compare(_ p: String, _ record: JSON, _ state: State, _ test: Tensor) throws {
        try compareOutput("\(p)/output", try need(record, "output", p), state, test)
        let weights = try need(record, "weights", p)
        guard let ours = state.weightRecords().object, let theirs = weights.object else { throw ReplayError.malformed("\(p): weights is not an object") }
        guard Set(ours.keys) == Set(theirs.keys) else {
            chk.fail("\(p)/weights", "keys \(ours.keys.sorted()) != \(theirs.keys.sorted())")
            return
        }
        for (layer, r) in theirs.pairs {
            guard let ro = r.object else { throw ReplayError.malformed("\(p)/weights/\(layer) is not an object") }
            for key in ro.keys where !["weight", "bias", "input_scale"].contains(key) {
                throw ReplayError.malformed("\(p)/weights/\(layer)/\(key) is not a weight record")
            }
            if let ref = ro["input_scale"] {
                compareMultiplier("\(p)/weights/\(layer)/input_scale", ours[layer]!["input_scale"] ?? .null, ref)
            } else if ours[layer]!["input_scale"] != nil {
                chk.fail("\(p)/weights/\(layer)/input_scale", "ours has an input multiplier, the reference does not")
            }
            for key in ["weight", "bias"] {
                let path = "\(p)/weights/\(layer)/\(key)"
                guard let ref = ro[key] else { throw ReplayError.malformed("\(p)/weights/\(layer): no \(key)") }
                let got = ours[layer]![key] ?? .null
                if state.afterGreedy { chk.normwise(path, got, ref, 2e-3) } else { chk.compare(path, got, ref) }
            }
        }
        if let ref = record["equalization_regions"] {
            let ours = JSON.array((state.regions ?? []).map { r in
                .object(JSONObject([("srcs", .array(r.sourceNames.map(JSON.string))), ("sinks", .array(r.sinkNames.map(JSON.string)))]))
            })
            if ours != ref { chk.fail("\(p)/equalization_regions", "ours \(ours) != reference \(ref)") }
        }
        switch (record["quant_points"], state.quantPoints) {
        case (nil, nil): break
        case (let ref?, let ours?):
            do {
                Self.compareQuantPoints(chk, "\(p)/quant_points", try ours(), ref, afterGreedy: state.afterGreedy)
            } catch {
                chk.fail("\(p)/quant_points", "our model raised \(error)")
            }
        case (_?, nil): chk.fail("\(p)/quant_points", "the reference model is quantized here, ours is not")
        case (nil, _?): chk.fail("\(p)/quant_points", "our model is quantized here, the reference's is not")
        }
    }

    /// Quantization points (README-ptq "Replaying a case" 2 and "Tolerances"): the same set of
    /// keys; per point `kind`, `bit_width`, `signed`, `calls`, `applied_to` and
    /// `scale_shared_with` exactly (a point with 0 calls has no metadata); `scale` and
    /// `zero_point` close(0) before any GPTQ/GPFQ stage, normwise 3e-4 from the first on.
    static func compareQuantPoints(_ chk: Checker, _ path: String, _ ours: JSON, _ ref: JSON, afterGreedy: Bool) {
        func byKey(_ j: JSON) -> [String: JSON]? {
            guard let a = j.array else { return nil }
            var d: [String: JSON] = [:]
            for q in a {
                guard let k = q["key"]?.string, d[k] == nil else { return nil }
                d[k] = q
            }
            return d
        }
        guard let r = byKey(ref) else {
            chk.fail(path, "the reference quant_points are not a list of points with distinct keys")
            return
        }
        guard let o = byKey(ours) else {
            chk.fail(path, "our quant_points are not a list of points with distinct keys")
            return
        }
        guard Set(o.keys) == Set(r.keys) else {
            chk.fail(path, "keys \(o.keys.sorted()) != \(r.keys.sorted())")
            return
        }
        for k in r.keys.sorted() {
            let a = o[k]!, b = r[k]!, q = "\(path)/\(k)"
            for f in ["kind", "bit_width", "signed", "calls", "applied_to", "scale_shared_with"] where a[f] != b[f] {
                chk.fail("\(q)/\(f)", "ours \(a[f] ?? .null) != reference \(b[f] ?? .null)")
            }
            for f in ["scale", "zero_point"] {
                switch (a[f], b[f]) {
                case (nil, nil): continue
                case (let x?, let y?):
                    if afterGreedy { chk.normwise("\(q)/\(f)", x, y, 3e-4) } else { chk.compare("\(q)/\(f)", x, y, "qmeta") }
                default:
                    chk.fail("\(q)/\(f)", "\(a[f] == nil ? "missing in ours" : "missing in the reference")")
                }
            }
        }
    }

    /// Activation-equalization multipliers (README-ptq "Tolerances" 2):
    /// `|a - b| <= 1e-4·|b| + 1e-6·max|b|` per element.
    func compareMultiplier(_ path: String, _ got: JSON, _ ref: JSON) {
        guard let (a, b) = chk.arrays(path, got, ref) else { return }
        let m = b.reduce(0) { Swift.max($0, Swift.abs($1)) }
        let bad = zip(a, b).enumerated().filter { !(Swift.abs($0.element.0 - $0.element.1) <= 1e-4 * Swift.abs($0.element.1) + 1e-6 * m) }
        if let first = bad.first {
            chk.fail(path, "\(bad.count) of \(a.count) outside 1e-4 relative (first at \(first.offset): ours \(first.element.0) vs reference \(first.element.1))")
        }
    }

    func compareOutput(_ path: String, _ ref: JSON, _ state: State, _ test: Tensor) {
        do {
            let got = Records.record(try state.output(test))
            if state.quantized { chk.normwise(path, got, ref, 0.05) } else { chk.compare(path, got, ref) }
        } catch {
            chk.fail(path, "our model raised \(error)")
        }
    }
}
