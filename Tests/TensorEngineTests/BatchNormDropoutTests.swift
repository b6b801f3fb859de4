import Testing
import TestSupport
@testable import TensorEngine

@Suite struct BatchNormDropoutTests {
    @Test func batchNormTrainMatchesPyTorch() throws {
        let f = (try Fixture("engine", "batchnorm2d"))
        let t = f["train"]
        let rm = t.t("running_mean_before"), rv = t.t("running_var_before")
        let (out, g) = forwardBackward([t.t("x"), t.t("weight"), t.t("bias")], g: t.t("g")) { a in
            Tensor.batchNorm(a[0]!, runningMean: rm, runningVar: rv, weight: a[1], bias: a[2], training: true,
                             momentum: Float(f.double("momentum")), eps: Float(f.double("eps")))
        }
        expectClose(out, t.t("out"), "out")
        expectClose(rm, t.t("running_mean_after"), "running mean")
        expectClose(rv, t.t("running_var_after"), "running var")
        expectClose(g[0], t.t("grad_x"), rtol: 1e-4, atol: 1e-4, "grad_x")
        expectClose(g[1], t.t("grad_weight"), rtol: 1e-4, atol: 1e-4, "grad_weight")
        expectClose(g[2], t.t("grad_bias"), rtol: 1e-4, atol: 1e-4, "grad_bias")
    }

    @Test func batchNormEvalMatchesPyTorch() throws {
        let f = (try Fixture("engine", "batchnorm2d"))
        let e = f["eval"]
        let rm = e.t("running_mean"), rv = e.t("running_var")
        let (out, g) = forwardBackward([e.t("x"), e.t("weight"), e.t("bias")], g: e.t("g")) { a in
            Tensor.batchNorm(a[0]!, runningMean: rm, runningVar: rv, weight: a[1], bias: a[2], training: false,
                             eps: Float(f.double("eps")))
        }
        expectClose(out, e.t("out"), "out")
        expectClose(rm, e.t("running_mean"), rtol: 0, atol: 0, "running mean untouched")
        expectClose(g[0], e.t("grad_x"), "grad_x")
        expectClose(g[1], e.t("grad_weight"), "grad_weight")
        expectClose(g[2], e.t("grad_bias"), "grad_bias")
    }

    /// `batchNorm(relu: true)` is `relu(batchNorm(x))` in one op: the same values bit for bit,
    /// the same gradients, in training and evaluation, for planes shorter and longer than one
    /// eight-lane vector; NaN stays NaN as in `relu()`.
    @Test(arguments: [([3, 4, 5, 3], true), ([2, 3, 9, 11], true), ([4, 2, 17], false), ([2, 3, 9, 11], false)])
    func batchNormReLUIsReLUOfBatchNorm(shape: [Int], training: Bool) {
        let c = shape[1]
        let x = randn(shape, seed: 90), w = randn([c], seed: 91), b = randn([c], seed: 92), g = randn(shape, seed: 93)
        let rm = randn([c], seed: 94), rv = randn([c], seed: 95).abs() + 0.5
        func run(_ fused: Bool) -> (Tensor, [Tensor?], [Float], [Float]) {
            let (m, v) = (rm.copy(), rv.copy())
            let (out, grads) = forwardBackward([x, w, b], g: g) { t in
                fused
                    ? Tensor.batchNorm(t[0]!, runningMean: m, runningVar: v, weight: t[1], bias: t[2], training: training, relu: true)
                    : Tensor.batchNorm(t[0]!, runningMean: m, runningVar: v, weight: t[1], bias: t[2], training: training).relu()
            }
            return (out, grads, m.scalars, v.scalars)
        }
        let fused = run(true), plain = run(false)
        #expect(fused.0.scalars == plain.0.scalars)
        #expect(fused.0.scalars.contains(0) && fused.0.scalars.contains { $0 > 0 })
        #expect(fused.2 == plain.2 && fused.3 == plain.3)
        for k in 0..<3 { expectClose(fused.1[k], plain.1[k], rtol: 1e-5, atol: 1e-6, "grad \(k)") }
        let withNaN = x.copy()
        withNaN.storage.pointer[1] = .nan
        let y = Tensor.batchNorm(withNaN, runningMean: rm, runningVar: rv, weight: w, bias: b, training: false, relu: true)
        #expect(y.storage.pointer[1].isNaN && !y.storage.pointer[0].isNaN)
    }

    @Test func batchNormReLUGradChecks() {
        let x = randn([3, 2, 10], seed: 80), w = randn([2], seed: 81), b = randn([2], seed: 82)
        let g = randn([3, 2, 10], seed: 83)
        for training in [true, false] {
            let rm = Tensor([0.1, -0.2]), rv = Tensor([0.7, 1.3])
            gradCheck([x, w, b], eps: 1e-3) { t in
                (Tensor.batchNorm(t[0], runningMean: training ? nil : rm, runningVar: training ? nil : rv, weight: t[1], bias: t[2],
                                  training: training, relu: true) * g).sum()
            }
        }
    }

    @Test func batchNormGradChecks() {
        let x = randn([3, 2, 4], seed: 70), w = randn([2], seed: 71), b = randn([2], seed: 72)
        let g = randn([3, 2, 4], seed: 73)
        gradCheck([x, w, b], eps: 1e-3) { t in
            (Tensor.batchNorm(t[0], runningMean: nil, runningVar: nil, weight: t[1], bias: t[2], training: true) * g).sum()
        }
        let rm = randn([2], seed: 74), rv = randn([2], seed: 75).abs() + 0.5
        gradCheck([x, w, b], eps: 1e-3) { t in
            (Tensor.batchNorm(t[0], runningMean: rm, runningVar: rv, weight: t[1], bias: t[2], training: false) * g).sum()
        }
        // [N, C] input, no affine parameters
        let x2 = randn([5, 3], seed: 76), g2 = randn([5, 3], seed: 77)
        gradCheck([x2], eps: 1e-3) { t in
            (Tensor.batchNorm(t[0], runningMean: nil, runningVar: nil, training: true) * g2).sum()
        }
    }

    @Test func dropoutIsSeededInvertedAndMasksTheGradient() {
        let x = Tensor(repeating: 1, shape: [1000], requiresGrad: true)
        let y = x.dropout(p: 0.25, generator: RandomGenerator(seed: 9))
        let kept = y.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        #expect(kept.count > 700 && kept.count < 800)
        let y2 = x.detach().dropout(p: 0.25, generator: RandomGenerator(seed: 9))
        #expect(y2.scalars == y.scalars)
        y.sum().backward()
        #expect(x.grad!.scalars == y.scalars)
        #expect(x.dropout(p: 0.5, training: false) === x)
        #expect(x.detach().dropout(p: 1).scalars.allSatisfy { $0 == 0 })
        // results do not depend on the thread count
        let saved = Parallel.threadCount
        Parallel.threadCount = 1
        let y1 = x.detach().dropout(p: 0.25, generator: RandomGenerator(seed: 9))
        Parallel.threadCount = saved
        #expect(y1.scalars == y.scalars)
    }
}
