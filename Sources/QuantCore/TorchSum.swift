/// PyTorch's float32 sum of a contiguous row on the CPU (`cascade_sum` → `vectorized_inner_sum`
/// → `row_sum` → `multi_row_sum`), reproduced in its order of operations, so that searches whose
/// stop test compares two nearly equal losses (HQO) take the same decisions as the reference.
///
/// Elements are read as vectors of `width` lanes (8 for AVX2) in 4 interleaved accumulators,
/// cascaded in levels of `2^max(4, ceil(log2 n)/4)` vectors; the lanes are then added in order,
/// after the scalar tail. With 8 lanes it reproduces the reference's HQO zero points bit for
/// bit (`act_shifted_uint8_hqo_large_traj`, where a double-precision sum drifts by 3e-5).
enum TorchSum {
    static func sum(_ a: UnsafeBufferPointer<Float>, width: Int = 8) -> Float {
        let n = a.count
        let vecCount = n / width
        if vecCount == 0 { return a.reduce(Float(0), +) }
        // row_sum over `vecCount` vectors with ilp 4.
        let ilp = 4
        let sizeIlp = vecCount / ilp
        let levels = 4
        var log2Ceil = 0
        while (1 << log2Ceil) < sizeIlp { log2Ceil += 1 }
        let levelPower = Swift.max(4, log2Ceil / levels)
        let levelStep = 1 << levelPower
        let levelMask = levelStep - 1
        var acc = [[Float]](repeating: [Float](repeating: 0, count: ilp * width), count: levels)
        func load(_ vec: Int, _ lane: Int) -> Float { a[vec * width + lane] }
        var i = 0
        while i + levelStep <= sizeIlp {
            for _ in 0..<levelStep {
                for k in 0..<ilp { for l in 0..<width { acc[0][k * width + l] += load(i * ilp + k, l) } }
                i += 1
            }
            for j in 1..<levels {
                for t in 0..<(ilp * width) { acc[j][t] += acc[j - 1][t]; acc[j - 1][t] = 0 }
                if (i & (levelMask << (j * levelPower))) != 0 { break }
            }
        }
        while i < sizeIlp {
            for k in 0..<ilp { for l in 0..<width { acc[0][k * width + l] += load(i * ilp + k, l) } }
            i += 1
        }
        for j in 1..<levels { for t in 0..<(ilp * width) { acc[0][t] += acc[j][t] } }
        var partial = acc[0]
        for v in (sizeIlp * ilp)..<vecCount { for l in 0..<width { partial[l] += load(v, l) } }
        for k in 1..<ilp { for l in 0..<width { partial[l] += partial[k * width + l] } }
        var final: Float = 0
        for t in (vecCount * width)..<n { final += a[t] }
        for l in 0..<width { final += partial[l] }
        return final
    }

    static func sum(_ a: [Float], width: Int = 8) -> Float { a.withUnsafeBufferPointer { sum($0, width: width) } }
}
