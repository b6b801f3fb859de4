import NN
import QuantNN
import TensorEngine

/// Notebook cells (`spec.modules` and `spec.programs`, the `nb_exec*` cases): one program per
/// step over named modules, outputs by name, gradients per output, printed values.
extension Replay {
    func notebookCase(_ spec: JSON) throws {
        guard let moduleSpecs = try need(spec, "modules", "spec").object else { throw ReplayError.malformed("spec.modules is not an object") }
        if let err = json["expected_error"] {
            switch err["during"]?.string {
            case "construct":
                guard let name = err["module"]?.string, let ms = moduleSpecs[name] else {
                    throw ReplayError.malformed("expected_error names no module of spec.modules")
                }
                try expectError("construction", err) { _ = try SpecModel.build(ms) }
                return
            case "forward": break  // the step with `error` says where
            default: throw ReplayError.malformed("expected_error.during \(err["during"] ?? .null)")
            }
        }
        guard let steps = try need(json, "steps", "case").array else { throw ReplayError.malformed("steps is not a list") }
        guard let programs = try need(spec, "programs", "spec").array else { throw ReplayError.malformed("spec.programs is not a list") }
        guard steps.count == programs.count else {
            throw ReplayError.malformed("\(steps.count) steps but \(programs.count) programs (one program per step)")
        }
        var mods: [(name: String, model: SpecModel, module: Module)] = []
        for (n, s) in moduleSpecs.pairs {
            let m = try SpecModel.build(s)
            guard let root = m.module else { throw ReplayError.unsupported("module \(n) without state") }
            mods.append((n, m, root))
        }
        let byName = Dictionary(uniqueKeysWithValues: mods.map { ($0.name, $0.model) })
        let carried = Set(spec["carried_over"]?.array?.compactMap(\.string) ?? [])
        for c in carried where byName[c] == nil { throw ReplayError.malformed("carried_over names no module: \(c)") }
        let initial = mods.isEmpty ? (json["initial_state"] ?? .object(JSONObject())) : try need(json, "initial_state", "case")
        for (n, _, root) in mods {
            let st = try need(initial, n, "initial_state")
            guard try checkConstruction("construction/\(n)", root, st, carriedOver: carried.contains(n)) else { return }
            try loadState(st, root)
        }
        let params = mods.flatMap { m in m.module.namedParameters().map { ("\(m.name).\($0.name)", $0.tensor) } }
        var values: [String: Value] = [:]
        for (k, (s, prog)) in zip(steps, programs).enumerated() {
            let p = "steps[\(k)]"
            chk.startStep()
            let before = k == 0 ? initial : try need(steps[k - 1], "state_after", "steps[\(k - 1)]")
            if k > 0 {
                for (n, _, root) in mods { try loadState(try need(before, n, "steps[\(k - 1)]/state_after"), root) }
            }
            let training = try mode(s, p)
            for m in mods { m.model.train(training) }
            let op = try need(s, "op", p).string
            guard op == "forward" || op == "forward_backward" else { throw ReplayError.unsupported("\(p): notebook step op \(s["op"]!)") }
            let backward = op == "forward_backward"
            var leaves: [String: QuantValue] = [:]
            guard let inputs = try need(s, "inputs", p).object else { throw ReplayError.malformed("\(p): inputs is not an object") }
            for (n, d) in inputs.pairs {
                let v = try Records.value(d)
                if backward, case .float(let t) = v { t.requiresGrad = true }
                leaves[n] = v
                values[n] = .value(v)
            }
            var given: [String: QuantValue] = [:]
            for (n, d) in s["outputs"]?.object?.pairs ?? [] where d.isTensor || d.quantKind != nil {
                given[n] = try Records.value(d)
            }
            guard let nodes = try need(prog, "nodes", "spec.programs[\(k)]").array else { throw ReplayError.malformed("spec.programs[\(k)].nodes is not a list") }
            if let err = s["error"] {
                try expectError(p, err) { try Ops.runNodes(nodes, env: &values, modules: byName, given: given) }
                return
            }
            guard let refOutputs = try need(s, "outputs", p).object else { throw ReplayError.malformed("\(p): outputs is not an object") }
            let refInter = s["intermediates"]?.object
            var inter = JSONObject()
            if let refInter {
                // Every named module reports its enabled proxies while the program runs.
                for n in refInter.keys where byName[n] == nil { throw ReplayError.malformed("\(p): intermediates of unknown module \(n)") }
                var captured: [(String, JSON)] = []
                var env = values
                try captureAll(mods.filter { refInter[$0.name] != nil }.map { ($0.name, $0.module) }, into: &captured) {
                    try Ops.runNodes(nodes, env: &env, modules: byName, given: given)
                }
                values = env
                inter = JSONObject(captured)
            } else {
                try Ops.runNodes(nodes, env: &values, modules: byName, given: given)
            }
            var ours: [(String, JSON)] = []
            for n in refOutputs.keys {
                guard case .value(let v)? = values[n] else { throw ReplayError.malformed("\(p): output \(n) was not computed") }
                ours.append((n, Records.record(v)))
            }
            chk.compare("\(p)/outputs", .object(JSONObject(ours)), .object(refOutputs))
            if let refInter { chk.compare("\(p)/intermediates", .object(inter), .object(refInter)) }
            if let printed = prog["printed"] {
                chk.compare("\(p)/printed", Ops.record(try Ops.eval(printed, values)), try need(s, "printed", p))
            } else if s["printed"] != nil {
                throw ReplayError.malformed("\(p): a printed value but no printed expression in its program")
            }
            chk.forwardDone(backward: backward)
            var paramRefs: [(String, JSON)] = []
            for (mn, st) in before.object?.pairs ?? [] {
                for (pn, d) in st["params"]?.object?.pairs ?? [] { paramRefs.append(("\(mn).\(pn)", d)) }
            }
            let inputRefs = inputs.pairs.map { ($0.key, $0.value) }
            let grads = backward ? try need(s, "grads", p).object : nil
            if backward && grads == nil { throw ReplayError.malformed("\(p): grads is not an object") }
            for (on, g) in grads?.pairs ?? [] {
                guard let names = try need(g, "grad_inputs", "\(p)/grads/\(on)").object?.keys else {
                    throw ReplayError.malformed("\(p)/grads/\(on): grad_inputs is not an object")
                }
                var targets: [Tensor] = []
                for n in names {
                    guard case .float(let t)? = leaves[n] else { throw ReplayError.malformed("\(p): gradient input \(n) is not a plain input") }
                    targets.append(t)
                }
                guard case .value(let outV)? = values[on], let outRef = refOutputs[on] else {
                    throw ReplayError.malformed("\(p): gradients of unknown output \(on)")
                }
                let upstream = try need(g, "upstream_grad", "\(p)/grads/\(on)")
                let loss = (outV.value * (try Records.tensor(upstream))).sum()
                let gr = Training.gradients(of: loss, wrt: targets + params.map(\.1), retain: true)
                let ex = gradExtras(upstream, outRef, inputRefs + paramRefs)
                chk.compare("\(p)/grads/\(on)/grad_inputs", gradRecord(names, Array(gr.prefix(names.count))),
                            g["grad_inputs"]!, "grad", .keyed(ex.grads))
                chk.compare("\(p)/grads/\(on)/grad_params", gradRecord(params.map(\.0), Array(gr.dropFirst(names.count))),
                            try need(g, "grad_params", "\(p)/grads/\(on)"), "grad", .keyed(ex.grads))
            }
            let after = try need(s, "state_after", p)
            for (n, _, root) in mods {
                chk.state("\(p)/state_after/\(n)", moduleState(root), try need(after, n, "\(p)/state_after"))
            }
        }
        chk.endCase()
        if let printed = spec["printed"] {
            chk.compare("printed", Ops.record(try Ops.eval(printed, values)), try need(json, "printed", "case"))
        } else if json["printed"] != nil {
            throw ReplayError.malformed("a case-level printed value but no spec.printed expression")
        }
    }

    /// Runs `body` with the proxies of each named module reporting (`capturingIntermediates`),
    /// appending `(module name, {proxy path: [records]})` to `captured`.
    func captureAll(_ modules: [(String, Module)], into captured: inout [(String, JSON)], _ body: () throws -> Void) throws {
        guard let (name, root) = modules.first else {
            try body()
            return
        }
        var inner: [(String, JSON)] = []
        let (_, mine) = try capturingIntermediates(of: root) {
            try captureAll(Array(modules.dropFirst()), into: &inner, body)
        }
        captured.append((name, mine))
        captured += inner
    }
}
