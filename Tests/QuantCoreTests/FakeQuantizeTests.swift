import Testing
import TensorEngine
@testable import QuantCore

#if arch(x86_64)
    import CKernels
#endif

@Suite struct FakeQuantizeTests {
    /// A table of edge cases at 8 bits, scale 0.5, zero point 0: ties round half to even.
    @Test(arguments: [
        (Float(0.25), Float(0)),      // 0.5 -> 0 (tie to even)
        (0.75, 1.0),                   // 1.5 -> 2
        (1.25, 1.0),                   // 2.5 -> 2
        (-0.25, 0),                    // -0.5 -> 0
        (-0.75, -1.0),                 // -1.5 -> -2
        (63.5, 63.5),                  // 127
        (63.75, 63.5),                 // 127.5 -> 128 -> clamped 127
        (-64, -64),                    // -128 fits signed
        (-100, -64),                   // clipped
    ])
    func signedEdgeCases(input: Float, expected: Float) {
        let y = FakeQuantize.apply(Tensor([input]), scale: Tensor(0.5), zeroPoint: Tensor(0), minInt: -128, maxInt: 127)
        #expect(y.item() == expected)
    }

    @Test func nanPropagatesAndInfClamps() {
        let y = FakeQuantize.apply(Tensor([.nan, .infinity, -.infinity]), scale: Tensor(0.5), zeroPoint: Tensor(0), minInt: 0, maxInt: 255)
        #expect(y.scalars[0].isNaN)
        #expect(y.scalars[1] == 127.5 && y.scalars[2] == 0)
    }

    @Test func emptyTensor() {
        let y = FakeQuantize.apply(Tensor.zeros([0, 3]), scale: Tensor(1), zeroPoint: Tensor(0), minInt: -8, maxInt: 7)
        #expect(y.shape == [0, 3])
    }

    @Test func matchesTheUnfusedFormula() {
        let x = RandomGenerator(seed: 3).normal([4, 3, 5]) * 3
        let s = Tensor(shape: [1, 3, 1], [0.02, 0.05, 0.1]), z = Tensor(shape: [1, 3, 1], [3, 0, 7])
        let y = FakeQuantize.apply(x, scale: s, zeroPoint: z, minInt: 0, maxInt: 15)
        let ref = ((x / s + z).rounded().clamp(min: 0, max: 15) - z) * s
        #expect(y.scalars == ref.scalars)
    }

    /// The scale gradient against the documented LSQ-style formula, computed independently.
    @Test func gradientsFollowTheDocumentedFormula() {
        let x = RandomGenerator(seed: 4).normal([50]) * 2
        let g = RandomGenerator(seed: 5).normal([50])
        let s = Tensor(0.05, requiresGrad: true), z = Tensor(2, requiresGrad: true)
        x.requiresGrad = true
        let y = FakeQuantize.apply(x, scale: s, zeroPoint: z, minInt: -8, maxInt: 7)
        (y * g).sum().backward()
        var ds: Double = 0, dz: Double = 0
        var gx: [Float] = []
        for (xi, gi) in zip(x.scalars, g.scalars) {
            let r = (xi / 0.05 + 2).rounded(.toNearestOrEven)
            if r > 7 || r < -8 {
                let q: Float = r > 7 ? 7 : -8
                ds += Double(gi) * Double(q - 2)
                dz -= Double(gi) * 0.05
                gx.append(0)
            } else {
                ds += Double(gi) * (Double(r - 2) - Double(xi / 0.05))
                gx.append(gi)
            }
        }
        #expect(abs(Double(s.grad!.item()) - ds) < 1e-4)
        #expect(abs(Double(z.grad!.item()) - dz) < 1e-5)
        #expect(x.grad!.scalars == gx)
    }

    /// The fused ReLU kernel equals ReLU followed by the plain kernel, values and gradients,
    /// on both SIMD and scalar-tail paths (1003 elements), with exact zeros and NaN.
    @Test func fusedReLUMatchesTheComposition() {
        let base = RandomGenerator(seed: 11).normal([1003]) * 3
        base[5] = 0
        base[6] = -0.0
        let g = RandomGenerator(seed: 12).normal([1003])
        func run(_ fused: Bool) -> ([Float], [Float], Float) {
            let x = base.copy()
            x.requiresGrad = true
            let s = Tensor(0.02, requiresGrad: true)
            let y = fused
                ? FakeQuantize.apply(x, scale: s, zeroPoint: Tensor(0), minInt: 0, maxInt: 255, fusedReLU: true)
                : FakeQuantize.apply(x.relu(), scale: s, zeroPoint: Tensor(0), minInt: 0, maxInt: 255)
            (y * g).sum().backward()
            return (y.scalars, x.grad!.scalars, s.grad!.item())
        }
        let (yf, gxf, gsf) = run(true), (yu, gxu, gsu) = run(false)
        #expect(yf == yu)
        #expect(gxf == gxu)
        #expect(abs(gsf - gsu) <= 1e-4 * max(1, abs(gsu)))
    }

    @Test func steClampPassesGradientEverywhere() {
        let x = Tensor([-10, 0.3, 10], requiresGrad: true)
        let y = FakeQuantize.apply(x, scale: Tensor(0.1), zeroPoint: Tensor(0), minInt: -7, maxInt: 7, clampSte: true)
        y.sum().backward()
        #expect(x.grad!.scalars == [1, 1, 1])
        #expect(y.scalars.map { ($0 * 10).rounded() } == [-7, 3, 7])
    }

    @Test(arguments: 2...16)
    func everyBitWidthStaysOnItsGrid(bits: Int) {
        let x = RandomGenerator(seed: UInt64(bits)).normal([200]) * 4
        let half = Float(1 << (bits - 1))
        let y = FakeQuantize.apply(x, scale: Tensor(0.01), zeroPoint: Tensor(0), minInt: -half, maxInt: half - 1)
        for v in y.scalars {
            let q = v / 0.01
            #expect(abs(q - q.rounded()) < 1e-2 && q.rounded() >= -half && q.rounded() <= half - 1)
        }
    }
}

@Suite struct STETests {
    @Test func straightThroughRoundingFunctions() {
        let x = Tensor([0.5, 1.5, -2.5, 0.2], requiresGrad: true)
        let y = STE.roundSte(x) + STE.ceilSte(x) + STE.floorSte(x)
        #expect(STE.roundSte(x).scalars == [0, 2, -2, 0])
        y.sum().backward()
        #expect(x.grad!.scalars == [3, 3, 3, 3])
    }

    @Test func absBinarySignGradUsesPlusOneAtZero() {
        let x = Tensor([-2, 0, 3], requiresGrad: true)
        STE.absBinarySignGrad(x).sum().backward()
        #expect(x.grad!.scalars == [-1, 1, 1])
    }

    @Test func tensorClampIsASelect() {
        let x = Tensor([-3, 0.5, 3], requiresGrad: true)
        let y = STE.tensorClamp(x, min: Tensor(-1), max: Tensor(1))
        y.sum().backward()
        #expect(y.scalars == [-1, 0.5, 1])
        #expect(x.grad!.scalars == [0, 1, 0])
    }

    @Test func signedClampMinKeepsTheSign() {
        let x = Tensor([-1e-12, 1e-12, 0.5], requiresGrad: true)
        let y = signedClampMin(x, 1e-10)
        #expect(y.scalars == [-1e-10, 1e-10, 0.5])
        y.sum().backward()
        #expect(x.grad!.scalars == [1, 1, 1])
    }

    /// The AVX2 kernels (when this processor has them) and the portable Swift loops give the same
    /// outputs and input gradients bit for bit (up to the sign of zero), and the same scale and
    /// zero-point gradients, over every case the kernels branch on.
    @Test(.enabled(if: FakeQuantize.hasAVX2, "this processor has no AVX2: there is no second kernel to compare"),
          arguments: [(false, false), (true, false), (false, true)])
    func avx2KernelsMatchTheSwiftLoops(_ clampSte: Bool, _ fusedReLU: Bool) {
        let g = RandomGenerator(seed: 41)
        let x = g.normal([3, 4, 7, 45]) * 3   // rows of 315: segments with 8-lane bodies and tails
        let p = x.storage.pointer
        p[0] = .nan; p[9] = .infinity; p[10] = -.infinity; p[11] = -0.0; p[12] = 0.5; p[13] = 1.5; p[14] = -2.5
        let up = g.normal(x.shape)
        for perChannel in [false, true] {
            let scale = perChannel ? (g.uniform([1, 4, 1, 1]) + 0.2) : Tensor(0.37)
            let zero = perChannel ? Tensor(shape: [1, 4, 1, 1], [0, 3, 7, 12]) : Tensor(5)
            func run(_ avx2: Bool) -> (y: [Float], gx: [Float], gs: [Float], gz: [Float]) {
                let xs = x.copy(), s = scale.copy(), z = zero.copy()
                for t in [xs, s, z] { t.requiresGrad = true }
                let y = FakeQuantize.apply(xs, scale: s, zeroPoint: z, minInt: 0, maxInt: 15, clampSte: clampSte,
                                           fusedReLU: fusedReLU, avx2: avx2)
                y.backward(up)
                return (y.scalars, xs.grad!.scalars, s.grad!.scalars, z.grad!.scalars)
            }
            let fast = run(true), portable = run(false)
            func same(_ a: [Float], _ b: [Float]) -> Bool {
                a.count == b.count && zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
            }
            #expect(same(fast.y, portable.y), "output, per channel \(perChannel)")
            #expect(same(fast.gx, portable.gx), "input gradient, per channel \(perChannel)")
            #expect(same(fast.gs, portable.gs), "scale gradient, per channel \(perChannel)")
            #expect(same(fast.gz, portable.gz), "zero-point gradient, per channel \(perChannel)")
        }
    }

    #if arch(x86_64)
        /// Non-temporal stores (used for tensors far larger than the caches) change no value: the
        /// kernels with and without `stream`, on outputs that start 64-byte aligned and not (the
        /// unaligned vectors then go out by ordinary stores), give the same outputs, input
        /// gradients and partial sums; on AVX-512 processors these are the 16-lane kernels, which
        /// `avx2KernelsMatchTheSwiftLoops` checks against the Swift loops.
        @Test(.enabled(if: FakeQuantize.hasAVX2, "this processor has no AVX2 kernels"))
        func streamingStoresChangeNoValue() {
            let g = RandomGenerator(seed: 43)
            let n = 4099
            let x = g.normal([n]) * 4, up = g.normal([n])
            let out = UnsafeMutablePointer<Float>.allocate(capacity: 4 * (n + 16))
            defer { out.deallocate() }
            for offset in [0, 1, 5] {
                for relu: Int32 in [0, 1] {
                    var results: [[Float]] = []
                    var sums: [(Double, Double)] = []
                    for stream: Int32 in [0, 1] {
                        let y = out + offset, gx = out + 2 * (n + 16) + offset
                        ck_fq_forward_avx2(x.storage.pointer, y, n, 0.3, 2, 0, 15, relu, stream)
                        var accS = 0.0, accZ = 0.0
                        ck_fq_backward_avx2(x.storage.pointer, up.storage.pointer, gx, n, 0.3, 2, 0, 15, 1, relu, stream, &accS, &accZ)
                        results.append(Array(UnsafeBufferPointer(start: y, count: n)) + Array(UnsafeBufferPointer(start: gx, count: n)))
                        sums.append((accS, accZ))
                    }
                    #expect(results[0] == results[1], "offset \(offset), relu \(relu)")
                    #expect(sums[0] == sums[1], "offset \(offset), relu \(relu)")
                }
            }
        }
    #endif
}
