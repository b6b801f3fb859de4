import CKernels
import Testing
import TestSupport
@testable import TensorEngine

/// The F(4x4, 3x3) weight transform, eight kernels per vector and split over threads, gives the
/// same bits as the one-kernel-at-a-time loop: kernel counts below, at and past multiples of
/// eight, ranges that start and end inside a group of eight, and NaN, ±inf, -0 and subnormal
/// weights.
@Suite struct WinogradWeightTransformTests {
    @Test func vectorTransformMatchesTheScalarLoopBitForBit() throws {
        #if arch(x86_64)
            guard ConvGeometry.winograd4Enabled else { return }
            for (outC, inC) in [(1, 1), (1, 7), (2, 4), (3, 3), (17, 3), (16, 16), (64, 64)] {
                let oc = outC * inC
                var w = randn([oc * 9], seed: UInt64(oc)).scalars
                let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 1e-40, 3.0e38]
                for (i, s) in specials.enumerated() where 5 * i < w.count { w[5 * i] = s }
                var want = [Float](repeating: 7, count: 36 * oc), got = want, split = want
                ck_wino4_weights_scalar(w, &want, outC, inC)
                ck_wino4_weights(w, &got, outC, inC)
                // Two ranges that meet inside a group of eight.
                let mid = oc / 2 | 1
                w.withUnsafeBufferPointer { wp in
                    split.withUnsafeMutableBufferPointer { up in
                        ck_wino4_weights_range(wp.baseAddress!, up.baseAddress!, 0, min(mid, oc), oc)
                        ck_wino4_weights_range(wp.baseAddress!, up.baseAddress!, min(mid, oc), oc, oc)
                    }
                }
                let same = { (a: [Float], b: [Float]) in zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) } }
                #expect(same(got, want), "\(outC)x\(inC): vector transform differs")
                #expect(same(split, want), "\(outC)x\(inC): split transform differs")
                #expect(!same(got, want.map { $0 * 1.0000001 }) || want.allSatisfy { $0 == 0 || !$0.isFinite },
                        "\(outC)x\(inC): the comparison must see a one-ulp change")
            }
        #endif
    }
}
