import Testing
@testable import TensorEngine

@Suite struct AutogradTests {
    @Test func arithmeticWithBroadcasting() {
        let a = randn([2, 3, 4], seed: 1), b = randn([3, 1], seed: 2)
        let g = randn([2, 3, 4], seed: 3)
        gradCheck([a, b]) { t in ((t[0] + t[1]) * g).sum() }
        gradCheck([a, b]) { t in ((t[0] - t[1]) * g).sum() }
        gradCheck([a, b]) { t in ((t[0] * t[1]) * g).sum() }
        let pos = randn([3, 1], seed: 4).abs() + 0.5
        gradCheck([a, pos]) { t in ((t[0] / t[1]) * g).sum() }
    }

    @Test func gradientAccumulatesAcrossUses() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        let y = (x * x + x * 3).sum()
        y.backward()
        #expect(x.grad!.scalars == [5, 7, 9])
        (x * 2).sum().backward()
        #expect(x.grad!.scalars == [7, 9, 11])
    }

    /// A leaf takes a gradient nobody else can see instead of copying it; a gradient that is
    /// still visible elsewhere (the caller's seed, one tensor handed to two inputs, a view of a
    /// kept tensor) is copied, so writing into one leaf's gradient changes nothing else.
    @Test func leafGradientsNeverAliasAnotherTensor() {
        let a = Tensor([1, 2, 3], requiresGrad: true), b = Tensor([4, 5, 6], requiresGrad: true)
        let seed = Tensor([1, 10, 100])
        (a + b).backward(seed)  // add's backward hands the same gradient to both inputs
        a.grad!.storage.pointer[0] = -7
        #expect(b.grad!.scalars == [1, 10, 100] && seed.scalars == [1, 10, 100])
        // The seed itself, passed straight through to the leaf by an identity-like op.
        let c = Tensor([1, 2, 3], requiresGrad: true)
        c.reshape([3, 1]).reshape([3]).backward(seed)
        c.grad!.storage.pointer[1] = -7
        #expect(seed.scalars == [1, 10, 100] && c.grad!.scalars == [1, -7, 100])
        // A fresh gradient (relu's backward) is taken as it is, and is right.
        let d = Tensor([-1, 2, -3, 4], requiresGrad: true)
        d.relu().backward(Tensor([5, 6, 7, 8]))
        #expect(d.grad!.scalars == [0, 6, 0, 8])
        #expect(d.grad!.gradFn == nil && !d.grad!.requiresGrad)
        // A second backward accumulates into the taken buffer without touching other tensors.
        let g2 = Tensor([1, 1, 1, 1])
        d.relu().backward(g2)
        #expect(d.grad!.scalars == [0, 7, 0, 9] && g2.scalars == [1, 1, 1, 1])
    }

    @Test func deepGraphDoesNotOverflowTheStack() {
        let x = Tensor([1], requiresGrad: true)
        var y = x
        for _ in 0..<100_000 { y = y + 0 }
        y.sum().backward()
        #expect(x.grad!.scalars == [1])
    }

    @Test func noGradScopeRecordsNothing() {
        let x = Tensor([1, 2], requiresGrad: true)
        let y = Autograd.noGrad { x * 2 }
        #expect(y.gradFn == nil && !y.requiresGrad)
        #expect(x.detach().gradFn == nil)
    }

    @Test func matmulAndLinear() {
        let a = randn([2, 3, 4], seed: 5), b = randn([4, 5], seed: 6)
        let g = randn([2, 3, 5], seed: 7)
        gradCheck([a, b]) { t in (t[0].matmul(t[1]) * g).sum() }
        let x = randn([6, 4], seed: 8), w = randn([3, 4], seed: 9), bias = randn([3], seed: 10)
        let g2 = randn([6, 3], seed: 11)
        gradCheck([x, w, bias]) { t in (Tensor.linear(t[0], weight: t[1], bias: t[2]) * g2).sum() }
        let y = Tensor.linear(x, weight: w, bias: bias)
        let ref = x.matmul(w.t) + bias
        #expect(y.isClose(to: ref, rtol: 1e-5, atol: 1e-5))
    }

    @Test func reductionsAndShapes() {
        let x = randn([2, 3, 4], seed: 12)
        let g = randn([2, 4], seed: 13)
        gradCheck([x]) { t in (t[0].sum(dims: [1]) * g).sum() }
        gradCheck([x]) { t in (t[0].amax(dims: [1]) * g).sum() }
        gradCheck([x]) { t in (t[0].permute([2, 0, 1]).reshape([4, 6]) * randn([4, 6], seed: 14)).sum() }
        gradCheck([x]) { t in (t[0].narrow(dim: 2, start: 1, length: 2) * randn([2, 3, 2], seed: 15)).sum() }
        gradCheck([x]) { t in (Tensor.cat([t[0], t[0] * 2], dim: 1) * randn([2, 6, 4], seed: 16)).sum() }
        #expect(x.sum(dims: [0, 2]).shape == [3])
        #expect(x.mean(dims: [1], keepDim: true).shape == [2, 1, 4])
        let m = Tensor(shape: [2, 2], [1, 5, 3, 2]).max(dim: 1)
        #expect(m.values.scalars == [5, 3] && m.indices.scalars == [1, 0])
    }

    @Test func pointwise() {
        let x = randn([3, 4], seed: 17)
        let g = randn([3, 4], seed: 18)
        for f in [{ (t: Tensor) in t.exp() }, { $0.sigmoid() }, { $0.tanh() }, { $0.abs() }, { $0.relu() },
                  { $0.hardtanh(min: -0.5, max: 0.5) }, { $0.pow(2) }] {
            gradCheck([x]) { t in (f(t[0]) * g).sum() }
        }
        let p = (x.abs() + 0.1).detach()
        gradCheck([p], eps: 1e-3) { t in (t[0].log() * g).sum() }
        gradCheck([p], eps: 1e-3) { t in (t[0].sqrt() * g).sum() }
    }

    @Test func roundingIsHalfToEven() {
        let x = Tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 1e10, .infinity, -3.5])
        #expect(x.rounded().scalars == [0, 2, 2, 0, 2 * -1, -2, 2, 1e10, .infinity, -4])
        #expect(Tensor([Float.nan]).rounded().item().isNaN)
        #expect(Tensor([-0.3]).rounded().item().sign == .minus)   // rint(-0.3) == -0.0
        #expect(Tensor([0.3]).rounded().item().sign == .plus)
    }
}
