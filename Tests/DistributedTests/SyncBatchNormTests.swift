import NN
import QuantNN
import TensorEngine
import Testing
import TestSupport
@testable import Distributed

@Suite struct SyncBatchNormTests {
    static let x = RandomGenerator(seed: 11).normal([5, 3, 2, 2], mean: 0.5, std: 2)
    static let r = RandomGenerator(seed: 12).normal([5, 3, 2, 2])

    static func parameters() -> (weight: Tensor, bias: Tensor) {
        let w = RandomGenerator(seed: 13).normal([3], mean: 1, std: 0.2)
        let b = RandomGenerator(seed: 14).normal([3])
        w.requiresGrad = true
        b.requiresGrad = true
        return (w, b)
    }

    /// One rank: the same as a local training-mode batch norm (outputs, gradients, running statistics).
    @Test func oneRankMatchesLocalBatchNorm() {
        let (w1, b1) = Self.parameters(), (w2, b2) = Self.parameters()
        let (x1, x2) = (Self.x.copy(), Self.x.copy())
        x1.requiresGrad = true
        x2.requiresGrad = true
        let (m1, v1, m2, v2) = (Tensor.zeros([3]), Tensor.ones([3]), Tensor.zeros([3]), Tensor.ones([3]))
        let synced = SyncBatchNorm.normalize(x1, runningMean: m1, runningVar: v1, weight: w1, bias: b1, momentum: 0.1, eps: 1e-5,
                                             communicator: ScriptedRanks(rank: 0, size: 1))
        let local = Tensor.batchNorm(x2, runningMean: m2, runningVar: v2, weight: w2, bias: b2, training: true, momentum: 0.1, eps: 1e-5)
        expectClose(synced, local, rtol: 1e-4, atol: 1e-5, "output")
        (synced * Self.r).sum().backward()
        (local * Self.r).sum().backward()
        expectClose(x1.grad, x2.grad, rtol: 1e-3, atol: 1e-5, "input gradient")
        expectClose(w1.grad, w2.grad, rtol: 1e-4, atol: 1e-5, "weight gradient")
        expectClose(b1.grad, b2.grad, rtol: 1e-4, atol: 1e-5, "bias gradient")
        expectClose(m1, m2, rtol: 1e-5, atol: 1e-6, "running mean")
        expectClose(v1, v2, rtol: 1e-5, atol: 1e-6, "running variance")
    }

    /// Central finite differences of `Σ y·r` against the backward, on a few inputs (one rank).
    @Test func inputGradientMatchesFiniteDifferences() {
        let (w, b) = Self.parameters()
        let one = ScriptedRanks(rank: 0, size: 1)
        func objective(_ x: Tensor) -> Double {
            let y = Autograd.noGrad {
                SyncBatchNorm.normalize(x, runningMean: nil, runningVar: nil, weight: w, bias: b, momentum: 0.1, eps: 1e-5, communicator: one)
            }
            return zip(y.scalars, Self.r.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let x = Self.x.copy()
        x.requiresGrad = true
        (SyncBatchNorm.normalize(x, runningMean: nil, runningVar: nil, weight: w, bias: b, momentum: 0.1, eps: 1e-5, communicator: one) * Self.r)
            .sum().backward()
        let h: Float = 1e-2
        for i in [0, 7, 13, 30, 59] {
            let plus = Self.x.copy(), minus = Self.x.copy()
            plus.storage.pointer[i] += h
            minus.storage.pointer[i] -= h
            let numeric = (objective(plus) - objective(minus)) / Double(2 * h)
            #expect(abs(Double(x.grad!.scalars[i]) - numeric) < 2e-2 * max(1, abs(numeric)), "element \(i): \(x.grad!.scalars[i]) vs \(numeric)")
        }
    }

    /// The cross-rank sum: forward Σ_r x_r; backward hands rank r (Σ_q w_q g_q) / w_r, with the
    /// weights from the counts in the last element.
    @Test func crossRankSumForwardAndBackward() {
        let x = Tensor([1, 2, 3, 4], requiresGrad: true)
        let ranks = ScriptedRanks(rank: 0, size: 2, script: [[1: [10, 20, 30, 12]], [1: [2, 4, 6, 0]]])
        let y = SyncBatchNorm.crossRankSum(x, communicator: ranks)
        #expect(y.scalars == [11, 22, 33, 16])
        (y * Tensor([1, 1, 1, 0])).sum().backward()
        // w0 = 4/16, w1 = 12/16: (0.25·1 + 0.75·[2, 4, 6]) / 0.25.
        #expect(x.grad?.scalars == [7, 13, 19, 0])
    }

    /// Two ranks (simulated one after the other): the outputs and the weighted gradients equal
    /// a batch norm over the whole batch, with the objective Σ_r w_r·mean_r(y·r).
    @Test func twoRanksMatchTheWholeBatch() {
        let shards = [0..<3, 3..<5]
        let weights: [Float] = [3.0 / 5, 2.0 / 5]
        func local(_ r: Int) -> [Float] {
            let xs = Self.x.narrow(dim: 0, start: shards[r].lowerBound, length: shards[r].count)
            let s1 = xs.sum(dims: [0, 2, 3]).scalars, s2 = (xs * xs).sum(dims: [0, 2, 3]).scalars
            return s1 + s2 + [Float(xs.count / 3)]
        }
        /// Rank `rank`'s forward and backward; `peerGradient` is what the other rank sends back.
        func run(_ rank: Int, peerGradient: [Float]) -> (y: Tensor, x: Tensor, w: Tensor, b: Tensor, sent: [Float]) {
            let (w, b) = Self.parameters()
            let xs = Self.x.narrow(dim: 0, start: shards[rank].lowerBound, length: shards[rank].count).copy()
            xs.requiresGrad = true
            let peer = 1 - rank
            let ranks = ScriptedRanks(rank: rank, size: 2, script: [[peer: local(peer)], [peer: peerGradient]])
            let y = SyncBatchNorm.normalize(xs, runningMean: nil, runningVar: nil, weight: w, bias: b, momentum: 0.1, eps: 1e-5, communicator: ranks)
            let rs = Self.r.narrow(dim: 0, start: shards[rank].lowerBound, length: shards[rank].count)
            ((y * rs).sum() / Float(shards[rank].count)).backward()
            return (y, xs, w, b, ranks.sent[1])
        }
        // Each rank's gradient into the sum depends only on its own data and the global statistics.
        let g1 = run(1, peerGradient: [Float](repeating: 0, count: 7)).sent
        let g0 = run(0, peerGradient: g1).sent
        let rank0 = run(0, peerGradient: g1), rank1 = run(1, peerGradient: g0)

        let (w, b) = Self.parameters()
        let x = Self.x.copy()
        x.requiresGrad = true
        let y = Tensor.batchNorm(x, runningMean: nil, runningVar: nil, weight: w, bias: b, training: true, eps: 1e-5)
        let perExample = (y * Self.r).sum(dims: [1, 2, 3])
        (perExample.narrow(dim: 0, start: 0, length: 3).sum() * (weights[0] / 3)
            + perExample.narrow(dim: 0, start: 3, length: 2).sum() * (weights[1] / 2)).backward()

        expectClose(Tensor.cat([rank0.y, rank1.y]), y, rtol: 1e-4, atol: 1e-5, "output")
        expectClose(Tensor.cat([rank0.x.grad! * weights[0], rank1.x.grad! * weights[1]]), x.grad, rtol: 1e-3, atol: 1e-5, "input gradient")
        expectClose(rank0.w.grad! * weights[0] + rank1.w.grad! * weights[1], w.grad, rtol: 1e-4, atol: 1e-5, "weight gradient")
        expectClose(rank0.b.grad! * weights[0] + rank1.b.grad! * weights[1], b.grad, rtol: 1e-4, atol: 1e-5, "bias gradient")
    }

    /// Every BatchNorm is found, also one a quantized model wraps in a FloatLayer.
    @Test func convertFindsWrappedBatchNorms() throws {
        let wrapped = BatchNorm2d(3), plain = BatchNorm2d(3)
        let model = QuantSequential([FloatLayer(wrapped), try QuantReLU(), FloatLayer(Sequential(plain))])
        #expect(SyncBatchNorm.convert(model, communicator: ScriptedRanks(rank: 0, size: 1)) == 2)
        #expect(wrapped.synchronizedNormalization != nil && plain.synchronizedNormalization != nil)
        #expect(SyncBatchNorm.convert(Sequential(Linear(2, 2)), communicator: ScriptedRanks(rank: 0, size: 1)) == 0)
    }
}
