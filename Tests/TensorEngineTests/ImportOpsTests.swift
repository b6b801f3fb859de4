import Testing
@testable import TensorEngine

/// The ops the ONNX importer needed beyond the original engine: values from PyTorch's formulas
/// and finite-difference gradient checks.
@Suite struct ImportOpsTests {
    @Test func erfValues() {
        // torch.erf(torch.tensor([-2., -0.5, 0., 0.5, 1., 3.]))
        let y = Tensor([-2, -0.5, 0, 0.5, 1, 3]).erf().scalars
        let expected: [Float] = [-0.9953222650, -0.5204998778, 0, 0.5204998778, 0.8427007929, 0.9999779095]
        for (a, b) in zip(y, expected) { #expect(abs(a - b) <= 1e-6) }
    }

    @Test func activationValuesAtTheKinks() {
        let x = Tensor([-4, -3, -1, 0, 1, 3, 4])
        #expect(x.leakyRelu(negativeSlope: 0.1).scalars == [-0.4, -0.3, -0.1, 0, 1, 3, 4])
        for (a, b) in zip(x.hardSwish().scalars, [0, 0, -1.0 / 3, 0, 2.0 / 3, 3, 4] as [Float]) { #expect(abs(a - b) <= 1e-7) }
        #expect(x.hardSigmoid(alpha: 0.2, beta: 0.5).scalars == [0, 0, 0.3, 0.5, 0.7, 1, 1].map { Float($0) })
        let e = x.elu(alpha: 1).scalars
        #expect(e[3] == 0 && e[4] == 1 && abs(e[2] - (-0.6321205588)) < 1e-6)
    }

    @Test func activationGradientsMatchFiniteDifferences() {
        // Points away from the kinks (finite differences straddle a kink otherwise).
        let x = Tensor([-3.7, -2.2, -0.8, -0.3, 0.4, 1.1, 2.6, 3.6])
        gradCheck([x.copy()], eps: 1e-3, tol: 1e-2) { $0[0].erf().sum() }
        gradCheck([x.copy()], eps: 1e-3, tol: 1e-2) { ($0[0].leakyRelu(negativeSlope: 0.1) * $0[0]).sum() }
        gradCheck([x.copy()], eps: 1e-3, tol: 1e-2) { ($0[0].elu(alpha: 0.7) * $0[0]).sum() }
        gradCheck([x.copy()], eps: 1e-3, tol: 1e-2) { ($0[0].hardSigmoid(alpha: 0.2, beta: 0.5) * $0[0]).sum() }
        gradCheck([x.copy()], eps: 1e-3, tol: 1e-2) { ($0[0].hardSwish() * $0[0]).sum() }
    }

    @Test func layerNormMatchesItsDefinition() {
        let x = Tensor(shape: [2, 4], [1, 2, 3, 4, -1, 0, 0, 5])
        let y = Tensor.layerNorm(x, normalizedRank: 1, eps: 0).scalars
        // Row 1: mean 2.5, biased variance 1.25.
        let s = Float(1.25).squareRoot()
        let row1: [Float] = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]
        for (a, b) in zip(y.prefix(4), row1) { #expect(abs(a - b) < 1e-6) }
        // Each row has mean 0 and (biased) variance 1.
        let row2 = Array(y.suffix(4))
        #expect(abs(row2.reduce(0, +)) < 1e-5)
        #expect(abs(row2.map { $0 * $0 }.reduce(0, +) / 4 - 1) < 1e-5)
    }

    @Test func layerNormGradientsMatchFiniteDifferences() {
        let x = randn([2, 3, 4], seed: 3), w = randn([3, 4], seed: 4), b = randn([3, 4], seed: 5)
        let probe = randn([2, 3, 4], seed: 6)
        gradCheck([x, w, b], eps: 1e-2, tol: 2e-2) {
            (Tensor.layerNorm($0[0], normalizedRank: 2, weight: $0[1], bias: $0[2]) * probe).sum()
        }
    }

    @Test func indexSelectPicksAndAccumulates() {
        let x = Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
        #expect(x.indexSelect(dim: 1, [2, 0, 0]).scalars == [3, 1, 1, 6, 4, 4])
        #expect(x.indexSelect(dim: 0, [1]).shape == [1, 3])
        #expect(x.indexSelect(dim: -1, []).shape == [2, 0])
        let probe = randn([2, 4], seed: 2)
        gradCheck([randn([2, 3], seed: 1)], eps: 1e-2) { ($0[0].indexSelect(dim: 1, [2, 0, 0, 1]) * probe).sum() }
    }
}
