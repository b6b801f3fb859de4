import Testing
@testable import Distributed

@Suite struct RankOrderTests {
    @Test(arguments: [(10, 4, [0..<3, 3..<6, 6..<8, 8..<10]), (32, 2, [0..<16, 16..<32]), (3, 3, [0..<1, 1..<2, 2..<3]),
                      (7, 1, [0..<7]), (5, 2, [0..<3, 3..<5])])
    func shardsCoverTheBatchInOrder(count: Int, size: Int, expected: [Range<Int>]) {
        let shards = (0..<size).map { RankOrder.shard(count: count, rank: $0, size: size) }
        #expect(shards == expected)
    }

    @Test func shardsAreContiguousBalancedAndComplete() {
        for size in 1...7 {
            for count in size...40 {
                let shards = (0..<size).map { RankOrder.shard(count: count, rank: $0, size: size) }
                #expect(shards.first?.lowerBound == 0 && shards.last?.upperBound == count)
                for r in 1..<size { #expect(shards[r].lowerBound == shards[r - 1].upperBound) }
                let lengths = shards.map(\.count)
                #expect(lengths.max()! - lengths.min()! <= 1, "count \(count), size \(size): \(lengths)")
                let weights = RankOrder.weights(count: count, size: size)
                #expect(zip(weights, lengths).allSatisfy { $0 == Float($1) / Float(count) })
            }
        }
    }

    @Test func oneRankIsTheIdentity() {
        let x: [Float] = [1.5, -0.1, .infinity, 3e-39, 0.3]
        var out = [Float](repeating: 9, count: 5)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { RankOrder.weightedSum(src, count: 5, weights: [1], into: $0) }
        }
        #expect(out.map(\.bitPattern) == x.map(\.bitPattern))
    }

    /// Float addition is not associative: the rank-order sum is ((w0·x0 + w1·x1) + w2·x2), and
    /// that exact order is what makes the result independent of message arrival.
    @Test func sumIsTakenInRankOrder() {
        let x: [Float] = [1e8, 1, -1e8, /* rank 1 */ 1, 1, 1, /* rank 2 */ -1e8, 1, 1e8]
        var out = [Float](repeating: 0, count: 3)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { RankOrder.weightedSum(src, count: 3, weights: [1, 1, 1], into: $0) }
        }
        // (1e8 + 1) + -1e8 = 0 in Float (1e8 + 1 rounds to 1e8); -1e8 + 1 + 1e8 likewise 0 for the last.
        #expect(out == [(Float(1e8) + 1) + Float(-1e8), 3, (Float(-1e8) + 1) + Float(1e8)])
        #expect(out == [0, 3, 0])
    }

    @Test func weightedSumWithStrideSkipsTheTail() {
        // Two ranks, 4 values each, of which the first 2 are summed with weights 0.75 / 0.25.
        let x: [Float] = [4, 8, 99, 99, 8, 16, 77, 77]
        var out = [Float](repeating: 0, count: 2)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { RankOrder.weightedSum(src, count: 2, stride: 4, weights: [0.75, 0.25], into: $0) }
        }
        #expect(out == [5, 10])
    }
}
