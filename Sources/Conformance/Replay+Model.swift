import Foundation
import NN
import QuantNN
import Quantizers
import TensorEngine

/// Single-model cases (`spec.model`): layer, sequential and graph models, v1 and the v2
/// `formats` and `layers` families.
extension Replay {
    /// Spec features of the layers family that the runner does not replay yet: each makes the
    /// case fail with the reason instead of being silently ignored.
    static let unbuiltSpecFeatures: [(String, String)] = []

    func checkSpecFeatures(_ spec: JSON) throws {
        for (key, what) in Self.unbuiltSpecFeatures where spec[key] != nil {
            throw ReplayError.unsupported("\(what)")
        }

    }

    func modelCase(_ spec: JSON) throws {
        let modelSpec = try need(spec, "model", "spec")
        if let err = json["expected_error"] {
            switch err["during"]?.string {
            case "construct":
                try expectError("construction", err) { _ = try SpecModel.build(modelSpec) }
                return
            case "forward": break  // the step with `error` says where
            default: throw ReplayError.malformed("expected_error.during \(err["during"] ?? .null)")
            }
        }
        try checkSpecFeatures(spec)
        let model = try SpecModel.build(modelSpec)
        guard let root = model.module else { throw ReplayError.unsupported("a model without state") }
        let initial = try need(json, "initial_state", "case")
        guard try checkConstruction("construction", root, initial) else { return }
        try loadState(initial, root)
        if let loss = spec["loss"], !loss.isNull {
            try qat(spec, model, root)
            return
        }
        guard let steps = try need(json, "steps", "case").array else { throw ReplayError.malformed("steps is not a list") }
        guard let inputNames = try need(spec, "inputs", "spec").array?.compactMap(\.string) else {
            throw ReplayError.malformed("spec.inputs is not a list of names")
        }
        let params = root.namedParameters()
        var optimizer: SGD? = nil
        if steps.contains(where: { $0["op"]?.string == "forward_backward_sgd" }) {
            guard let lr = json["sgd"]?["lr"]?.double else { throw ReplayError.malformed("SGD steps without sgd.lr") }
            optimizer = Training.optimizer(params.map(\.tensor), lr: lr)
        }
        for (k, s) in steps.enumerated() {
            let p = "steps[\(k)]"
            chk.startStep()
            let before = k == 0 ? initial : try need(steps[k - 1], "state_after", "steps[\(k - 1)]")
            if k > 0 { try loadState(before, root) }
            model.train(try mode(s, p))
            let op = try need(s, "op", p).string ?? ""
            guard ["forward", "forward_backward", "forward_backward_sgd"].contains(op) else {
                throw ReplayError.unsupported("\(p): step op \(s["op"]!)")
            }
            let backward = op != "forward"
            let inputs = try need(s, "inputs", p)
            var leaves: [(String, QuantValue)] = []
            for n in inputNames {
                let v = try input(spec, n, try need(inputs, n, "\(p)/inputs"), "\(p)/inputs/\(n)")
                if backward, !isIndexInput(spec, n), case .float(let t) = v { t.requiresGrad = true }
                leaves.append((n, v))
            }
            let args = leaves.map(\.1)
            if let err = s["error"] {
                try expectError(p, err) { _ = try callOutputs(model, spec, args) }
                return
            }
            let refOut = try need(s, "output", p)
            let (out, inter) = try capturingIntermediates(of: root) { try callOutputs(model, spec, args) }
            chk.compare("\(p)/output", out.record, refOut)
            if let refInter = s["intermediates"] {
                chk.compare("\(p)/intermediates", inter, refInter)
            }
            if let bound = s["accumulator_bound"] { try checkAccumulatorBound("\(p)/accumulator_bound", bound, inter) }
            chk.forwardDone(backward: backward)
            var stateExtra: [String: Double] = [:]
            if backward {
                let sgd = op == "forward_backward_sgd"
                let upstream = try need(s, "upstream_grad", p)
                var refs = (inputs.object?.pairs ?? []).map { ($0.key, $0.value) }
                refs += (before["params"]?.object?.pairs ?? []).map { ($0.key, $0.value) }
                let ex = gradExtras(upstream, refOut, refs, lr: sgd ? json["sgd"]?["lr"]?.double : nil)
                stateExtra = ex.states
                let loss = try out.loss(upstream)
                // QuantTensor and integer/boolean inputs get no gradient (`null`), as in the reference.
                let differentiable = leaves.map { $0.1.quantTensor == nil && !isIndexInput(spec, $0.0) }
                let inputTensors = leaves.enumerated().map { i, l in differentiable[i] ? l.1.value : Tensor(0) }
                let grads = Training.gradients(of: loss, wrt: inputTensors + params.map(\.tensor))
                let gi = grads.prefix(leaves.count).enumerated().map { i, g in differentiable[i] ? g : nil }
                let gp = Array(grads.dropFirst(leaves.count))
                chk.compare("\(p)/loss", Records.record(loss), try need(s, "loss", p), "loss", .value(ex.loss))
                chk.compare("\(p)/grad_inputs", gradRecord(leaves.map(\.0), gi), try need(s, "grad_inputs", p), "grad", .keyed(ex.grads))
                chk.compare("\(p)/grad_params", gradRecord(params.map { canonicalName[$0.name] ?? $0.name }, gp), try need(s, "grad_params", p), "grad", .keyed(ex.grads))
                if sgd { Training.step(optimizer!, grads: gp) }
            }
            chk.state("\(p)/state_after", moduleState(root), try need(s, "state_after", p), extra: stateExtra)
        }
        chk.endCase()
        try checkExport(spec, model, root, lastState: steps.last?["state_after"])
    }

    /// Eval forward on `export_input` with the final state equals `export_output` (both or
    /// neither must be recorded).
    func checkExport(_ spec: JSON, _ model: SpecModel, _ root: Module, lastState: JSON?) throws {
        let expected = json["export_output"], input = json["export_input"]
        guard expected != nil || input != nil else { return }
        guard let expected, let input else { throw ReplayError.malformed("export_input and export_output come together") }
        var args: [QuantValue] = []
        if input.isTensor {
            args = [.float(try Records.tensor(input))]
        } else {
            // v2: `{input name: tensor}`, in the order of spec.inputs.
            for n in spec["inputs"]?.array?.compactMap(\.string) ?? [] {
                args.append(try self.input(spec, n, try need(input, n, "export_input"), "export_input/\(n)"))
            }
        }
        chk.startStep()
        if let lastState { try loadState(lastState, root) }
        model.train(false)
        let out = try Autograd.noGrad { try callOutputs(model, spec, args) }
        chk.compare("export_output", out.record, expected)
    }

    // MARK: Reference errors

    /// A case whose reference itself failed (a Brevitas defect, e.g. `QuantCat` in 0.13.4): there
    /// are no reference numbers, so the case is *not comparable*. Our layer must build (a
    /// construction-time defect may also be rejected by our configuration checks), match the
    /// recorded initial state and run every step (forward, and backward where the step has one)
    /// without error, except that at the step where the reference raised our layer may refuse
    /// too with a typed error; anything the runner cannot build fails as usual.
    func referenceError(_ spec: JSON, _ re: JSON) throws -> String {
        let what = "the reference raised \(re["type"]?.string ?? "an error") (\(re["message"]?.string ?? ""))"
        try checkSpecFeatures(spec)
        let model: SpecModel
        do {
            model = try SpecModel.build(try need(spec, "model", "spec"))
        } catch let e as ReplayError {
            throw e
        } catch {
            // A typed configuration error may refuse, at construction, what the reference only
            // failed on at its first forward.
            let refusal = (error as? QuantConfigError).map { !LayerFactory.namesUnbuiltKeyword($0) } ?? false
            guard re["during"]?.string == "construct" || family == .formats || refusal else { throw error }
            return "not comparable: \(what); our configuration checks reject it too: \(error)"
        }
        guard let root = model.module else { throw ReplayError.unsupported("a model without state") }
        if let initial = json["initial_state"] {
            guard try checkConstruction("construction", root, initial) else { return "" }
            try loadState(initial, root)
        }
        let steps = json["steps"]?.array ?? []
        if re["during"]?.string != "construct" && steps.isEmpty { throw ReplayError.malformed("reference_error during a step, but no steps") }
        let inputNames = spec["inputs"]?.array?.compactMap(\.string) ?? []
        for (k, s) in steps.enumerated() {
            model.train(try mode(s, "steps[\(k)]"))
            let backward = s["op"]?.string != "forward"
            let args = try inputNames.map { n -> QuantValue in
                let v = try input(spec, n, try need(s["inputs"], n, "steps[\(k)]/inputs"), "steps[\(k)]/inputs/\(n)")
                if backward, !isIndexInput(spec, n), case .float(let t) = v { t.requiresGrad = true }
                return v
            }
            do {
                let out = try callOutputs(model, spec, args)
                if backward { _ = Training.gradients(of: try out.sumOfValues(), wrt: root.parameters()) }
            } catch let e as ReplayError {
                throw e
            } catch {
                // Where the reference failed, a typed error of ours is a refusal too.
                if re["during"]?.string == "forward", re["step"]?.int == k {
                    return "not comparable: \(what); our layer rejects it too: \(error)"
                }
                chk.fail("steps[\(k)]", "our layer raised \(error)")
            }
        }
        return "not comparable: \(what); our layer ran every step"
    }

    // MARK: Inputs of other dtypes, accumulator bounds

    /// Whether input `name` is an integer or boolean tensor (`spec.input_dtypes`, v2).
    func isIndexInput(_ spec: JSON, _ name: String) -> Bool { spec["input_dtypes"]?[name] != nil }

    /// A recorded input: a QuantTensor, a float tensor, or (v2 `spec.input_dtypes`) an `int64`
    /// or `bool` tensor stored as whole numbers (0/1 for bool), passed on as their float values
    /// (the indices of an embedding, an attention mask) and never differentiated.
    func input(_ spec: JSON, _ name: String, _ d: JSON, _ path: String) throws -> QuantValue {
        guard let dtype = spec["input_dtypes"]?[name] else { return try Records.value(d) }
        let t = try Records.tensor(d)
        switch dtype.string {
        case "int64":
            for v in t.scalars where v != v.rounded() { throw ReplayError.malformed("\(path): int64 input holds \(v)") }
        case "bool":
            for v in t.scalars where v != 0 && v != 1 { throw ReplayError.malformed("\(path): bool input holds \(v)") }
        default:
            throw ReplayError.unsupported("input dtype \(dtype)")
        }
        return .float(t)
    }

    /// A2Q's accumulator bound (README-layers "A2Q"): from the step's quantized weight and input
    /// (our intermediates `weight_quant` and `input_quant`), per output channel the sums of the
    /// positive and negative integer weights, the worst-case |accumulator|
    /// (`l1·2^(N−1)` for a signed N-bit input, `max(pos, neg)·(2^N − 1)` unsigned) and whether it
    /// fits `2^(P−1) − 1`. As the reference's policy, `fits` is compared exactly.
    func checkAccumulatorBound(_ path: String, _ ref: JSON, _ inter: JSON) throws {
        guard let p = ref["accumulator_bit_width"]?.double, let refFits = ref["fits"]?.bool else {
            throw ReplayError.malformed("\(path): needs accumulator_bit_width and fits")
        }
        guard let w = inter["weight_quant"]?.array?.first, let x = inter["input_quant"]?.array?.first,
            let codes = w["int_value"]?["data"]?.doubles, let shape = w["int_value"]?["shape"]?.doubles, let rows = shape.first,
            let n = x["bit_width"]?["data"]?.doubles?.first, let signed = x["signed"]?.bool, rows > 0
        else {
            chk.fail(path, "our layer recorded no valid quantized weight and input to bound the accumulator with")
            return
        }
        let perRow = codes.count / Int(rows)
        let limit = Foundation.pow(2, p - 1) - 1
        var fits = true
        for r in 0..<Int(rows) {
            var pos = 0.0, neg = 0.0
            for c in codes[(r * perRow)..<((r + 1) * perRow)] { if c > 0 { pos += c } else { neg -= c } }
            let worst = signed ? (pos + neg) * Foundation.pow(2, n - 1) : Swift.max(pos, neg) * (Foundation.pow(2, n) - 1)
            if worst > limit { fits = false }
        }
        if fits != refFits { chk.fail(path, "fits: ours \(fits) != reference \(refFits)") }
    }

    /// Calls the model; with `spec.outputs`, its tuple is named as the spec lays it out.
    func callOutputs(_ model: SpecModel, _ spec: JSON, _ args: [QuantValue]) throws -> CallResult {
        guard let structure = spec["outputs"] else { return .single(try callModel(model, spec, args)) }
        return .named(try SpecModel.flatten(try model.callTuple(try ModelCall(spec, args)), structure))
    }
}

/// One call of a model as `spec.call` describes it (README-layers, spec_version 2).
struct ModelCall {
    /// Positional arguments: `call.args` by input name (a repeated name passes the same
    /// tensor, so self-attention sees one tensor three times), else the inputs in order.
    var args: [QuantValue]
    /// `call.tensor_kwargs`: keyword → (input, whether its dtype is `bool`).
    var tensorKwargs: [String: (value: QuantValue, boolean: Bool)] = [:]
    /// `call.kwargs`.
    var kwargs: [String: JSON] = [:]

    /// `inputs` are the values of `spec.inputs`, in that order.
    init(_ spec: JSON, _ inputs: [QuantValue]) throws {
        let call = spec["call"]
        for k in call?.object?.keys ?? [] where !["args", "kwargs", "tensor_kwargs", "as_list"].contains(k) {
            throw ReplayError.unsupported("spec.call.\(k)")
        }
        let names = spec["inputs"]?.array?.compactMap(\.string) ?? []
        var byName: [String: QuantValue] = [:]
        for (n, v) in zip(names, inputs) { byName[n] = v }
        func value(_ n: String) throws -> QuantValue {
            guard let v = byName[n] else { throw ReplayError.malformed("spec.call names input '\(n)', which spec.inputs \(names) lacks") }
            return v
        }
        for (kw, n) in call?["tensor_kwargs"]?.object?.pairs ?? [] {
            guard let name = n.string else { throw ReplayError.malformed("spec.call.tensor_kwargs.\(kw) is not an input name") }
            tensorKwargs[kw] = (try value(name), spec["input_dtypes"]?[name]?.string == "bool")
        }
        if let a = call?["args"] {
            guard let list = a.array?.compactMap(\.string), list.count == a.array?.count else { throw ReplayError.malformed("spec.call.args is not a list of names") }
            args = try list.map(value)
        } else {
            let kwInputs = Set((call?["tensor_kwargs"]?.object?.pairs ?? []).compactMap { $0.value.string })
            args = zip(names, inputs).filter { !kwInputs.contains($0.0) }.map(\.1)
            if names.isEmpty { args = inputs }
        }
        for (k, v) in call?["kwargs"]?.object?.pairs ?? [] { kwargs[k] = v }
    }
}

/// What one call of a model returned: a value, or named values (`spec.outputs`, v2).
enum CallResult {
    case single(QuantValue)
    case named([(String, QuantValue?)])

    /// The output record (`{name: record | null}` for named outputs).
    var record: JSON {
        switch self {
        case .single(let v): return Records.record(v)
        case .named(let vs): return .object(JSONObject(vs.map { ($0.0, $0.1.map(Records.record) ?? .null) }))
        }
    }

    /// `sum(value · G)`, summed over the named non-null outputs in order (README-layers).
    func loss(_ upstream: JSON) throws -> Tensor {
        switch self {
        case .single(let v): return (v.value * (try Self.upstream(upstream, like: v, "upstream_grad"))).sum()
        case .named(let vs):
            var total: Tensor? = nil
            for (n, v) in vs {
                guard let v else { continue }
                guard let g = upstream[n] else { throw ReplayError.malformed("upstream_grad has no \(n)") }
                let t = (v.value * (try Self.upstream(g, like: v, "upstream_grad.\(n)"))).sum()
                total = total.map { $0 + t } ?? t
            }
            guard let total else { throw ReplayError.malformed("no output to take a loss of") }
            return total
        }
    }

    /// A recorded upstream gradient, which must have its output's shape (as `torch.autograd.backward`).
    static func upstream(_ g: JSON, like output: QuantValue, _ field: String) throws -> Tensor {
        let t = try Records.tensor(g)
        guard t.shape == output.value.shape else {
            throw ReplayError.malformed("\(field): shape \(t.shape), the output is \(output.value.shape)")
        }
        return t
    }

    /// The sum of every output value (a backward without recorded upstream gradients).
    func sumOfValues() throws -> Tensor {
        switch self {
        case .single(let v): return v.value.sum()
        case .named(let vs): return vs.compactMap { $0.1?.value.sum() }.reduce(Tensor(0), +)
        }
    }
}
