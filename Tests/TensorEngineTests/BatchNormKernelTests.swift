import Testing

@testable import TensorEngine

/// The C kernels of BatchNorm and of BatchNorm + ReLU + fake quantization (CKernels/batch_norm.c)
/// against the Swift loops they replace: outputs, every gradient and the running statistics bit
/// for bit, on plane sizes that exercise every path of the kernels (16-float steps, a last
/// 8-float step, a scalar tail, the 1024-element chunks of the quantizer sums, planes shorter
/// than one vector), on one and on two threads.
@Suite(.serialized) struct BatchNormKernelTests {
    /// `[N, C, S]` shapes: S = 3 (tail only), 27 (16 + 8 + 3), 64 (ResNet-8's last stage),
    /// 1035 (a chunk, then 8 + 3), 1048 (a chunk, then 16 + 8); for the fused ops' summation in
    /// FakeQuantize's order, 8 (one masked 8-lane step per plane), 2048 (a plane over two chunks)
    /// and 32768 (a plane over two blocks).
    static let shapes: [[Int]] = [[2, 3, 3], [2, 3, 27], [3, 2, 64], [2, 2, 1035], [1, 3, 1048], [3, 2, 5, 7], [4, 3, 8],
                                  [2, 3, 2048], [1, 2, 32768]]

    /// Everything one op produces: output, gradients of the input, weight, bias (and of the
    /// quantizer's scale and zero point), running statistics.
    struct Run {
        static let names = ["output", "input gradient", "weight gradient", "bias gradient", "running mean", "running variance",
                            "scale gradient", "zero-point gradient"]
        var values: [[UInt32]] = []
        mutating func add(_ t: Tensor?) { values.append(t.map { $0.scalars.map(\.bitPattern) } ?? []) }

        /// Where `self` and `other` first differ (bit patterns), or nil when they do not.
        func difference(_ other: Run) -> String? {
            guard values.count == other.values.count else { return "\(values.count) vs \(other.values.count) results" }
            for (k, (a, b)) in zip(values, other.values).enumerated() where a != b {
                guard a.count == b.count else { return "\(Self.names[k]): \(a.count) vs \(b.count) elements" }
                let i = a.indices.first { a[$0] != b[$0] }!
                return "\(Self.names[k])[\(i)]: \(Float(bitPattern: a[i])) vs \(Float(bitPattern: b[i]))"
            }
            return nil
        }
    }

    /// `fused`: BatchNorm + ReLU + unsigned quantizer; `fusedSigned`: BatchNorm + signed quantizer
    /// (`relu: false`).
    enum Op: CaseIterable { case plain, relu, fused, fusedSigned }

    static func run(_ op: Op, shape: [Int], training: Bool, avx2: Bool, threads: Int) -> Run {
        let saved = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = saved }
        let c = shape[1]
        let g = RandomGenerator(seed: UInt64(shape.reduce(7, *)))
        // Channel means and spreads differ, so the statistics matter.
        let x = (g.normal(shape) * Tensor(shape: [1, c] + Array(repeating: 1, count: shape.count - 2), (0..<c).map { 0.5 + Float($0) })
            + Tensor(0.25)).detach()
        x.requiresGrad = true
        let w = Tensor(shape: [c], (0..<c).map { 1.5 - 0.4 * Float($0) }, requiresGrad: true)
        let b = Tensor(shape: [c], (0..<c).map { 0.1 * Float($0) - 0.05 }, requiresGrad: true)
        let rm = Tensor(shape: [c], (0..<c).map { 0.01 * Float($0) }), rv = Tensor(shape: [c], (0..<c).map { 1 + 0.1 * Float($0) })
        let upstream = g.normal(shape)
        let y: Tensor
        var extra: [Tensor] = []
        switch op {
        case .plain, .relu:
            y = Tensor.batchNorm(x, runningMean: rm, runningVar: rv, weight: w, bias: b, training: training, momentum: 0.1,
                                 eps: 1e-5, relu: op == .relu, avx2: avx2)
        case .fused, .fusedSigned:
            // A 4-bit quantizer with a step that clips the largest outputs (the smallest too when
            // signed), and a zero point off zero: every branch of the quantizer is taken.
            let s = Tensor(shape: [1], [0.15], requiresGrad: true), z = Tensor(shape: [1], [1], requiresGrad: true)
            extra = [s, z]
            let signed = op == .fusedSigned
            y = Tensor.batchNormFakeQuant(x, runningMean: rm, runningVar: rv, weight: w, bias: b, training: training,
                                          momentum: 0.1, eps: 1e-5, relu: !signed,
                                          quant: FakeQuantEpilogue(scale: s, zeroPoint: z, minInt: signed ? -8 : 0,
                                                                   maxInt: signed ? 7 : 15),
                                          avx2: avx2)
        }
        (y * upstream).sum().backward()
        var r = Run()
        for t in [y, x.grad, w.grad, b.grad, rm, rv] { r.add(t) }
        for t in extra { r.add(t.grad) }
        return r
    }

    @Test(.enabled(if: BatchNormKernels.hasAVX2, "this processor has no AVX2: there is no second kernel to compare"),
          arguments: Op.allCases, [true, false])
    func kernelsMatchSwiftLoops(_ op: Op, training: Bool) {
        for shape in Self.shapes {
            let reference = Self.run(op, shape: shape, training: training, avx2: false, threads: 1)
            #expect(reference.values[0].count == shape.reduce(1, *))
            for threads in [1, 2] {
                let fast = Self.run(op, shape: shape, training: training, avx2: true, threads: threads)
                #expect(fast.difference(reference) == nil, "\(op) \(shape) training \(training) on \(threads) threads")
            }
            let swift2 = Self.run(op, shape: shape, training: training, avx2: false, threads: 2)
            #expect(swift2.difference(reference) == nil, "Swift loops, \(op) \(shape) training \(training) on 2 threads")
        }
    }

    /// The statistics kernels alone, on lengths 0 through 40 and a long plane: the same float.
    @Test(.enabled(if: BatchNormKernels.hasAVX2, "this processor has no AVX2"))
    func statisticsKernels() {
        let data = RandomGenerator(seed: 5).normal([4133]).scalars.map { $0 * 3 + 1 }
        data.withUnsafeBufferPointer { p in
            for s in Array(0...40) + [1024, 1033, 4133] {
                let base = p.baseAddress!
                #expect(BatchNormKernels.sum(base, s, true).bitPattern == BatchNormKernels.sum(base, s, false).bitPattern,
                        "sum of \(s)")
                #expect(BatchNormKernels.squaredDeviations(base, s, 0.75, true).bitPattern
                        == BatchNormKernels.squaredDeviations(base, s, 0.75, false).bitPattern, "squared deviations of \(s)")
            }
        }
    }
}
