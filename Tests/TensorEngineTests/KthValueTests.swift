import Testing
import TestSupport
@testable import TensorEngine

@Suite struct KthValueTests {
    @Test func flatCasesMatchPyTorchIncludingTieIndices() throws {
        let f = (try Fixture("engine", "kthvalue"))
        for c in f.cases("flat_cases") {
            let name = c.string("name")
            let x = Tensor(shape: c.t("x").shape, c.t("x").scalars, requiresGrad: true)
            let (v, i) = x.reshape([-1]).kthvalue(c.int("k"))
            #expect(v.item() == c.t("value").item(), "\(name) value")
            #expect(Int(i.item()) == c.int("index"), "\(name) index")
            v.backward(c.t("g"))
            expectClose(x.grad, c.t("grad_x"), "\(name) grad")
        }
    }

    @Test func rowCasesMatchPyTorchIncludingTieIndices() throws {
        let f = (try Fixture("engine", "kthvalue"))
        for c in f.cases("row_cases") {
            let name = c.string("name")
            let x = Tensor(shape: c.t("x").shape, c.t("x").scalars, requiresGrad: true)
            let (v, i) = x.kthvalue(c.int("k"), dim: c.int("dim"))
            expectClose(v, c.t("values"), rtol: 0, atol: 0, "\(name) values")
            #expect(i.scalars.map { Int($0) } == c.ints("indices"), "\(name) indices")
            v.backward(c.t("g"))
            expectClose(x.grad, c.t("grad_x"), "\(name) grad")
        }
    }

    @Test func keepDimAndMiddleDimension() {
        let x = randn([3, 5, 4], seed: 40)
        let (v, i) = x.kthvalue(2, dim: 1, keepDim: true)
        #expect(v.shape == [3, 1, 4] && i.shape == [3, 1, 4])
        for a in 0..<3 {
            for c in 0..<4 {
                let col = (0..<5).map { x[a, $0, c] }.sorted()
                #expect(v[a, 0, c] == col[1])
                #expect(x[a, Int(i[a, 0, c]), c] == col[1])
            }
        }
        let g = randn([3, 4], seed: 41)
        gradCheck([x]) { t in (t[0].kthvalue(2, dim: 1).values * g).sum() }
    }

    @Test func largeRowsUseRadixSelectAndStayExact() {
        let rng = RandomGenerator(seed: 42)
        let n = 100_003
        let x = rng.normal([n])
        let sorted = x.scalars.sorted()
        for k in [1, 2, n / 3, n / 2, n - 1, n, Int(0.99999 * Double(n))] {
            let (v, i) = x.kthvalue(k)
            #expect(v.item() == sorted[k - 1], "k = \(k)")
            #expect(x.storage.pointer[Int(i.item())] == sorted[k - 1])
        }
        // Heavy ties (|x| of a ReLU output: most elements 0) and negative values.
        let t = x.relu()
        let ts = t.scalars.sorted()
        for k in [1, n / 4, n / 2 + 7, n - 5] {
            let (v, i) = t.kthvalue(k)
            #expect(v.item() == ts[k - 1], "ties k = \(k)")
            #expect(t.storage.pointer[Int(i.item())] == ts[k - 1])
        }
    }

    @Test func nanIsLargest() {
        let x = Tensor([3, .nan, 1, 2, .nan])
        #expect(x.kthvalue(3).values.item() == 3)
        #expect(x.kthvalue(4).values.item().isNaN)
        #expect(Int(x.kthvalue(1).indices.item()) == 2)
        let big = RandomGenerator(seed: 43).normal([70_000])
        big.storage.pointer[123] = .nan
        #expect(big.kthvalue(70_000).values.item().isNaN)
        #expect(Int(big.kthvalue(70_000).indices.item()) == 123)
        #expect(!big.kthvalue(69_999).values.item().isNaN)
    }

    @Test func radixAndSampleSelectAgreeWithSorting() {
        let rng = RandomGenerator(seed: 45)
        let n = 40_000
        // mixed signs, zeros of both signs, infinities and a cluster of equal values
        var data = (0..<n).map { _ in rng.nextNormal() * 100 }
        for i in stride(from: 0, to: n, by: 97) { data[i] = 0 }
        for i in stride(from: 5, to: n, by: 389) { data[i] = -0.0 }
        data[17] = .infinity
        data[18] = -.infinity
        for i in stride(from: 3, to: n, by: 50) { data[i] = 1.5 }
        let sorted = data.sorted()
        data.withUnsafeBufferPointer { b in
            for k in [0, 1, n / 7, n / 2, n - 2, n - 1] + (0..<20).map({ _ in rng.nextInt(n) }) {
                #expect(Kernels.radixSelect(b.baseAddress!, n, k) == sorted[k], "radix k = \(k)")
                if let (v, i) = Kernels.sampleSelect(b.baseAddress!, n, k) {
                    #expect(v == sorted[k] && b[i] == v, "sample k = \(k)")
                }
                let (v, i) = Kernels.kthSmallest(b.baseAddress!, n, k)
                let (tv, ti) = Kernels.torchSelect(b.baseAddress!, n, k)
                #expect(v == tv && i == ti, "kthSmallest k = \(k)")
            }
        }
    }

    @Test func selectionHelpersAgreeWithSorting() {
        let rng = RandomGenerator(seed: 44)
        for n in [1, 2, 3, 17, 33, 100, 1000] {
            let x = Tensor(shape: [n], (0..<n).map { _ in Float(rng.nextInt(7)) - 3 })
            let s = x.scalars.sorted()
            for k in Set([0, n / 2, n - 1]) {
                let (v, i) = Kernels.torchSelect(x.storage.pointer, n, k)
                #expect(v == s[k] && x.storage.pointer[i] == v)
            }
        }
    }
}
