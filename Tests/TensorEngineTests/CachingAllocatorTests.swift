import Dispatch
import Testing

@testable import TensorEngine

/// The caching allocator: size classes, reuse, the bound, thread safety, and results that do not
/// depend on whether a buffer was fresh or reused. Each test binds its own allocator
/// (`CachingAllocator.$current`), so the counters see only its own tensors.
@Suite struct CachingAllocatorTests {
    /// Eight classes per power of two, in 4 KB pages below 4 MB and 2 MB pages from there.
    @Test(arguments: [
        (65_536, 65_536), (65_537, 73_728), (100_000, 106_496), (131_072, 131_072), (131_073, 147_456),
        (1_000_000, 1_048_576), (4_194_304, 4_194_304), (4_194_305, 6_291_456), (5_000_000, 6_291_456),
        (100_000_000, 100_663_296),
    ])
    func sizeClassesRoundUpByAtMostAnEighth(bytes: Int, expected: Int) {
        let c = CachingAllocator.sizeClass(bytes)
        #expect(c == expected)
        let page = bytes >= 4 << 20 ? 2 << 20 : 4 << 10
        #expect(c >= bytes && c - bytes < Swift.max(bytes / 8 + 1, page))
        #expect(CachingAllocator.sizeClass(c) == c)
    }

    @Test func aFreedBufferServesTheNextRequestOfItsClass() {
        #if os(Linux)
            let a = CachingAllocator(limitBytes: 64 << 20)
            CachingAllocator.$current.withValue(a) {
                var t: Tensor? = Tensor.empty([100_000])
                let first = t!.storage.pointer
                #expect(a.statistics.misses == 1 && a.statistics.bytesInUse == CachingAllocator.sizeClass(400_000))
                t = nil
                #expect(a.statistics.bytesHeld == CachingAllocator.sizeClass(400_000) && a.statistics.buffersHeld == 1)
                // A slightly smaller request falls into the same class and gets the same buffer.
                let u = Tensor.empty([99_000])
                #expect(u.storage.pointer == first)
                #expect(a.statistics.hits == 1 && a.statistics.misses == 1 && a.statistics.bytesHeld == 0)
                // Small tensors are malloc's business.
                _ = Tensor.empty([1000])
                #expect(a.statistics.hits + a.statistics.misses == 2)
            }
        #endif
    }

    @Test func theHeldBytesNeverExceedTheLimit() {
        #if os(Linux)
            let a = CachingAllocator(limitBytes: 1 << 20)
            CachingAllocator.$current.withValue(a) {
                var live: [Tensor] = (0..<10).map { _ in Tensor.empty([65_536]) }  // 256 KB each
                #expect(a.statistics.misses == 10 && a.statistics.bytesInUse == 10 << 18)
                live.removeAll()
                #expect(a.statistics.bytesHeld == 1 << 20 && a.statistics.buffersHeld == 4)
                #expect(a.statistics.evictions == 6 && a.statistics.bytesInUse == 0)
                // A buffer over the limit is never held.
                var big: Tensor? = Tensor.empty([1 << 19])  // 2 MB
                big = nil
                #expect(big == nil && a.statistics.bytesHeld == 1 << 20 && a.statistics.evictions == 7)
                // Lowering the limit evicts the least recently freed first; 0 turns caching off.
                a.limitBytes = 1 << 19
                #expect(a.statistics.buffersHeld == 2 && a.statistics.evictions == 9)
                a.limitBytes = 0
                #expect(a.statistics.bytesHeld == 0)
                _ = Tensor.empty([65_536])
                #expect(a.statistics.bytesHeld == 0 && a.statistics.evictions == 12)
            }
        #endif
    }

    @Test func concurrentAllocationsKeepTheBooksStraight() {
        #if os(Linux)
            let a = CachingAllocator(limitBytes: 8 << 20)
            let perThread = 200
            DispatchQueue.concurrentPerform(iterations: 4) { k in
                CachingAllocator.$current.withValue(a) {
                    var held: [Tensor] = []
                    for i in 0..<perThread {
                        let t = Tensor.empty([16_384 * (1 + (i * 7 + k) % 5)])
                        t.storage.pointer[0] = Float(i)
                        held.append(t)
                        if held.count > 3 { held.removeFirst() }
                    }
                }
            }
            let s = a.statistics
            #expect(s.hits + s.misses == 4 * perThread)
            #expect(s.hits > s.misses)
            #expect(s.bytesInUse == 0 && s.bytesHeld <= 8 << 20)
            #expect(s.bytesMapped >= s.bytesHeld)
        #endif
    }

    /// A training step of a small conv/BatchNorm/ReLU network: the first step maps its buffers,
    /// the following ones map nothing; and the results are bit-identical to those with caching off
    /// (reused buffers hold stale data, which no kernel may read).
    @Test func stepsAfterTheFirstMapNothingAndComputeTheSame() {
        func run(limit: Int) -> (losses: [Float], grads: [[Float]], missesPerStep: [Int]) {
            let a = CachingAllocator(limitBytes: limit)
            return CachingAllocator.$current.withValue(a) {
                // Leave poisoned buffers in the cache, so that a kernel reading before writing shows.
                do { let junk = (0..<8).map { _ in Tensor(repeating: .nan, shape: [8, 16, 16, 16]) }; _ = junk }
                let g = RandomGenerator(seed: 11)
                let w1 = g.normal([16, 3, 3, 3]), w2 = g.normal([16, 16, 3, 3])
                let gamma = Tensor.ones([16]), beta = Tensor.zeros([16])
                for p in [w1, w2, gamma, beta] { p.requiresGrad = true }
                let rm = Tensor.zeros([16]), rv = Tensor.ones([16])
                let x = g.normal([8, 3, 16, 16])
                var losses: [Float] = [], misses: [Int] = []
                for _ in 0..<3 {
                    let before = a.statistics.misses
                    for p in [w1, w2, gamma, beta] { p.grad = nil }
                    var h = Tensor.conv2d(x, weight: w1, padding: (1, 1))
                    h = Tensor.batchNorm(h, runningMean: rm, runningVar: rv, weight: gamma, bias: beta, training: true).relu()
                    h = Tensor.conv2d(h, weight: w2, padding: (1, 1)).relu()
                    let loss = (h * h).mean()
                    loss.backward()
                    losses.append(loss.item())
                    misses.append(a.statistics.misses - before)
                }
                return (losses, [w1, w2, gamma, beta].map { $0.grad!.scalars }, misses)
            }
        }
        let cached = run(limit: 64 << 20), uncached = run(limit: 0)
        #expect(cached.losses == uncached.losses && cached.grads == uncached.grads)
        #expect(cached.losses.allSatisfy { $0.isFinite })
        #if os(Linux)
            #expect(cached.missesPerStep[0] > 0)
            #expect(cached.missesPerStep.dropFirst().allSatisfy { $0 == 0 }, "misses per step \(cached.missesPerStep)")
        #endif
    }
}
