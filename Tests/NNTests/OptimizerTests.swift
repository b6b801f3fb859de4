import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

@Suite struct OptimizerTests {
    static let runNames = ["sgd_plain", "sgd_momentum_wd", "sgd_nesterov_wd", "adam", "adam_wd", "adamw"]

    /// Three steps of each optimizer on `sum(q · (p − t)²)` match torch.optim step by step.
    @Test(arguments: runNames)
    func matchesPyTorch(run name: String) throws {
        let fixture = try Fixture("nn", "optim")
        let run = try #require(fixture.cases("runs").first { $0.string("name") == name })
        let order = ["w", "b"]
        let params = order.map { leaf(fixture["init"].t($0)) }
        let q = order.map { fixture["q"].t($0) }, t = order.map { fixture["t"].t($0) }
        let hyper = run["hyper"]
        let lr = Float(hyper.double("lr"))
        let wd = Float(hyper.has("weight_decay") ? hyper.double("weight_decay") : 0)
        let optimizer: any Optimizer
        switch run.string("optimizer") {
        case "SGD":
            optimizer = SGD(
                params, learningRate: lr, momentum: Float(hyper.has("momentum") ? hyper.double("momentum") : 0),
                nesterov: (hyper.json["nesterov"] as? Bool) ?? false, weightDecay: wd)
        case "Adam":
            optimizer = Adam(params, learningRate: lr, epsilon: Float(hyper.double("eps")), weightDecay: wd)
        default:
            optimizer = AdamW(params, learningRate: lr, epsilon: Float(hyper.double("eps")), weightDecay: wd)
        }
        for (i, step) in run.cases("steps").enumerated() {
            optimizer.zeroGrad()
            let loss = zip(params, zip(q, t)).map { p, qt in (qt.0 * (p - qt.1).pow(2)).sum() }.reduce(Tensor(0), +)
            loss.backward()
            expectClose(loss, step.t("loss"), rtol: 1e-5, "\(name) step \(i) loss")
            for (k, n) in order.enumerated() {
                expectClose(params[k].grad, step["grads"].t(n), rtol: 1e-5, atol: 1e-6, "\(name) step \(i) grad \(n)")
            }
            optimizer.step()
            for (k, n) in order.enumerated() {
                expectClose(params[k], step["params"].t(n), rtol: 1e-5, atol: 1e-6, "\(name) step \(i) \(n)")
            }
        }
    }

    @Test func schedulesMatchPyTorch() throws {
        let fixture = try Fixture("nn", "lr_scheduler")
        for s in fixture.cases("schedulers") {
            let params = s["params"]
            let schedule: any LearningRateSchedule = s.string("scheduler") == "StepLR"
                ? StepLR(stepSize: params.int("step_size"), gamma: params.double("gamma"))
                : CosineAnnealingLR(tMax: params.int("T_max"), etaMin: params.double("eta_min"))
            for (epoch, expected) in s.doubles("lrs").enumerated() {
                let lr = schedule.learningRate(epoch: epoch, base: s.double("base_lr"))
                #expect(abs(lr - expected) <= 1e-12, "\(s.string("name")) epoch \(epoch): \(lr) vs \(expected)")
            }
        }
    }

    @Test func schedulerDrivesTheOptimizer() {
        let optimizer = SGD([Tensor.zeros([1])], learningRate: 0.1)
        let scheduler = LearningRateScheduler(optimizer, StepLR(stepSize: 2, gamma: 0.5))
        var lrs: [Float] = []
        for _ in 0..<5 {
            lrs.append(optimizer.learningRate)
            scheduler.step()
        }
        #expect(lrs == [0.1, 0.1, 0.05, 0.05, 0.025])
    }

    @Test func clipGradNormMatchesPyTorch() throws {
        let fixture = try Fixture("nn", "clip_grad_norm")
        for c in fixture.cases() {
            let params = c.tensors("grads_in").map { g -> Tensor in
                let p = Tensor.zeros(g.shape)
                p.grad = g
                return p
            }
            let normType: Float = (c.json["norm_type"] as? String) == "inf" ? .infinity : Float(c.double("norm_type"))
            let norm = clipGradNorm(params, maxNorm: Float(c.double("max_norm")), normType: normType)
            #expect(abs(norm - c.t("total_norm").item()) <= 1e-5 * c.t("total_norm").item(), "\(c.string("name"))")
            for (p, expected) in zip(params, c.tensors("grads_out")) {
                expectClose(p.grad, expected, rtol: 1e-5, atol: 1e-7, c.string("name"))
            }
        }
    }

    @Test func parametersWithoutGradientsAreSkipped() {
        let frozen = Tensor([1, 2])
        let trained = Tensor([1, 2], requiresGrad: true)
        trained.grad = Tensor([1, 1])
        Adam([frozen, trained], learningRate: 0.1).step()
        #expect(frozen.scalars == [1, 2])
        #expect(trained.scalars.map { ($0 * 1000).rounded() / 1000 } == [0.9, 1.9])
    }
}
