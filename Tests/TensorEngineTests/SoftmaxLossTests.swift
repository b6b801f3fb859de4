import Testing
import TestSupport
@testable import TensorEngine

@Suite struct SoftmaxLossTests {
    @Test func softmaxAndLogSoftmaxMatchPyTorch() throws {
        for c in (try Fixture("engine", "softmax")).cases() {
            let name = c.string("name"), dim = c.int("dim")
            let (s, gs) = forwardBackward([c.t("x")], g: c.t("g")) { t in t[0]!.softmax(dim: dim) }
            expectClose(s, c.t("softmax_out"), "\(name) softmax")
            expectClose(gs[0], c.t("softmax_grad_x"), "\(name) softmax grad")
            let (l, gl) = forwardBackward([c.t("x")], g: c.t("g")) { t in t[0]!.logSoftmax(dim: dim) }
            expectClose(l, c.t("log_softmax_out"), "\(name) log_softmax")
            expectClose(gl[0], c.t("log_softmax_grad_x"), "\(name) log_softmax grad")
        }
    }

    @Test func crossEntropyMatchesPyTorch() throws {
        let f = (try Fixture("engine", "cross_entropy"))
        let targets = f.ints("targets")
        for (key, red) in [("mean", LossReduction.mean), ("sum", .sum)] {
            let (loss, g) = forwardBackward([f.t("logits")], g: f.t("g")) { t in
                Tensor.crossEntropy(t[0]!, targets: targets, reduction: red)
            }
            expectClose(loss, f[key].t("loss"), "\(key) loss")
            expectClose(g[0], f[key].t("grad_logits"), "\(key) grad")
        }
        let none = f["none"]
        let (loss, g) = forwardBackward([f.t("logits")], g: none.t("g")) { t in
            Tensor.crossEntropy(t[0]!, targets: Tensor(targets.map(Float.init)), reduction: .none)
        }
        expectClose(loss, none.t("loss"), "none loss")
        expectClose(g[0], none.t("grad_logits"), "none grad")
    }

    @Test func mseLossMatchesPyTorch() throws {
        let f = (try Fixture("engine", "mse_loss"))
        for (key, red) in [("mean", LossReduction.mean), ("sum", .sum)] {
            let (loss, g) = forwardBackward([f.t("input"), f.t("target")], g: f.t("g")) { t in
                Tensor.mseLoss(t[0]!, t[1]!, reduction: red)
            }
            expectClose(loss, f[key].t("loss"), "\(key) loss")
            expectClose(g[0], f[key].t("grad_input"), "\(key) grad input")
            expectClose(g[1], f[key].t("grad_target"), "\(key) grad target")
        }
    }

    @Test func gradChecks() {
        let x = randn([3, 4, 5], seed: 60)
        let g = randn([3, 4, 5], seed: 61)
        for d in [0, 1, 2] {
            gradCheck([x], eps: 1e-3) { t in (t[0].softmax(dim: d) * g).sum() }
            gradCheck([x], eps: 1e-3) { t in (t[0].logSoftmax(dim: d) * g).sum() }
        }
        // spatial cross-entropy: logits [2, 4, 5] (classes on dim 1), targets [2, 5]
        let targets = [0, 3, 1, 2, 2, 1, 0, 3, 3, 0]
        let x2 = randn([2, 4, 5], seed: 66)
        gradCheck([x2], eps: 1e-3) { t in
            Tensor.crossEntropy(t[0], targets: targets)
        }
        let gn = randn([2, 5], seed: 62)
        gradCheck([x2], eps: 1e-3) { t in
            (Tensor.crossEntropy(t[0], targets: targets, reduction: .none) * gn).sum()
        }
        let a = randn([3, 4], seed: 63), b = randn([4], seed: 64)
        gradCheck([a, b], eps: 1e-3) { t in Tensor.mseLoss(t[0], t[1]) }  // broadcasting path
        let c = randn([3, 4], seed: 65)
        gradCheck([a, c], eps: 1e-3) { t in Tensor.mseLoss(t[0], t[1], reduction: .sum) }
        let gm = randn([3, 4], seed: 67)
        gradCheck([a, c], eps: 1e-3) { t in (Tensor.mseLoss(t[0], t[1], reduction: .none) * gm).sum() }
    }

    @Test func stabilityAndEdgeCases() {
        let big = Tensor(shape: [1, 3], [1000, 1001, 1002])
        let s = big.softmax(dim: 1)
        #expect(s.scalars.allSatisfy { $0.isFinite } && abs(s.sum().item() - 1) < 1e-6)
        #expect(big.logSoftmax(dim: 1).scalars.allSatisfy { $0.isFinite })
        #expect(Tensor(shape: [1, 2], [.nan, 1]).softmax(dim: 1).scalars.allSatisfy { $0.isNaN })
        let inf = Tensor(shape: [1, 3], [.infinity, 0, 1]).softmax(dim: 1)
        #expect(inf.scalars.contains { $0.isNaN })  // inf - inf, as in PyTorch
        #expect(Tensor.zeros([0, 4]).softmax(dim: 1).shape == [0, 4])
        #expect(Tensor.crossEntropy(Tensor.zeros([0, 3]), targets: []).item().isNaN)
        #expect(Tensor.crossEntropy(Tensor.zeros([0, 3]), targets: [], reduction: .sum).item() == 0)
        #expect(Tensor.mseLoss(Tensor.zeros([0]), Tensor.zeros([0])).item().isNaN)
    }
}
