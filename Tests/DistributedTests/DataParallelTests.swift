import NN
import QuantNN
import TensorEngine
import Testing
import TestSupport
@testable import Distributed

/// Data parallelism with two ranks simulated in one process: each replica runs forward and
/// backward on its shard; rank 1's packed values (recorded while it synchronizes) are what rank 0
/// receives from it.
@Suite struct DataParallelTests {
    static let inputs = RandomGenerator(seed: 7).normal([7, 4])
    static let labels = [0, 2, 1, 1, 0, 2, 1]

    static func mlp(batchNorm: Bool = false) -> Sequential {
        let g = RandomGenerator(seed: 3)
        return batchNorm
            ? Sequential(Linear(inFeatures: 4, outFeatures: 5, generator: g), BatchNorm1d(numFeatures: 5), ReLU(), Linear(inFeatures: 5, outFeatures: 3, generator: g))
            : Sequential(Linear(inFeatures: 4, outFeatures: 5, generator: g), ReLU(), Linear(inFeatures: 5, outFeatures: 3, generator: g))
    }

    /// Forward and backward of `model` on examples `range`; returns the mean loss.
    static func backward(_ model: Sequential, _ range: Range<Int>) -> Float {
        model.zeroGrad()
        let x = inputs.narrow(dim: 0, start: range.lowerBound, length: range.count)
        let loss = Tensor.crossEntropy(model(x), targets: Array(labels[range]))
        loss.backward()
        return loss.item()
    }

    @Test func gradientsAreTheWeightedSumInRankOrderAndMatchTheWholeBatch() throws {
        let (a, b, whole) = (Self.mlp(), Self.mlp(), Self.mlp())
        // 7 examples over 2 ranks: 0..<4 (weight 4/7) and 4..<7 (weight 3/7).
        #expect(RankOrder.shard(count: 7, rank: 0, size: 2) == 0..<4)
        let lossB = Self.backward(b, 4..<7)
        let gradsB = b.parameters().map { $0.grad!.scalars }
        let rank1 = ScriptedRanks(rank: 1, size: 2)
        try DataParallel(model: b, communicator: rank1).synchronize(globalCount: 7, extras: [lossB])

        let lossA = Self.backward(a, 0..<4)
        let gradsA = a.parameters().map { $0.grad!.scalars }
        let rank0 = ScriptedRanks(rank: 0, size: 2, script: [[1: rank1.sent[0]]])
        let extras = try DataParallel(model: a, communicator: rank0).synchronize(globalCount: 7, extras: [lossA])

        let (w0, w1) = (Float(4) / 7, Float(3) / 7)
        #expect(extras == [w0 * lossA + w1 * lossB])
        for (i, p) in a.parameters().enumerated() {
            let expected = zip(gradsA[i], gradsB[i]).map { w0 * $0 + w1 * $1 }
            #expect(p.grad!.scalars.map(\.bitPattern) == expected.map(\.bitPattern), "parameter \(i)")
        }
        let wholeLoss = Self.backward(whole, 0..<7)
        #expect(abs(extras[0] - wholeLoss) < 1e-6)
        for (p, q) in zip(a.parameters(), whole.parameters()) {
            expectClose(p.grad, q.grad, rtol: 1e-5, atol: 1e-6, "gradient of the global batch")
        }
    }

    @Test func oneRankLeavesEverythingBitIdentical() throws {
        let model = Self.mlp(batchNorm: true)
        _ = Self.backward(model, 0..<7)
        let before = (model.parameters().map { $0.grad!.scalars }, model.buffers().map(\.scalars))
        let extras = try DataParallel(model: model, communicator: ScriptedRanks(rank: 0, size: 1))
            .synchronize(globalCount: 7, extras: [0.3, .pi])
        #expect(extras == [0.3, .pi])
        #expect(model.parameters().map { $0.grad!.scalars } == before.0)
        #expect(model.buffers().map(\.scalars) == before.1)
    }

    @Test func missingGradientsStayMissing() throws {
        let model = Self.mlp()
        let extra = Tensor(repeating: 0, shape: [3], requiresGrad: true)
        model.registerParameter("unused", extra)
        _ = Self.backward(model, 0..<7)
        try DataParallel(model: model, communicator: ScriptedRanks(rank: 1, size: 2)).synchronize(globalCount: 7)
        #expect(extra.grad == nil)
        #expect(model.parameters().filter { $0.grad != nil }.count == 4)
    }

    /// Local BatchNorm (the default): running statistics are rank 0's after every step, as
    /// PyTorch DDP broadcasts buffers from rank 0.
    @Test func otherBuffersAreRankZeros() throws {
        let (a, b) = (Self.mlp(batchNorm: true), Self.mlp(batchNorm: true))
        _ = Self.backward(a, 0..<4)
        _ = Self.backward(b, 4..<7)
        let runningA = a.buffers().map(\.scalars)
        #expect(runningA != b.buffers().map(\.scalars))
        let rank0 = ScriptedRanks(rank: 0, size: 2)
        try DataParallel(model: a, communicator: rank0).synchronize(globalCount: 7)
        let rank1 = ScriptedRanks(rank: 1, size: 2, script: [[0: rank0.sent[0]]])
        try DataParallel(model: b, communicator: rank1).synchronize(globalCount: 7)
        #expect(a.buffers().map(\.scalars) == runningA)
        #expect(b.buffers().map(\.scalars) == runningA)
    }

    /// Activation quantizers collecting statistics: after each step every rank holds the same
    /// collected statistic, the weighted mean of the ranks' statistics.
    @Test func collectedStatisticsAreTheWeightedMeanOnEveryRank() throws {
        func relu() throws -> QuantReLU { try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.collectStatsSteps, 5)) }
        let (a, b) = (try relu(), try relu())
        let x = RandomGenerator(seed: 1).normal([7, 16])
        _ = a(x.narrow(dim: 0, start: 0, length: 4))
        _ = b(x.narrow(dim: 0, start: 4, length: 3) * 3)
        let collected = { (m: QuantReLU) in m.buffers().map(\.scalars) }
        let (statA, statB) = (collected(a), collected(b))
        #expect(statA != statB && !statA.isEmpty)
        let rank0 = ScriptedRanks(rank: 0, size: 2)
        try DataParallel(model: a, communicator: rank0).synchronize(globalCount: 7, gradients: false)
        let rank1 = ScriptedRanks(rank: 1, size: 2, script: [[0: rank0.sent[0]]])
        try DataParallel(model: b, communicator: rank1).synchronize(globalCount: 7, gradients: false)
        // Rank 0 combined with its own values standing in for rank 1's; redo it with rank 1's.
        let rank0Again = ScriptedRanks(rank: 0, size: 2, script: [[1: rank1.sent[0]]])
        let a2 = try relu()
        _ = a2(x.narrow(dim: 0, start: 0, length: 4))
        try DataParallel(model: a2, communicator: rank0Again).synchronize(globalCount: 7, gradients: false)
        let (w0, w1) = (Float(4) / 7, Float(3) / 7)
        let expected = zip(statA, statB).map { zip($0, $1).map { w0 * $0 + w1 * $1 } }
        #expect(collected(a2) == expected)
        #expect(collected(b) == expected)
    }

    @Test func broadcastStateCopiesRankZerosParametersAndBuffers() throws {
        let zero = Self.mlp(batchNorm: true)
        _ = Self.backward(zero, 0..<7)   // changes the running statistics
        let other = Sequential(Linear(4, 5), BatchNorm1d(numFeatures: 5), ReLU(), Linear(5, 3))
        let rank0 = ScriptedRanks(rank: 0, size: 2)
        try DataParallel(model: zero, communicator: rank0).broadcastState()
        try DataParallel(model: other, communicator: ScriptedRanks(rank: 1, size: 2, script: [[0: rank0.sent[0]]])).broadcastState()
        #expect(other.parameters().map(\.scalars) == zero.parameters().map(\.scalars))
        #expect(other.buffers().map(\.scalars) == zero.buffers().map(\.scalars))
    }

    @Test func bucketsGiveTheSameResultAsOneCollective() throws {
        let recorder = ScriptedRanks(rank: 1, size: 2)
        let b = Self.mlp(batchNorm: true)
        _ = Self.backward(b, 4..<7)
        try DataParallel(model: b, communicator: recorder).synchronize(globalCount: 7, extras: [1])
        let peer = recorder.sent[0]
        let (a1, a2) = (Self.mlp(batchNorm: true), Self.mlp(batchNorm: true))
        _ = Self.backward(a1, 0..<4)
        _ = Self.backward(a2, 0..<4)
        try DataParallel(model: a1, communicator: ScriptedRanks(rank: 0, size: 2, script: [[1: peer]]))
            .synchronize(globalCount: 7, extras: [1])
        let chunks = stride(from: 0, to: peer.count, by: 7).map { [1: Array(peer[$0..<min($0 + 7, peer.count)])] }
        let bucketed = DataParallel(model: a2, communicator: ScriptedRanks(rank: 0, size: 2, script: chunks))
        bucketed.bucketCapacity = 7
        try bucketed.synchronize(globalCount: 7, extras: [1])
        #expect(chunks.count > 3)
        #expect(a1.parameters().map { $0.grad!.scalars } == a2.parameters().map { $0.grad!.scalars })
        #expect(a1.buffers().map(\.scalars) == a2.buffers().map(\.scalars))
    }
}
