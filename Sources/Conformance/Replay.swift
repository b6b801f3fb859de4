import NN
import QuantNN
import TensorEngine

/// Replays one conformance case (README "Replaying a case"; replay.py `--policy --sync`): builds
/// the model(s) from `spec`, checks the fresh state, loads `initial_state`, replays every step with
/// the reference state re-synchronised before each, and compares outputs, losses, gradients
/// (null vs zero included), states, printed values and the export output. QAT cases also get a
/// free-running run from `initial_state`.
struct Replay {
    let json: JSON
    let chk: Checker

    var name: String { json["name"]?.string ?? "?" }

    /// Replays the case; returns a note when the case is not comparable (`reference_error`).
    func run() throws -> String? {
        chk.startCase()
        guard json["spec_version"]?.int == 1 else {
            chk.fail("spec_version", "unsupported \(json["spec_version"] ?? .null)")
            return nil
        }
        guard let spec = json["spec"] else { throw ReplayError.malformed("no spec") }
        if let re = json["reference_error"] { return try referenceError(spec, re) }
        if spec["model"] != nil {
            try modelCase(spec)
        } else {
            try notebookCase(spec)
        }
        return nil
    }

    // MARK: Shared steps

    func expectError(_ path: String, _ ref: JSON, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            return  // the point of failure matches; type and message are informative
        }
        chk.fail(path, "no error raised, expected \(ref["type"]?.string ?? "an error") (\(ref["message"]?.string ?? ""))")
    }

    /// Fresh module vs `initial_state`: the same keys; equal values except the RNG-drawn conv and
    /// linear weights and biases. A module carried over from earlier notebook cells is compared
    /// on its constant buffers only. Returns false when the keys differ.
    func checkConstruction(_ path: String, _ m: Module, _ ref: JSON, carriedOver: Bool = false) -> Bool {
        let fresh = ModuleState(of: m)
        let parts: [(String, [String], JSONObject?)] = [
            ("params", Array(fresh.params.keys), ref["params"]?.object),
            ("buffers", Array(fresh.buffers.keys), ref["buffers"]?.object),
            ("counters", Array(fresh.counters.keys), ref["counters"]?.object),
        ]
        for (part, ours, theirs) in parts where ours.sorted() != (theirs?.keys.sorted() ?? []) {
            chk.fail("\(path)/\(part)", "keys \(ours.sorted()) != \(theirs?.keys.sorted() ?? [])")
            return false
        }
        if carriedOver {
            let keep = (ref["buffers"]?.object?.keys ?? []).filter { !ModuleState.isStatsBuffer($0) }
            chk.compare("\(path)/buffers", .object(JSONObject(keep.map { ($0, fresh.buffers[$0]!) })),
                        .object(JSONObject(keep.map { ($0, ref["buffers"]![$0]!) })), "state")
        } else {
            let skip = ModuleState.rngDependent(m)
            var ours = fresh
            ours.params = fresh.params.filter { !skip.contains($0.key) }
            let refParams = JSONObject((ref["params"]?.object?.pairs ?? []).filter { !skip.contains($0.key) })
            let r = JSONObject()
            r["params"] = .object(refParams)
            r["buffers"] = ref["buffers"]
            r["counters"] = ref["counters"]
            chk.state(path, ours, .object(r))
        }
        return true
    }

    /// The policy's tolerance terms for one backward (`grad_extras`): the loss term and, per input
    /// or parameter name, the gradient term and (with `lr`) the updated-parameter term.
    func gradExtras(_ upstream: JSON, _ outRef: JSON, _ leaves: [(String, JSON)], lr: Double? = nil)
        -> (loss: Double, grads: [String: Double], states: [String: Double])
    {
        let g = upstream["data"]?.doubles ?? []
        let o = Records.refValue(outRef)
        var l1 = 0.0
        for (x, y) in zip(o, g) { l1 += Swift.abs(x * y) }
        let lossExtra = Checker.Tolerance.gradC * Checker.Tolerance.eps * l1
        var grads: [String: Double] = [:]
        for (n, d) in leaves {
            let m = Records.maxAbs(d)
            grads[n] = m > 0 ? lossExtra / m : 0
        }
        let states = lr.map { lr in grads.mapValues { lr * $0 } } ?? [:]
        return (lossExtra, grads, states)
    }

    func gradRecord(_ names: [String], _ grads: [Tensor?]) -> JSON {
        .object(JSONObject(zip(names, grads).map { ($0, Records.record($1)) }))
    }

    func callModel(_ model: SpecModel, _ spec: JSON, _ args: [QuantValue]) throws -> QuantValue {
        let call = spec["call"]
        let kwargs = call?["kwargs"]?.object
        for k in kwargs?.keys ?? [] where k != "dim" { throw ReplayError.unsupported("call keyword \(k)") }
        return try model(args, dim: kwargs?["dim"]?.int)
    }

    // MARK: Single-model cases

    func modelCase(_ spec: JSON) throws {
        if let err = json["expected_error"], err["during"]?.string == "construct" {
            expectError("construction", err) { _ = try SpecModel.build(spec["model"]!) }
            return
        }
        let model = try SpecModel.build(spec["model"]!)
        guard let root = model.module else { throw ReplayError.unsupported("a model without state") }
        if let initial = json["initial_state"] {
            guard checkConstruction("construction", root, initial) else { return }
            try ModuleState.load(initial, into: root)
        }
        if spec["loss"] != nil && !(spec["loss"]!.isNull) {
            try qat(spec, model, root)
            return
        }
        let steps = json["steps"]?.array ?? []
        let inputNames = spec["inputs"]?.array?.compactMap(\.string) ?? []
        let params = root.namedParameters()
        let lr = json["sgd"]?["lr"]?.double
        for (k, s) in steps.enumerated() {
            let p = "steps[\(k)]"
            chk.startStep()
            let before = k == 0 ? json["initial_state"] : steps[k - 1]["state_after"]
            if k > 0, let before { try ModuleState.load(before, into: root) }
            model.train(s["mode"]?.string == "train")
            let op = s["op"]?.string ?? ""
            let backward = op != "forward"
            var leaves: [(String, QuantValue)] = []
            for n in inputNames {
                guard let d = s["inputs"]?[n] else { throw ReplayError.malformed("\(p): no input \(n)") }
                let v = try Records.value(d)
                if backward, case .float(let t) = v { t.requiresGrad = true }
                leaves.append((n, v))
            }
            let args = leaves.map(\.1)
            if let err = s["error"] {
                expectError(p, err) { _ = try callModel(model, spec, args) }
                return
            }
            let out = try callModel(model, spec, args)
            guard let refOut = s["output"] else { throw ReplayError.malformed("\(p): no output") }
            chk.compare("\(p)/output", Records.record(out), refOut)
            chk.forwardDone(backward: backward)
            var stateExtra: [String: Double] = [:]
            if backward {
                let sgd = op == "forward_backward_sgd"
                guard let upstream = s["upstream_grad"] else { throw ReplayError.malformed("\(p): no upstream_grad") }
                var refs = (s["inputs"]?.object?.pairs ?? []).map { ($0.key, $0.value) }
                refs += (before?["params"]?.object?.pairs ?? []).map { ($0.key, $0.value) }
                if sgd && lr == nil { throw ReplayError.malformed("\(p): SGD step without sgd.lr") }
                let ex = gradExtras(upstream, refOut, refs, lr: sgd ? lr : nil)
                stateExtra = ex.states
                let loss = (out.value * (try Records.tensor(upstream))).sum()
                let inputTensors = leaves.map { $0.1.quantTensor == nil ? $0.1.value : Tensor(0) }
                let grads = Training.gradients(of: loss, wrt: inputTensors + params.map(\.tensor))
                let gi = grads.prefix(leaves.count).enumerated().map { i, g in leaves[i].1.quantTensor == nil ? g : nil }
                let gp = Array(grads.dropFirst(leaves.count))
                chk.compare("\(p)/loss", Records.record(loss), s["loss"] ?? .null, "loss", .value(ex.loss))
                chk.compare("\(p)/grad_inputs", gradRecord(leaves.map(\.0), gi), s["grad_inputs"] ?? .null, "grad", .keyed(ex.grads))
                chk.compare("\(p)/grad_params", gradRecord(params.map(\.name), gp), s["grad_params"] ?? .null, "grad", .keyed(ex.grads))
                if sgd { Training.sgdStep(params.map(\.tensor), gp, lr: lr!) }
            }
            if let after = s["state_after"] {
                chk.state("\(p)/state_after", ModuleState(of: root), after, extra: stateExtra)
            }
        }
        chk.endCase()
        try checkExport(spec, model, root, lastState: steps.last?["state_after"])
    }

    /// Eval forward on `export_input` with the final state equals `export_output`.
    func checkExport(_ spec: JSON, _ model: SpecModel, _ root: Module, lastState: JSON?) throws {
        guard let expected = json["export_output"], let input = json["export_input"] else { return }
        chk.startStep()
        if let lastState { try ModuleState.load(lastState, into: root) }
        model.train(false)
        let out = try Autograd.noGrad { try callModel(model, spec, [.float(try Records.tensor(input))]) }
        chk.compare("export_output", Records.record(out), expected)
    }

    // MARK: QAT cases

    func qatData(_ spec: JSON) throws -> (x: Tensor, y: [Int]) {
        guard let loss = spec["loss"], loss["op"]?.string == "cross_entropy", loss["reduction"]?.string == "mean" else {
            throw ReplayError.unsupported("loss \(spec["loss"] ?? .null)")
        }
        let target = loss["target"]?.string ?? "y"
        guard let x = json["data"]?["x"], let y = json["data"]?[target] else { throw ReplayError.malformed("QAT case without data") }
        return (try Records.tensor(x), try Records.tensor(y).scalars.map { Int($0) })
    }

    func qat(_ spec: JSON, _ model: SpecModel, _ root: Module) throws {
        chk.qat = true
        let (x, y) = try qatData(spec)
        guard let lr = json["sgd"]?["lr"]?.double else { throw ReplayError.malformed("QAT case without sgd.lr") }
        let params = root.namedParameters()
        let steps = json["steps"]?.array ?? []
        for (k, s) in steps.enumerated() {
            let p = "steps[\(k)]"
            chk.startStep()
            if k > 0, let before = steps[k - 1]["state_after"] { try ModuleState.load(before, into: root) }
            switch s["op"]?.string {
            case "qat_sgd_step":
                model.train(true)
                let logits = try callModel(model, spec, [.float(x)]).value
                chk.compare("\(p)/logits", Records.record(logits), s["logits"] ?? .null)
                let loss = Training.crossEntropyMean(logits, targets: y)
                let grads = Training.gradients(of: loss, wrt: params.map(\.tensor))
                chk.compare("\(p)/loss", Records.record(loss), s["loss"] ?? .null, "loss")
                chk.qatGrads("\(p)/grad_params", JSONObject(zip(params, grads).map { ($0.name, Records.record($1)) }),
                             s["grad_params"]?.object ?? JSONObject())
                Training.sgdStep(params.map(\.tensor), grads, lr: lr)
                chk.state("\(p)/state_after", ModuleState(of: root), s["state_after"] ?? .null)
            case "qat_eval":
                model.train(false)
                let logits = try Autograd.noGrad { try callModel(model, spec, [.float(x)]).value }
                chk.compare("\(p)/logits", Records.record(logits), s["logits"] ?? .null)
            default:
                throw ReplayError.unsupported("QAT step op \(s["op"] ?? .null)")
            }
        }
        if let final = json["final_state"] {
            chk.state("final_state", ModuleState(of: root), final)
        }
        try checkExport(spec, model, root, lastState: json["final_state"])
        try qatFreeRunning(spec, x: x, y: y, lr: lr)
    }

    /// QAT integration check: the whole run from `initial_state` without re-synchronisation keeps
    /// every `loss_per_step` within 10% and `eval_logits` within 0.25·max|ref|.
    func qatFreeRunning(_ spec: JSON, x: Tensor, y: [Int], lr: Double) throws {
        let model = try SpecModel.build(spec["model"]!)
        guard let root = model.module, let initial = json["initial_state"] else { return }
        try ModuleState.load(initial, into: root)
        let params = root.namedParameters().map(\.tensor)
        var losses: [Double] = []
        model.train(true)
        for s in json["steps"]?.array ?? [] where s["op"]?.string == "qat_sgd_step" {
            let loss = Training.crossEntropyMean(try callModel(model, spec, [.float(x)]).value, targets: y)
            let grads = Training.gradients(of: loss, wrt: params)
            Training.sgdStep(params, grads, lr: lr)
            losses.append(Double(loss.item()))
        }
        model.train(false)
        let logits = try Autograd.noGrad { try callModel(model, spec, [.float(x)]).value }
        if let ref = json["loss_per_step"]?.doubles {
            guard ref.count == losses.count else {
                chk.fail("free_running/loss_per_step", "\(losses.count) training steps, reference has \(ref.count)")
                return
            }
            var worst = 0.0, at = 0
            for (i, (a, b)) in zip(losses, ref).enumerated() {
                let d = Swift.abs(a - b) / Swift.abs(b)
                if !(d <= worst) { worst = d; at = i }
            }
            if !(worst <= Checker.Tolerance.qatFreeLoss) {
                chk.fail("free_running/loss_per_step", "step \(at + 1) off by \(chk.fmt(worst * 100))% (ours \(chk.fmt(losses[at])), reference \(chk.fmt(ref[at])); at most 10%)")
            }
        }
        if let ref = json["eval_logits"], let b = ref["data"]?.doubles {
            let a = logits.scalars.map(Double.init)
            guard a.count == b.count else {
                chk.fail("free_running/eval_logits", "\(a.count) logits, reference has \(b.count)")
                return
            }
            var worst = 0.0, m = 0.0
            for (u, v) in zip(a, b) {
                worst = Swift.max(worst, Swift.abs(u - v).isNaN ? .infinity : Swift.abs(u - v))
                m = Swift.max(m, Swift.abs(v))
            }
            if worst > Checker.Tolerance.qatFreeValue * m {
                chk.fail("free_running/eval_logits", "max|diff| \(chk.fmt(worst)) > \(Checker.Tolerance.qatFreeValue) * max|ref| \(chk.fmt(m))")
            }
        }
    }

    // MARK: Notebook cells

    func notebookCase(_ spec: JSON) throws {
        guard let moduleSpecs = spec["modules"]?.object else { throw ReplayError.malformed("notebook case without modules") }
        if let err = json["expected_error"], err["during"]?.string == "construct" {
            guard let name = err["module"]?.string, let ms = moduleSpecs[name] else {
                throw ReplayError.malformed("expected_error names no module")
            }
            expectError("construction", err) { _ = try SpecModel.build(ms) }
            return
        }
        var mods: [(name: String, model: SpecModel, module: Module)] = []
        for (n, s) in moduleSpecs.pairs {
            let m = try SpecModel.build(s)
            guard let root = m.module else { throw ReplayError.unsupported("module \(n) without state") }
            mods.append((n, m, root))
        }
        let byName = Dictionary(uniqueKeysWithValues: mods.map { ($0.name, $0.model) })
        let carried = Set(spec["carried_over"]?.array?.compactMap(\.string) ?? [])
        let initial = json["initial_state"] ?? .object(JSONObject())
        for (n, _, root) in mods {
            guard let st = initial[n] else { throw ReplayError.malformed("no initial_state for \(n)") }
            guard checkConstruction("construction/\(n)", root, st, carriedOver: carried.contains(n)) else { return }
            try ModuleState.load(st, into: root)
        }
        let params = mods.flatMap { m in m.module.namedParameters().map { ("\(m.name).\($0.name)", $0.tensor) } }
        var values: [String: Value] = [:]
        let steps = json["steps"]?.array ?? []
        let programs = spec["programs"]?.array ?? []
        for (k, (s, prog)) in zip(steps, programs).enumerated() {
            let p = "steps[\(k)]"
            chk.startStep()
            let before = k == 0 ? initial : (steps[k - 1]["state_after"] ?? .null)
            if k > 0 {
                for (n, _, root) in mods {
                    guard let st = before[n] else { throw ReplayError.malformed("\(p): no previous state for \(n)") }
                    try ModuleState.load(st, into: root)
                }
            }
            for m in mods { m.model.train(s["mode"]?.string == "train") }
            let backward = s["op"]?.string == "forward_backward"
            var leaves: [String: QuantValue] = [:]
            for (n, d) in s["inputs"]?.object?.pairs ?? [] {
                let v = try Records.value(d)
                if backward, case .float(let t) = v { t.requiresGrad = true }
                leaves[n] = v
                values[n] = .value(v)
            }
            var given: [String: QuantValue] = [:]
            for (n, d) in s["outputs"]?.object?.pairs ?? [] where d.isTensor || d.isQuantTensor {
                given[n] = try Records.value(d)
            }
            let nodes = prog["nodes"]?.array ?? []
            if let err = s["error"] {
                expectError(p, err) { try Ops.runNodes(nodes, env: &values, modules: byName, given: given) }
                return
            }
            try Ops.runNodes(nodes, env: &values, modules: byName, given: given)
            let refOutputs = s["outputs"]?.object ?? JSONObject()
            var ours: [(String, JSON)] = []
            for n in refOutputs.keys {
                guard case .value(let v)? = values[n] else { throw ReplayError.malformed("\(p): output \(n) was not computed") }
                ours.append((n, Records.record(v)))
            }
            chk.compare("\(p)/outputs", .object(JSONObject(ours)), .object(refOutputs))
            if let printed = prog["printed"] {
                chk.compare("\(p)/printed", Ops.record(try Ops.eval(printed, values)), s["printed"] ?? .null)
            }
            chk.forwardDone(backward: backward)
            var paramRefs: [(String, JSON)] = []
            for (mn, st) in before.object?.pairs ?? [] {
                for (pn, d) in st["params"]?.object?.pairs ?? [] { paramRefs.append(("\(mn).\(pn)", d)) }
            }
            let inputRefs = (s["inputs"]?.object?.pairs ?? []).map { ($0.key, $0.value) }
            for (on, g) in s["grads"]?.object?.pairs ?? [] {
                let names = g["grad_inputs"]?.object?.keys ?? []
                var targets: [Tensor] = []
                for n in names {
                    guard case .float(let t)? = leaves[n] else { throw ReplayError.malformed("\(p): gradient input \(n) is not a plain input") }
                    targets.append(t)
                }
                guard case .value(let outV)? = values[on], let upstream = g["upstream_grad"], let outRef = refOutputs[on] else {
                    throw ReplayError.malformed("\(p): gradients of unknown output \(on)")
                }
                let loss = (outV.value * (try Records.tensor(upstream))).sum()
                let grads = Training.gradients(of: loss, wrt: targets + params.map(\.1), retain: true)
                let ex = gradExtras(upstream, outRef, inputRefs + paramRefs)
                chk.compare("\(p)/grads/\(on)/grad_inputs", gradRecord(names, Array(grads.prefix(names.count))),
                            g["grad_inputs"] ?? .null, "grad", .keyed(ex.grads))
                chk.compare("\(p)/grads/\(on)/grad_params", gradRecord(params.map(\.0), Array(grads.dropFirst(names.count))),
                            g["grad_params"] ?? .null, "grad", .keyed(ex.grads))
            }
            for (n, _, root) in mods {
                chk.state("\(p)/state_after/\(n)", ModuleState(of: root), s["state_after"]?[n] ?? .null)
            }
        }
        chk.endCase()
        if let printed = spec["printed"] {
            chk.compare("printed", Ops.record(try Ops.eval(printed, values)), json["printed"] ?? .null)
        }
    }

    // MARK: Reference errors

    /// A case whose reference itself failed (a Brevitas defect, e.g. `QuantCat` in 0.13.4): there
    /// are no reference numbers. Our layer must build, match the recorded initial state and run
    /// every step (forward, and backward where the step has one) without error.
    func referenceError(_ spec: JSON, _ re: JSON) throws -> String {
        let model = try SpecModel.build(spec["model"]!)
        guard let root = model.module else { throw ReplayError.unsupported("a model without state") }
        if let initial = json["initial_state"] {
            guard checkConstruction("construction", root, initial) else { return "" }
            try ModuleState.load(initial, into: root)
        }
        let inputNames = spec["inputs"]?.array?.compactMap(\.string) ?? []
        for (k, s) in (json["steps"]?.array ?? []).enumerated() {
            model.train(s["mode"]?.string == "train")
            let backward = s["op"]?.string != "forward"
            let args = try inputNames.map { n -> QuantValue in
                guard let d = s["inputs"]?[n] else { throw ReplayError.malformed("steps[\(k)]: no input \(n)") }
                let v = try Records.value(d)
                if backward, case .float(let t) = v { t.requiresGrad = true }
                return v
            }
            do {
                let out = try callModel(model, spec, args)
                if backward { _ = Training.gradients(of: out.value.sum(), wrt: root.parameters()) }
            } catch {
                chk.fail("steps[\(k)]", "our layer raised \(error)")
            }
        }
        return "not comparable: the reference raised \(re["type"]?.string ?? "an error") (\(re["message"]?.string ?? "")); our layer ran every step"
    }
}
