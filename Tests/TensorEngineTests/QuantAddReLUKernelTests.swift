import Testing

@testable import TensorEngine

/// The C kernels of the fused residual tail (CKernels/quant_add.c) against the Swift loops they
/// replace, bit for bit, on lengths that exercise every path (the 8-lane loop, the scalar tail,
/// the 1024-element flush of the sums, several 16384-element blocks), on one and two threads; and
/// the op's gradients against finite differences.
@Suite(.serialized) struct QuantAddReLUKernelTests {
    /// Output, both input gradients and the four quantizer gradients, as bit patterns.
    static func run(count: Int, avx2: Bool, threads: Int, quantizeX: Bool = true) -> [[UInt32]] {
        let saved = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = saved }
        let gen = RandomGenerator(seed: UInt64(count) + 11)
        // Spreads that make every branch common: clipped and in-range shortcut codes, sums cut by
        // the ReLU, clipped at the top and in range.
        let a = (gen.normal([count]) * Tensor(0.6)).detach(), x = (gen.normal([count]) * Tensor(2)).detach()
        let up = gen.normal([count])
        let si = Tensor(shape: [], [0.25], requiresGrad: true), zi = Tensor(shape: [], [0.5], requiresGrad: true)
        let so = Tensor(shape: [], [0.125], requiresGrad: true), zo = Tensor(shape: [], [1], requiresGrad: true)
        a.requiresGrad = true
        x.requiresGrad = true
        let y = Tensor.quantAddReLUFakeQuant(a, x, inputQuant: quantizeX ? FakeQuantEpilogue(scale: si, zeroPoint: zi, minInt: -8, maxInt: 7) : nil,
                                             outputQuant: FakeQuantEpilogue(scale: so, zeroPoint: zo, minInt: 0, maxInt: 15),
                                             avx2: avx2)
        (y * up).sum().backward()
        if !quantizeX { #expect(si.grad == nil && zi.grad == nil) }
        let results: [Tensor] = [y, a.grad!, x.grad!] + (quantizeX ? [si.grad!, zi.grad!] : []) + [so.grad!, zo.grad!]
        return results.map { $0.scalars.map(\.bitPattern) }
    }

    /// 5 (tail only), 1037 (a flush, then 8-lane steps and a tail), 40000 (three blocks, the last
    /// partial).
    @Test(.enabled(if: BatchNormKernels.hasAVX2, "this processor has no AVX2: there is no second kernel to compare"),
          arguments: [5, 1037, 40000])
    func kernelsMatchSwiftLoops(count: Int) {
        let reference = Self.run(count: count, avx2: false, threads: 1)
        #expect(reference[0].count == count)
        // Every quantizer gradient is non-zero: each sum saw clipped and unclipped elements.
        if count > 1000 { #expect(reference[3...6].allSatisfy { $0[0] != 0 }) }
        for threads in [1, 2] {
            #expect(Self.run(count: count, avx2: true, threads: threads) == reference, "\(count) on \(threads) threads")
        }
        #expect(Self.run(count: count, avx2: false, threads: 2) == reference, "Swift loops on 2 threads")
        // Without the input quantizer (x quantized already).
        let plain = Self.run(count: count, avx2: false, threads: 1, quantizeX: false)
        #expect(plain.count == 5 && plain != Array(reference[0..<3] + reference[5...]))
        for threads in [1, 2] {
            #expect(Self.run(count: count, avx2: true, threads: threads, quantizeX: false) == plain, "no input quantizer, \(count)")
        }
    }

    /// Finite differences on a fine grid (scales 1e-6, wide code ranges: nothing clips), where
    /// the straight-through gradients are those of `relu(a + x)`.
    @Test func gradientsMatchFiniteDifferences() {
        let gen = RandomGenerator(seed: 31)
        let a = gen.normal([2, 3, 5]), x = gen.normal([2, 3, 5]), g = gen.normal([2, 3, 5])
        let fine = FakeQuantEpilogue(scale: Tensor(shape: [], [1e-6]), zeroPoint: Tensor(shape: [], [0]),
                                     minInt: -Float(1 << 22), maxInt: Float(1 << 22))
        gradCheck([a, x], eps: 1e-3) { t in
            (Tensor.quantAddReLUFakeQuant(t[0], t[1], inputQuant: fine, outputQuant: fine) * g).sum()
        }
    }
}
