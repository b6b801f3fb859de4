import Foundation
import NN
import QuantNN
import Quantizers
import TensorEngine
import Testing
import TestSupport

@testable import Conformance

/// One golden case of `../shared/conformance/layers` (recorded with Brevitas 0.13.4), replayed
/// step by step for the layer unit tests: build from `spec.model`, load `initial_state`, run
/// each step (re-synchronised from the previous `state_after`), compare the output, its
/// QuantTensor metadata and every recorded gradient.
struct LayerCase {
    /// `shared/conformance/layers` beside the main checkout or beside this worktree's parent.
    static let directory: URL? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<6 {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("shared/conformance/layers")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("lstm_default.json").path) { return candidate }
        }
        return nil
    }()
    static var available: Bool { directory != nil }

    let name: String
    let json: JSON

    init(_ name: String) throws {
        self.name = name
        json = try JSON.load(contentsOf: try #require(Self.directory).appendingPathComponent("\(name).json"))
    }

    var steps: [JSON] { json["steps"]?.array ?? [] }

    /// The model, with `initial_state` loaded.
    func build() throws -> SpecModel {
        let model = try SpecModel.build(try #require(json["spec"]?["model"]))
        if let root = model.module, let initial = json["initial_state"] { try ModuleState.load(initial, into: root) }
        return model
    }

    /// The step's named inputs in `spec.inputs` order (float inputs require a gradient).
    func inputs(_ step: JSON) throws -> [(String, Tensor)] {
        let dtypes = json["spec"]?["input_dtypes"]?.object
        return try (json["spec"]?["inputs"]?.array ?? []).map { n in
            let name = n.string ?? ""
            let t = try Records.tensor(try #require(step["inputs"]?[name]))
            t.requiresGrad = dtypes?[name] == nil
            return (name, t)
        }
    }

    /// Replays every step of a single-input, single-output case; `check` may add comparisons.
    func replay(rtol: Float = 1e-4, stepTolerance: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let model = try build()
        let root = try #require(model.module)
        let lr = json["sgd"]?["lr"]?.double.map(Float.init)
        for (k, step) in steps.enumerated() {
            if k > 0, let before = steps[k - 1]["state_after"] { try ModuleState.load(before, into: root) }
            root.zeroGrad()
            let train = step["mode"]?.string == "train"
            model.train(train)
            let ins = try inputs(step)
            let out = try model(ins.map { .float($0.1) })
            let where_ = "\(name) step \(k)"
            let ref = try #require(step["output"])
            try Self.expectRecord(out, ref, rtol: rtol, stepTolerance: stepTolerance, where_, sourceLocation: sourceLocation)
            let op = step["op"]?.string ?? ""
            guard op.hasPrefix("forward_backward"), let g = step["upstream_grad"] else { continue }
            out.value.backward(try Records.tensor(g))
            // A flipped tie changes round(v/s), which reaches the gradient of a learned or
            // statistics scale (and through it the input): compare magnitudes only.
            let rtol = stepTolerance ? 0.02 : rtol
            for (n, t) in ins where step["grad_inputs"]?[n].map({ !$0.isNull }) == true {
                Self.expectClose(t.grad, try Records.tensor(step["grad_inputs"]![n]!), rtol: rtol, "\(where_) grad \(n)", sourceLocation)
            }
            let params = Dictionary(root.namedParameters(), uniquingKeysWith: { a, _ in a })
            for (n, g) in step["grad_params"]?.object?.pairs ?? [] where !g.isNull {
                guard let p = params[n] else {
                    Issue.record("\(where_): no parameter \(n)", sourceLocation: sourceLocation)
                    continue
                }
                Self.expectClose(p.grad, try Records.tensor(g), rtol: rtol, "\(where_) grad \(n)", sourceLocation)
            }
            if let lr, op == "forward_backward_sgd", let after = step["state_after"]?["params"]?.object {
                for (n, p) in params { if let g = p.grad { p.assign(p.detach() - g * lr) } }
                for (n, v) in after.pairs {
                    Self.expectClose(params[n], try Records.tensor(v), rtol: rtol, "\(where_) state_after \(n)", sourceLocation)
                }
            }
        }
    }

    /// Replays a recurrent case (README-layers tolerance rule 3: normwise, outputs, scales and
    /// loss within 0.05·max|ref|, gradients within 2·max|ref|): state keys as recorded, every
    /// output of `spec.outputs`, the loss `Σ_name Σ value·G_name`, gradients, SGD updates.
    func replayRecurrent(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let spec = try #require(json["spec"]?["model"])
        var kwargs: [String: ConfigValue] = [:]
        for (k, v) in spec["kwargs"]?.object?.pairs ?? [] { kwargs[k] = try SpecModel.configValue(v) }
        let model = try LayerFactory.makeRecurrent(className: try #require(spec["class"]?.string), kwargs: kwargs)
        // The io quantizer is reachable as `cell.output_quant` (Brevitas's module order) and as
        // `io_quant` (its recorded, shortest name): fold the case's `state_aliases`.
        var aliases: [String: [String]] = [:], canonicalName: [String: String] = [:]
        for (n, others) in json["state_aliases"]?.object?.pairs ?? [] {
            aliases[n] = others.array?.compactMap(\.string) ?? []
            for o in aliases[n]! { canonicalName[o] = n }
        }
        let ours = ModuleState(of: model).canonicalized(canonicalName)
        let initial = try #require(json["initial_state"])
        #expect(ours.params.keys.sorted() == (initial["params"]?.object?.keys ?? []).sorted(), "\(name): parameter keys", sourceLocation: sourceLocation)
        #expect(ours.buffers.keys.sorted() == (initial["buffers"]?.object?.keys ?? []).sorted(), "\(name): buffer keys", sourceLocation: sourceLocation)
        #expect(ours.counters.keys.sorted() == (initial["counters"]?.object?.keys ?? []).sorted(), "\(name): counter keys", sourceLocation: sourceLocation)
        /// A recorded state with `_fast_cell` keys mapped to ours.
        func canonical(_ st: JSON) -> JSON {
            let o = JSONObject()
            for part in ["params", "buffers", "counters"] {
                o[part] = .object(JSONObject((st[part]?.object?.pairs ?? []).map { (RecurrentStateKeys.canonical($0.0), $0.1) }))
            }
            return .object(o)
        }
        try ModuleState.load(initial, into: model, aliases: aliases)
        let lr = json["sgd"]?["lr"]?.double.map(Float.init)
        var params = Dictionary(model.namedParameters(), uniquingKeysWith: { a, _ in a })
        for (n, others) in aliases where params[n] == nil { params[n] = others.lazy.compactMap { params[$0] }.first }
        func normwise(_ a: Tensor?, _ ref: JSON?, _ t: Float, _ what: String) throws {
            guard let ref, !ref.isNull else { return }
            let b = try Records.tensor(ref)
            let x = a ?? Tensor.zeros(b.shape)
            guard x.shape == b.shape else {
                Issue.record("\(what): shape \(x.shape) vs recorded \(b.shape)", sourceLocation: sourceLocation)
                return
            }
            let m = b.scalars.reduce(0) { max($0, abs($1)) }
            let d = zip(x.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(d <= t * m + 1e-7, "\(what): max|diff| \(d) > \(t)·max|ref| (\(m))", sourceLocation: sourceLocation)
        }
        for (k, step) in steps.enumerated() {
            if k > 0, let before = steps[k - 1]["state_after"] { try ModuleState.load(canonical(before), into: model, aliases: aliases) }
            model.zeroGrad()
            model.train(step["mode"]?.string == "train")
            let (_, x) = try #require(try inputs(step).first)
            let r = try model(.float(x))
            let named: [(String, QuantValue?)] = [("out", r.output), ("h_n", r.hidden), ("c_n", r.cell)]
            var loss = Tensor(0)
            for (n, v) in named {
                guard let v, let ref = step["output"]?[n] else { continue }
                let label = "\(name) step \(k) \(n)"
                try normwise(v.value, ref.isQuantTensor ? ref["value"] : ref, 0.05, label)
                if ref.isQuantTensor {
                    #expect(v.quantTensor != nil, "\(label): expected a QuantTensor", sourceLocation: sourceLocation)
                    try normwise(v.quantTensor?.scale.reshape([-1]), ref["scale"].map { .object(JSONObject([("shape", .numbers([1])), ("data", $0["data"]!)])) }, 0.05, "\(label) scale")
                }
                if let g = step["upstream_grad"]?[n], !g.isNull { loss = loss + (v.value * (try Records.tensor(g))).sum() }
            }
            try normwise(loss, step["loss"], 0.05, "\(name) step \(k) loss")
            let op = step["op"]?.string ?? ""
            guard op.hasPrefix("forward_backward") else { continue }
            loss.backward()
            try normwise(x.grad, step["grad_inputs"]?["x"], 2.0, "\(name) step \(k) grad x")
            for (n, g) in step["grad_params"]?.object?.pairs ?? [] {
                try normwise(params[RecurrentStateKeys.canonical(n)]?.grad, g, 2.0, "\(name) step \(k) grad \(n)")
            }
            if let lr, op == "forward_backward_sgd", let after = step["state_after"]?["params"]?.object {
                for (_, p) in params { if let g = p.grad { p.assign(p.detach() - g * lr) } }
                for (n, v) in after.pairs {
                    try normwise(params[RecurrentStateKeys.canonical(n)], v, 0.05, "\(name) step \(k) state_after \(n)")
                }
            }
        }
    }

    /// Per step (state re-synchronised), the accumulator bound of our integer weights against the
    /// recorded `accumulator_bound` (pos/neg sums, worst case, limit, fits).
    func checkAccumulatorBounds(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let model = try build()
        let root = try #require(model.module)
        let layer = try #require(root as? QuantWeightBiasLayer)
        for (k, step) in steps.enumerated() {
            if k > 0, let before = steps[k - 1]["state_after"] { try ModuleState.load(before, into: root) }
            guard let rec = step["accumulator_bound"] else { continue }
            model.train(step["mode"]?.string == "train")
            let x = try inputs(step)[0].1
            let qi = layer.inputQuant(.float(x))
            let qw = try layer.weightQuant(layer.weight, input: qi, layer: name)
            let b = AccumulatorBound(intWeight: try qw.quantTensor!.int(), inputBitWidth: Int(qi.quantTensor!.bitWidth.item()),
                                     inputSigned: qi.quantTensor!.signed, accumulatorBitWidth: try #require(rec["accumulator_bit_width"]?.int))
            let pos = rec["weight_int_pos_sum"]?.doubles ?? [], neg = rec["weight_int_neg_sum"]?.doubles ?? []
            let worst = rec["worst_case_abs"]?.doubles ?? [], bits = rec["required_bit_width"]?.doubles ?? []
            let limit = rec["limit"]?.double ?? -1, fits = rec["fits"]?.bool ?? false
            let label = "\(name) step \(k)"
            #expect(b.positiveSums == pos, "\(label) pos", sourceLocation: sourceLocation)
            #expect(b.negativeSums == neg, "\(label) neg", sourceLocation: sourceLocation)
            #expect(b.worstCase == worst, "\(label) worst", sourceLocation: sourceLocation)
            #expect(b.limit == limit && b.fits == fits, "\(label) fits", sourceLocation: sourceLocation)
            #expect(b.requiredBitWidths.map(Double.init) == bits, "\(label) bits", sourceLocation: sourceLocation)
        }
    }

    /// Output value and, for a QuantTensor record, scale, zero point and bit width.
    static func expectRecord(_ out: QuantValue, _ ref: JSON, rtol: Float, stepTolerance: Bool = false, _ what: String, sourceLocation: SourceLocation) throws {
        if ref.isQuantTensor {
            guard let q = out.quantTensor else {
                Issue.record("\(what): expected a QuantTensor, got a float tensor", sourceLocation: sourceLocation)
                return
            }
            // With `stepTolerance`, values may differ by one step of the scale (rounding ties).
            let step = stepTolerance ? q.scale.scalars.max()! * 1.0001 : 0
            expectClose(q.value, try Records.tensor(ref["value"]!), rtol: rtol, atol: step, "\(what) value", sourceLocation)
            expectClose(q.scale.reshape([-1]), try Records.tensor(ref["scale"]!).reshape([-1]), rtol: rtol, "\(what) scale", sourceLocation)
            expectClose(q.zeroPoint.reshape([-1]), try Records.tensor(ref["zero_point"]!).reshape([-1]), rtol: rtol, "\(what) zero point", sourceLocation)
            expectClose(q.bitWidth.reshape([-1]), try Records.tensor(ref["bit_width"]!).reshape([-1]), rtol: 0, "\(what) bit width", sourceLocation)
            #expect(q.signed == ref["signed"]?.bool, "\(what) signed", sourceLocation: sourceLocation)
        } else {
            expectClose(out.value, try Records.tensor(ref), rtol: rtol, "\(what) value", sourceLocation)
        }
    }

    /// Elementwise `|a − b| <= rtol·(|b| + max|b|) + 1e-7 + atol`: TestSupport's `expectClose`
    /// with the case's `max|b|` term folded into its absolute tolerance (a missing gradient counts
    /// as zeros there too).
    static func expectClose(_ a: Tensor?, _ b: Tensor, rtol: Float, atol: Float = 0, _ what: String, _ loc: SourceLocation) {
        let m = b.scalars.reduce(0) { max($0, abs($1)) }
        TestSupport.expectClose(a, b, rtol: rtol, atol: rtol * m + 1e-7 + atol, what, sourceLocation: loc)
    }
}
