import Dispatch
import Testing
import TestSupport
@testable import TensorEngine

/// Gradient checks and fixture comparisons for the core ops (arithmetic, pointwise, reductions,
/// shapes, matmul/linear).
@Suite struct OpsTests {
    @Test func matmulMatchesPyTorch() throws {
        for c in (try Fixture("engine", "matmul")).cases() {
            let name = c.string("name")
            let (out, g) = forwardBackward([c.t("a"), c.t("b")], g: c.t("g")) { t in t[0]!.matmul(t[1]!) }
            expectClose(out, c.t("out"), "\(name) out")
            expectClose(g[0], c.t("grad_a"), "\(name) grad_a")
            expectClose(g[1], c.t("grad_b"), "\(name) grad_b")
        }
    }

    @Test func linearMatchesPyTorch() throws {
        for c in (try Fixture("engine", "linear")).cases() {
            let name = c.string("name")
            let (out, g) = forwardBackward([c.t("x"), c.t("weight"), c.tensor("bias")], g: c.t("g")) { t in
                Tensor.linear(t[0]!, weight: t[1]!, bias: t[2])
            }
            expectClose(out, c.t("out"), "\(name) out")
            expectClose(g[0], c.t("grad_x"), "\(name) grad_x")
            expectClose(g[1], c.t("grad_weight"), "\(name) grad_weight")
            expectClose(g[2], c.tensor("grad_bias"), "\(name) grad_bias")
        }
    }

    @Test func scalarArithmetic() {
        let x = randn([3, 4], seed: 80)
        let g = randn([3, 4], seed: 81)
        let pos = (x.abs() + 0.5).detach()
        gradCheck([x]) { t in ((t[0] + 2) * g).sum() }
        gradCheck([x]) { t in ((2 - t[0]) * g).sum() }
        gradCheck([x]) { t in ((t[0] * 3) * g).sum() }
        gradCheck([x]) { t in ((t[0] / 4) * g).sum() }
        gradCheck([x]) { t in ((-t[0]) * g).sum() }
        gradCheck([pos], eps: 1e-3) { t in ((2 / t[0]) * g).sum() }
        gradCheck([pos], eps: 1e-3) { t in (t[0].pow(1.7) * g).sum() }
        gradCheck([pos], eps: 1e-3) { t in (t[0].pow(0.5) * g).sum() }
        // broadcasting both ways, division by a broadcast tensor
        let a = randn([4, 1, 3], seed: 82), b = randn([2, 1], seed: 83).abs() + 0.5
        let gb = randn([4, 2, 3], seed: 84)
        gradCheck([a, b]) { t in ((t[0] / t[1]) * gb).sum() }
        gradCheck([a, b]) { t in ((t[1] - t[0]) * gb).sum() }
    }

    @Test func pointwiseFunctions() {
        let x = randn([3, 4], seed: 85)
        let g = randn([3, 4], seed: 86)
        let pos = (x.abs() + 0.2).detach()
        gradCheck([x], eps: 1e-3) { t in (t[0].exp2() * g).sum() }
        gradCheck([pos], eps: 1e-3) { t in (t[0].log2() * g).sum() }
        gradCheck([x], eps: 1e-3) { t in (t[0].clamp(min: -0.5, max: 0.7) * g).sum() }
        gradCheck([x], eps: 1e-3) { t in (t[0].clamp(min: 0.1) * g).sum() }
        let y = randn([3, 4], seed: 87), cond = x.gt(y)
        gradCheck([x, y]) { t in (Tensor.maximum(t[0], t[1]) * g).sum() }
        gradCheck([x, y]) { t in (Tensor.minimum(t[0], t[1]) * g).sum() }
        gradCheck([x, y]) { t in (Tensor.where(cond, t[0], t[1]) * g).sum() }
        let row = randn([4], seed: 88)
        gradCheck([x, row]) { t in (Tensor.where(cond, t[0], t[1]) * g).sum() }
        // forward values
        #expect(Tensor([-2, 0, 3]).sign().scalars == [-1, 0, 1])
        #expect(Tensor([-1.5, 1.5]).floor().scalars == [-2, 1])
        #expect(Tensor([-1.5, 1.5]).ceil().scalars == [-1, 2])
        #expect(Tensor([-3, 0.2, 3]).hardtanh().scalars == [-1, 0.2, 1])
        #expect(Tensor([1, 2]).clamp(min: 1.5).scalars == [1.5, 2])
        let m = Tensor.maximum(Tensor([1, .nan, 3]), Tensor([2, 0, .nan]))
        #expect(m[0] == 2 && m[1].isNaN && m[2].isNaN)
        #expect(Tensor([Float.nan, -1]).relu().scalars[0].isNaN)
        #expect(Tensor([Float.nan]).clamp(min: 0, max: 1).item().isNaN)
    }

    @Test func reductions() {
        let x = randn([2, 3, 4], seed: 89)
        let g3 = randn([2, 4], seed: 90)
        gradCheck([x]) { t in (t[0].mean(dims: [1]) * g3).sum() }
        gradCheck([x]) { t in (t[0].max(dim: 1).values * g3).sum() }
        gradCheck([x]) { t in (t[0].min(dim: 1).values * g3).sum() }
        gradCheck([x]) { t in (t[0].amin(dims: [1]) * g3).sum() }
        gradCheck([x]) { t in t[0].max() * 2 + t[0].min() }
        gradCheck([x]) { t in t[0].mean() }
        let g1 = randn([3], seed: 91)
        gradCheck([x]) { t in (t[0].sum(dims: [0, 2]) * g1).sum() }
        #expect(x.argmax(dim: 2).shape == [2, 3])
        // amax shares the gradient between ties
        let tie = Tensor([1, 3, 3], requiresGrad: true)
        tie.amax(dims: [0]).backward()
        #expect(tie.grad!.scalars == [0, 0.5, 0.5])
        // empty reductions
        #expect(Tensor.zeros([0, 3]).sum(dims: [0]).scalars == [0, 0, 0])
        #expect(Tensor.zeros([0]).sum().item() == 0)
        #expect(Tensor([Float.nan, 1]).sum().item().isNaN)
        #expect(Tensor([Float.infinity, 1]).max().item() == .infinity)
    }

    @Test func shapeOps() {
        let x = randn([2, 3, 4], seed: 92)
        gradCheck([x]) { t in (t[0].transpose(0, 2) * randn([4, 3, 2], seed: 93)).sum() }
        gradCheck([x]) { t in (Tensor.stack([t[0], t[0] * 3], dim: 1) * randn([2, 2, 3, 4], seed: 94)).sum() }
        gradCheck([x]) { t in (t[0].unsqueeze(1).expand([2, 5, 3, 4]) * randn([2, 5, 3, 4], seed: 95)).sum() }
        gradCheck([x]) { t in (t[0].flatten(startDim: 1) * randn([2, 12], seed: 96)).sum() }
        let y = randn([3, 1], seed: 97)
        gradCheck([y]) { t in (t[0].squeeze(1) * randn([3], seed: 98)).sum() }
        #expect(Tensor.cat([Tensor.zeros([0, 2]), Tensor.ones([1, 2])]).shape == [1, 2])
        #expect(Tensor.zeros([2, 0]).transpose(0, 1).shape == [0, 2])
    }

    @Test func largeTensorOpsAgreeAcrossThreadCounts() {
        // Above the parallel threshold: the worker pool must give the serial results.
        let a = randn([300_001], seed: 99), b = randn([300_001], seed: 100)
        let saved = Parallel.threadCount
        Parallel.threadCount = 1
        let serial = [(a + b).scalars, (a * b).relu().scalars, a.sum(dims: [0]).scalars, a.softmax(dim: 0).scalars]
        Parallel.threadCount = saved
        let parallel = [(a + b).scalars, (a * b).relu().scalars, a.sum(dims: [0]).scalars, a.softmax(dim: 0).scalars]
        #expect(serial == parallel)
        // a broadcast zip over many rows
        let m = randn([1000, 301], seed: 101), r = randn([301], seed: 102)
        let z = m - r
        #expect(z[999, 300] == m[999, 300] - r[300] && z[0, 0] == m[0, 0] - r[0])
    }
}

@Suite struct FactoryTests {
    @Test func factories() {
        #expect(Tensor.full([2, 2], 3).scalars == [3, 3, 3, 3])
        #expect(Tensor.ones(like: Tensor.zeros([3])).scalars == [1, 1, 1])
        #expect(Tensor.full(like: Tensor.zeros([1, 2]), -1).shape == [1, 2])
        #expect(Tensor.eye(3).scalars == [1, 0, 0, 0, 1, 0, 0, 0, 1])
        #expect(Tensor.linspace(0, 1, count: 5).scalars == [0, 0.25, 0.5, 0.75, 1])
        #expect(Tensor.linspace(-1, 1, count: 0).shape == [0])
    }
}

@Suite struct ParallelTests {
    @Test func workerPoolUnderConcurrentCallersAndNesting() {
        // Several threads submit jobs at once (the losers run serially), some nested.
        let n = 40_000
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        failures.initialize(repeating: 0, count: 4)
        defer { failures.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            let buf = UnsafeMutablePointer<Int32>.allocate(capacity: n)
            defer { buf.deallocate() }
            for rep in 0..<60 {
                buf.initialize(repeating: 0, count: n)
                Parallel.forRanges(n) { r in
                    for i in r { buf[i] &+= Int32(i % 7 + rep) }
                    if rep % 10 == 0 { Parallel.forRanges(100_000) { _ in } }  // nested: runs serially
                }
                for i in 0..<n where buf[i] != Int32(i % 7 + rep) { failures[t] += 1 }
            }
        }
        #expect((0..<4).allSatisfy { failures[$0] == 0 })
    }

    @Test func splitGemmAndConvolutionAgreeAcrossThreadCounts() {
        // Large enough for BLAS.sgemm to split C into blocks (both sides: wide and tall products,
        // transposed operands), and a convolution whose GEMMs split: the blocks are fixed by the
        // shapes, so one thread and two give the same bits.
        let a = randn([96, 700], seed: 103), b = randn([700, 300], seed: 104)
        let tall = randn([2000, 64], seed: 105), w = randn([48, 64], seed: 106)
        let x = randn([2, 16, 40, 40], seed: 107), k = randn([32, 16, 3, 3], seed: 108)
        func run() -> [[Float]] {
            let xg = x.copy()
            xg.requiresGrad = true
            let y = Tensor.conv2d(xg, weight: k, padding: (1, 1))
            y.sum().backward()
            return [a.matmul(b).scalars, Tensor.linear(tall, weight: w).scalars, b.transpose(0, 1).matmul(a.transpose(0, 1)).scalars,
                    y.scalars, xg.grad!.scalars]
        }
        let saved = Parallel.threadCount
        Parallel.threadCount = 1
        let serial = run()
        Parallel.threadCount = 2
        let parallel = run()
        Parallel.threadCount = saved
        #expect(serial == parallel)
        // and the split product is the product
        let p = a.matmul(b)
        for (i, j) in [(0, 0), (95, 299), (40, 157), (17, 16)] {
            var acc: Double = 0
            for t in 0..<700 { acc += Double(a[i, t]) * Double(b[t, j]) }
            #expect(abs(Double(p[i, j]) - acc) < 1e-3, "C[\(i), \(j)]")
        }
    }
}
