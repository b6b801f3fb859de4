import Testing
import TensorEngine

@testable import IntegerInference

/// The executor's convolutions and linear layers run as double-precision GEMMs; with products
/// and sums below 2^53 they are exact. Checked against the definition, summed in Int64, with
/// values that make accumulators of about 2^45 (where float32 would lose 21 bits).
@Suite struct ExecutorGEMMTests {
    /// Pseudo-random integers in `-limit...limit` (a fixed LCG: the test does not depend on the RNG).
    static func integers(_ count: Int, limit: Int64, seed: UInt64) -> [Int64] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int64((state >> 33) % UInt64(2 * limit + 1)) - limit
        }
    }

    struct ConvCase: CustomStringConvertible {
        var cin: Int, cout: Int, k: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int, h: Int, w: Int
        var description: String { "\(cin)->\(cout) k\(k) s\(stride) p\(padding) d\(dilation) g\(groups) \(h)x\(w)" }
    }

    static let convCases = [
        ConvCase(cin: 3, cout: 4, k: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1, h: 5, w: 6),
        ConvCase(cin: 4, cout: 6, k: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2, h: 7, w: 6),
        ConvCase(cin: 4, cout: 4, k: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 4, h: 4, w: 4),
        ConvCase(cin: 2, cout: 3, k: (1, 5), stride: (1, 2), padding: (0, 2), dilation: (1, 1), groups: 1, h: 1, w: 9),
    ]

    @Test(arguments: convCases)
    func convolutionIsExact(_ t: ConvCase) {
        let n = 3
        let fan = t.cin / t.groups * t.k.0 * t.k.1
        let weight = Self.integers(t.cout * fan, limit: 1 << 20, seed: 1)
        let bias = Self.integers(t.cout, limit: 1 << 40, seed: 2)
        let input = Self.integers(n * t.cin * t.h * t.w, limit: 1 << 20, seed: 3)
        let op = IntegerOp.Conv2d(weight: weight, weightShape: [t.cout, t.cin / t.groups, t.k.0, t.k.1], bias: bias, stride: t.stride,
                                  padding: t.padding, dilation: t.dilation, groups: t.groups, accumulatorBound: Int64(1) << 47)
        let (oh, ow) = op.outputSize(t.h, t.w)
        let got = IntegerExecutor.conv2d(IntegerTensor(shape: [n, t.cin, t.h, t.w], input), op, outShape: [n, t.cout, oh, ow])
        var expected: [Int64] = []
        let (cg, og) = (t.cin / t.groups, t.cout / t.groups)
        for e in 0..<n {
            for o in 0..<t.cout {
                for y in 0..<oh {
                    for x in 0..<ow {
                        var acc = bias[o]
                        for c in 0..<cg {
                            for i in 0..<t.k.0 {
                                for j in 0..<t.k.1 {
                                    let iy = y * t.stride.0 + i * t.dilation.0 - t.padding.0
                                    let ix = x * t.stride.1 + j * t.dilation.1 - t.padding.1
                                    guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                                    acc += weight[((o * cg + c) * t.k.0 + i) * t.k.1 + j] * input[((e * t.cin + o / og * cg + c) * t.h + iy) * t.w + ix]
                                }
                            }
                        }
                        expected.append(acc)
                    }
                }
            }
        }
        #expect(got.data == expected)
        #expect(expected.map { Swift.abs($0) }.max()! > 1 << 40)
    }

    @Test(arguments: [1, 63, 64, 130])
    func linearIsExact(examples n: Int) {
        let (fin, fout) = (37, 5)
        let weight = Self.integers(fout * fin, limit: 1 << 21, seed: 4)
        let bias = Self.integers(fout, limit: 1 << 44, seed: 5)
        let input = Self.integers(n * fin, limit: 1 << 21, seed: 6)
        let op = IntegerOp.Linear(weight: weight, inFeatures: fin, outFeatures: fout, bias: bias, accumulatorBound: Int64(1) << 47)
        let got = IntegerExecutor.linear(IntegerTensor(shape: [n, fin], input), op)
        let expected = (0..<n).flatMap { e in
            (0..<fout).map { o in (0..<fin).reduce(bias[o]) { $0 + weight[o * fin + $1] * input[e * fin + $1] } }
        }
        #expect(got.data == expected)
    }
}
