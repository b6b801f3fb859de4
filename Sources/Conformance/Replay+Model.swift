import NN
import QuantNN
import TensorEngine

/// Single-model cases (`spec.model`): layer, sequential and graph models, v1 and the v2
/// `formats` and `layers` families.
extension Replay {
    /// Spec features of the layers family that the runner does not replay yet: each makes the
    /// case fail with the reason instead of being silently ignored.
    static let unbuiltSpecFeatures = [
        ("input_dtypes", "integer and boolean inputs (spec.input_dtypes)"),
        ("outputs", "models returning several outputs (spec.outputs)"),
    ]

    func checkSpecFeatures(_ spec: JSON) throws {
        for (key, what) in Self.unbuiltSpecFeatures where spec[key] != nil {
            throw ReplayError.unsupported("\(what)")
        }
        if let aliases = json["state_aliases"]?.object, !aliases.keys.isEmpty {
            throw ReplayError.unsupported("state recorded under shared names (state_aliases)")
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
        try ModuleState.load(initial, into: root)
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
            if k > 0 { try ModuleState.load(before, into: root) }
            model.train(try mode(s, p))
            let op = try need(s, "op", p).string ?? ""
            guard ["forward", "forward_backward", "forward_backward_sgd"].contains(op) else {
                throw ReplayError.unsupported("\(p): step op \(s["op"]!)")
            }
            let backward = op != "forward"
            let inputs = try need(s, "inputs", p)
            var leaves: [(String, QuantValue)] = []
            for n in inputNames {
                let v = try Records.value(try need(inputs, n, "\(p)/inputs"))
                if backward, case .float(let t) = v { t.requiresGrad = true }
                leaves.append((n, v))
            }
            let args = leaves.map(\.1)
            if let err = s["error"] {
                try expectError(p, err) { _ = try callModel(model, spec, args) }
                return
            }
            let refOut = try need(s, "output", p)
            let (out, inter) = try capturingIntermediates(of: root) { try callModel(model, spec, args) }
            chk.compare("\(p)/output", Records.record(out), refOut)
            if let refInter = s["intermediates"] {
                chk.compare("\(p)/intermediates", inter, refInter)
            }
            chk.forwardDone(backward: backward)
            var stateExtra: [String: Double] = [:]
            if backward {
                let sgd = op == "forward_backward_sgd"
                let upstream = try need(s, "upstream_grad", p)
                var refs = (inputs.object?.pairs ?? []).map { ($0.key, $0.value) }
                refs += (before["params"]?.object?.pairs ?? []).map { ($0.key, $0.value) }
                let ex = gradExtras(upstream, refOut, refs, lr: sgd ? json["sgd"]?["lr"]?.double : nil)
                stateExtra = ex.states
                let loss = (out.value * (try Records.tensor(upstream))).sum()
                let inputTensors = leaves.map { $0.1.quantTensor == nil ? $0.1.value : Tensor(0) }
                let grads = Training.gradients(of: loss, wrt: inputTensors + params.map(\.tensor))
                let gi = grads.prefix(leaves.count).enumerated().map { i, g in leaves[i].1.quantTensor == nil ? g : nil }
                let gp = Array(grads.dropFirst(leaves.count))
                chk.compare("\(p)/loss", Records.record(loss), try need(s, "loss", p), "loss", .value(ex.loss))
                chk.compare("\(p)/grad_inputs", gradRecord(leaves.map(\.0), gi), try need(s, "grad_inputs", p), "grad", .keyed(ex.grads))
                chk.compare("\(p)/grad_params", gradRecord(params.map(\.name), gp), try need(s, "grad_params", p), "grad", .keyed(ex.grads))
                if sgd { Training.step(optimizer!, grads: gp) }
            }
            chk.state("\(p)/state_after", ModuleState(of: root), try need(s, "state_after", p), extra: stateExtra)
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
                args.append(try Records.value(try need(input, n, "export_input")))
            }
        }
        chk.startStep()
        if let lastState { try ModuleState.load(lastState, into: root) }
        model.train(false)
        let out = try Autograd.noGrad { try callModel(model, spec, args) }
        chk.compare("export_output", Records.record(out), expected)
    }

    // MARK: Reference errors

    /// A case whose reference itself failed (a Brevitas defect, e.g. `QuantCat` in 0.13.4): there
    /// are no reference numbers, so the case is *not comparable*. Our layer must build (a
    /// construction-time defect may also be rejected by our configuration checks), match the
    /// recorded initial state and run every step (forward, and backward where the step has one)
    /// without error; anything the runner cannot build fails as usual.
    func referenceError(_ spec: JSON, _ re: JSON) throws -> String {
        let what = "the reference raised \(re["type"]?.string ?? "an error") (\(re["message"]?.string ?? ""))"
        try checkSpecFeatures(spec)
        let model: SpecModel
        do {
            model = try SpecModel.build(try need(spec, "model", "spec"))
        } catch let e as ReplayError {
            throw e
        } catch {
            guard re["during"]?.string == "construct" || family == .formats else { throw error }
            return "not comparable: \(what); our configuration checks reject it too: \(error)"
        }
        guard let root = model.module else { throw ReplayError.unsupported("a model without state") }
        if let initial = json["initial_state"] {
            guard try checkConstruction("construction", root, initial) else { return "" }
            try ModuleState.load(initial, into: root)
        }
        let steps = json["steps"]?.array ?? []
        if re["during"]?.string != "construct" && steps.isEmpty { throw ReplayError.malformed("reference_error during a step, but no steps") }
        let inputNames = spec["inputs"]?.array?.compactMap(\.string) ?? []
        for (k, s) in steps.enumerated() {
            model.train(try mode(s, "steps[\(k)]"))
            let backward = s["op"]?.string != "forward"
            let args = try inputNames.map { n -> QuantValue in
                let v = try Records.value(try need(s["inputs"], n, "steps[\(k)]/inputs"))
                if backward, case .float(let t) = v { t.requiresGrad = true }
                return v
            }
            do {
                let out = try callModel(model, spec, args)
                if backward { _ = Training.gradients(of: out.value.sum(), wrt: root.parameters()) }
            } catch let e as ReplayError {
                throw e
            } catch {
                chk.fail("steps[\(k)]", "our layer raised \(error)")
            }
        }
        return "not comparable: \(what); our layer ran every step"
    }
}
