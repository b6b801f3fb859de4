import NN
import QuantNN
import TensorEngine

/// QAT cases (`spec.loss`): re-synchronised SGD steps of cross-entropy on one batch, compared
/// normwise, then a free-running run of the whole training from `initial_state`. The loss and
/// the optimizer are NN's, as `brevitas train` uses them.
extension Replay {
    func qatData(_ spec: JSON) throws -> (x: Tensor, y: [Int]) {
        guard let loss = spec["loss"], loss["op"]?.string == "cross_entropy", loss["reduction"]?.string == "mean" else {
            throw ReplayError.unsupported("loss \(spec["loss"] ?? .null)")
        }
        let target = loss["target"]?.string ?? "y"
        let data = try need(json, "data", "QAT case")
        let x = try Records.tensor(try need(data, "x", "data"))
        let y = try Records.tensor(try need(data, target, "data")).scalars
        var labels: [Int] = []
        for v in y {
            guard v == v.rounded(), v >= 0, v < 1e9 else { throw ReplayError.malformed("data.\(target): \(v) is not a class index") }
            labels.append(Int(v))
        }
        return (x, labels)
    }

    func qat(_ spec: JSON, _ model: SpecModel, _ root: Module) throws {
        chk.qat = true
        let (x, y) = try qatData(spec)
        guard let lr = json["sgd"]?["lr"]?.double else { throw ReplayError.malformed("QAT case without sgd.lr") }
        let params = root.namedParameters()
        let optimizer = Training.optimizer(params.map(\.tensor), lr: lr)
        guard let steps = try need(json, "steps", "case").array else { throw ReplayError.malformed("steps is not a list") }
        for (k, s) in steps.enumerated() {
            let p = "steps[\(k)]"
            chk.startStep()
            if k > 0, let before = steps[k - 1]["state_after"] { try loadState(before, root) }
            switch try need(s, "op", p).string {
            case "qat_sgd_step":
                model.train(true)
                let logits = try callModel(model, spec, [.float(x)]).value
                chk.compare("\(p)/logits", Records.record(logits), try need(s, "logits", p))
                let loss = Training.crossEntropy(logits, y)
                let grads = Training.gradients(of: loss, wrt: params.map(\.tensor))
                chk.compare("\(p)/loss", Records.record(loss), try need(s, "loss", p), "loss")
                guard let refGrads = try need(s, "grad_params", p).object else { throw ReplayError.malformed("\(p): grad_params is not an object") }
                chk.qatGrads("\(p)/grad_params", JSONObject(zip(params, grads).map { ($0.name, Records.record($1)) }), refGrads)
                Training.step(optimizer, grads: grads)
                chk.state("\(p)/state_after", moduleState(root), try need(s, "state_after", p))
            case "qat_eval":
                model.train(false)
                let logits = try Autograd.noGrad { try callModel(model, spec, [.float(x)]).value }
                chk.compare("\(p)/logits", Records.record(logits), try need(s, "logits", p))
            default:
                throw ReplayError.unsupported("QAT step op \(s["op"]!)")
            }
        }
        let final = try need(json, "final_state", "QAT case")
        chk.state("final_state", moduleState(root), final)
        try checkExport(spec, model, root, lastState: final)
        try qatFreeRunning(spec, x: x, y: y, lr: lr)
    }

    /// QAT integration check: the whole run from `initial_state` without re-synchronisation keeps
    /// every `loss_per_step` within 10% and `eval_logits` within 0.25·max|ref|.
    func qatFreeRunning(_ spec: JSON, x: Tensor, y: [Int], lr: Double) throws {
        guard let ref = try need(json, "loss_per_step", "QAT case").doubles else { throw ReplayError.malformed("loss_per_step is not a list of numbers") }
        guard let refLogits = try need(json, "eval_logits", "QAT case")["data"]?.doubles else { throw ReplayError.malformed("eval_logits is not a tensor") }
        let model = try SpecModel.build(spec["model"]!)
        guard let root = model.module else { throw ReplayError.unsupported("a model without state") }
        try loadState(try need(json, "initial_state", "case"), root)
        let optimizer = Training.optimizer(root.parameters(), lr: lr)
        var losses: [Double] = []
        model.train(true)
        for s in json["steps"]?.array ?? [] where s["op"]?.string == "qat_sgd_step" {
            optimizer.zeroGrad()
            let loss = Training.crossEntropy(try callModel(model, spec, [.float(x)]).value, y)
            loss.backward()
            optimizer.step()
            losses.append(Double(loss.item()))
        }
        optimizer.zeroGrad()
        model.train(false)
        let logits = try Autograd.noGrad { try callModel(model, spec, [.float(x)]).value }
        if ref.count != losses.count {
            chk.fail("free_running/loss_per_step", "\(losses.count) training steps, reference has \(ref.count)")
        } else {
            var worst = 0.0, at = 0
            for (i, (a, b)) in zip(losses, ref).enumerated() {
                let d = Swift.abs(a - b) / Swift.abs(b)
                if !(d <= worst) { worst = d; at = i }
            }
            if !(worst <= Checker.Tolerance.qatFreeLoss) {
                chk.fail("free_running/loss_per_step", "step \(at + 1) off by \(chk.fmt(worst * 100))% (ours \(chk.fmt(losses[at])), reference \(chk.fmt(ref[at])); at most 10%)")
            }
        }
        let a = logits.scalars.map(Double.init)
        guard a.count == refLogits.count else {
            chk.fail("free_running/eval_logits", "\(a.count) logits, reference has \(refLogits.count)")
            return
        }
        var worst = 0.0, m = 0.0
        for (u, v) in zip(a, refLogits) {
            worst = Swift.max(worst, Swift.abs(u - v).isNaN ? .infinity : Swift.abs(u - v))
            m = Swift.max(m, Swift.abs(v))
        }
        if worst > Checker.Tolerance.qatFreeValue * m {
            chk.fail("free_running/eval_logits", "max|diff| \(chk.fmt(worst)) > \(Checker.Tolerance.qatFreeValue) * max|ref| \(chk.fmt(m))")
        }
    }
}
