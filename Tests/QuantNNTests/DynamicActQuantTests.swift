import Testing
import TensorEngine
@testable import QuantCore
@testable import Quantizers
@testable import QuantNN

/// Brevitas's dynamic activation presets (`Int8DynamicActPerTensorFloat`,
/// `ShiftedUint8DynamicActPerTensorFloat`, `Int8DynamicActPerGroupFloat`): scale and zero point
/// from the current input at every call. Whole-layer replays against Brevitas 0.13.4 (outputs,
/// scales, zero points, gradients over six steps) are in `ExtraFormatsCasesTests`.
@Suite struct DynamicActQuantTests {
    static func quant(_ q: ActQuant, _ x: [Float], train: Bool = true) throws -> QuantTensor {
        let l = try QuantIdentity(actQuant: q, returnQuantTensor: true)
        if train { l.train() } else { l.eval() }
        return try #require(try l.forward(.float(Tensor(x))).quantTensor)
    }

    /// Hand-computed: per tensor `max|x| / 128`; shifted `(max(x) − min(min(x), 0)) / 255` and
    /// zero point `round(−min(min(x), 0) / s)`.
    @Test func handComputedScales() throws {
        let a = try Self.quant(.int8DynamicActPerTensorFloat, [0.5, -2, 1])
        let two: Float = 2.0 / 128
        let xs: [Float] = [0.5, -2, 1]
        #expect(a.scale.item() == two && a.zeroPoint.item() == 0)
        #expect(a.value.scalars == xs)
        let s = try Self.quant(.shiftedUint8DynamicActPerTensorFloat, [-1, 0, 3])
        let s4: Float = 4.0 / 255
        #expect(s.scale.item() == s4 && s.zeroPoint.item() == 64)
        // All positive: the range starts at 0 and the zero point is 0.
        let p = try Self.quant(.shiftedUint8DynamicActPerTensorFloat, [1, 2, 5.1])
        let s51: Float = Float(5.1) / 255
        #expect(p.scale.item() == s51 && p.zeroPoint.item() == 0)
    }

    /// No state: one layer called on two inputs gives two scales, in training and in eval, and
    /// eval gives what training gives on the same input (nothing was collected).
    @Test func statelessAcrossCallsAndModes() throws {
        for q in [ActQuant.int8DynamicActPerTensorFloat, .shiftedUint8DynamicActPerTensorFloat] {
            let l = try QuantIdentity(actQuant: q, returnQuantTensor: true)
            l.train()
            let s1 = try #require(try l.forward(.float(Tensor([0.1, -0.2, 0.3]))).quantTensor).scale.item()
            let s2 = try #require(try l.forward(.float(Tensor([4, -1, 2]))).quantTensor).scale.item()
            l.eval()
            let s3 = try #require(try l.forward(.float(Tensor([0.1, -0.2, 0.3]))).quantTensor).scale.item()
            #expect(s1 != s2 && s1 == s3, "\(q.preset): \(s1) \(s2) \(s3)")
            #expect(l.parameters().isEmpty, "\(q.preset) learns nothing")
        }
    }

    /// Zero range: the scale is `scaling_min_val / threshold` and the output is 0.
    @Test func zeroRange() throws {
        let a = try Self.quant(.int8DynamicActPerTensorFloat, [0, 0, 0, 0])
        let m128: Float = Float(1e-10) / 128, m255: Float = Float(1e-10) / 255
        let zeros: [Float] = [0, 0, 0, 0]
        #expect(a.scale.item() == m128 && a.value.scalars == zeros)
        let s = try Self.quant(.shiftedUint8DynamicActPerTensorFloat, [0, 0, 0])
        #expect(s.scale.item() == m255 && s.zeroPoint.item() == 0 && s.value.scalars == [Float](repeating: 0, count: 3))
    }

    /// NaN follows torch: `max|x|` with a NaN is NaN, so the scale and every output are NaN
    /// (no silent skipping of the NaN).
    @Test func nanPoisonsTheScale() throws {
        let a = try Self.quant(.int8DynamicActPerTensorFloat, [0.5, .nan, 1])
        #expect(a.scale.item().isNaN && a.value.scalars.allSatisfy(\.isNaN))
    }

    /// Per group: each group of `group_size` along the last dim has its own `max|x_g| / 128`.
    @Test func perGroupScales() throws {
        let l = try QuantIdentity(actQuant: .int8DynamicActPerGroupFloat.with(\.groupSize, 2), returnQuantTensor: true)
        let q = try #require(try l.forward(.float(Tensor(shape: [1, 4], [1, -3, 0.5, 0.25]))).quantTensor)
        let expected: [Float] = [3.0 / 128, 3.0 / 128, 0.5 / 128, 0.5 / 128]
        #expect(q.scale.scalars == expected)
    }

    /// Shifted per group: each group has its own range and zero point. (Brevitas 0.13.4 cannot
    /// run this preset: its `RuntimeDynamicGroupZeroPoint` zero point does not broadcast against
    /// the per-group scale, so there is no recorded case; the numbers are the formula's.)
    @Test func shiftedPerGroupScalesAndZeroPoints() throws {
        let l = try QuantIdentity(actQuant: .shiftedUint8DynamicActPerGroupFloat.with(\.groupSize, 2), returnQuantTensor: true)
        let q = try #require(try l.forward(.float(Tensor(shape: [1, 4], [-1, 3, 0.5, 1]))).quantTensor)
        let a: Float = 4.0 / 255, b: Float = 1.0 / 255
        let zs: [Float] = [64, 64, 0, 0]
        #expect(q.scale.scalars == [a, a, b, b] && q.zeroPoint.scalars == zs, "\(q.scale.scalars) \(q.zeroPoint.scalars)")
        let l2 = try QuantIdentity(actQuant: .shiftedUint8DynamicActPerGroupFloat.with(\.groupSize, 2), returnQuantTensor: true)
        let q2 = try #require(try l2.forward(.float(Tensor(shape: [1, 4], [-2, 2, 0.5, 1]))).quantTensor)
        // 2 / (4/255) is 127.49999 in float32 (torch gives the same), so the zero point is 127.
        #expect(q2.zeroPoint.scalars == [127, 127, 0, 0] as [Float], "\(q2.zeroPoint.scalars)")
    }

    /// Per row: one scale per vector of the last dimension, shape `[..., 1]`; the shifted one has
    /// a zero point per row.
    @Test func perRowScales() throws {
        let x = Tensor(shape: [2, 1, 3], [1, -3, 0.5, 0.25, 0.1, -0.2])
        let a = try #require(try QuantIdentity(actQuant: .int8DynamicActPerRowFloat, returnQuantTensor: true).forward(.float(x)).quantTensor)
        let ea: [Float] = [3.0 / 128, 0.25 / 128]
        #expect(a.scale.shape == [2, 1, 1] && a.scale.scalars == ea, "\(a.scale.shape) \(a.scale.scalars)")
        let s = try #require(try QuantIdentity(actQuant: .shiftedUint8DynamicActPerRowFloat, returnQuantTensor: true).forward(.float(x)).quantTensor)
        let es: [Float] = [4.0 / 255, 0.45 / 255]
        #expect(s.scale.shape == [2, 1, 1] && s.zeroPoint.shape == [2, 1, 1])
        #expect(Swift.abs(s.scale.scalars[0] - es[0]) < 1e-9 && Swift.abs(s.scale.scalars[1] - es[1]) < 1e-9, "\(s.scale.scalars)")
        #expect(s.zeroPoint.scalars == [191, 113] as [Float], "\(s.zeroPoint.scalars)")
    }

    /// The gradient reaches the input through the scale (nothing detached): for `y = q(x)` with
    /// upstream 1, the arg-max element gets `1 + Σ (round(x/s) − x/s) · ∂s/∂max|x|`, the others 1.
    @Test func gradientThroughTheScale() throws {
        let x = Tensor([0.3, -2, 0.77])
        x.requiresGrad = true
        let l = try QuantIdentity(actQuant: .int8DynamicActPerTensorFloat, returnQuantTensor: true)
        let y = try #require(try l.forward(.float(x)).quantTensor)
        y.value.sum().backward()
        let g = try #require(x.grad).scalars
        let s: Float = 2 / 128
        let xs: [Float] = [0.3, -2, 0.77]
        var ds: Float = 0
        for v in xs { ds += (v / s).rounded(.toNearestOrEven) - v / s }
        #expect(g[0] == 1 && g[2] == 1)
        #expect(Swift.abs(g[1] - (1 - ds / 128)) < 1e-5, "\(g) vs \(1 - ds / 128)")
    }

    /// Typed configuration errors: a per-channel shape (per row is over the last dim), a
    /// learned zero point, a signed zero point, group-wise without `group_size`.
    @Test func configErrors() {
        #expect(throws: QuantConfigError.self) {
            try QuantIdentity(actQuant: .int8DynamicActPerTensorFloat.with(\.scalingPerOutputChannel, true).with(\.perChannelBroadcastableShape, [1, 3, 1, 1]))
        }
        #expect(throws: QuantConfigError.self) { try QuantIdentity(actQuant: .shiftedUint8DynamicActPerTensorFloat.with(\.zeroPointImplType, .parameter)) }
        #expect(throws: QuantConfigError.self) { try QuantIdentity(actQuant: .shiftedUint8DynamicActPerTensorFloat.with(\.signed, true)) }
        #expect(throws: QuantConfigError.self) { try QuantIdentity(actQuant: .int8DynamicActPerGroupFloat) }
        #expect(throws: QuantConfigError.self) { try QuantIdentity(actQuant: .int8DynamicActPerTensorFloat.with(\.scalingStatsOp, .percentile)) }
    }

    @Test func names() {
        #expect(ActQuant.dynamicPresetNames.count == 6)
        for name in ActQuant.dynamicPresetNames {
            #expect(ActQuant.presetNames.contains(name) && ActQuant.preset(named: name)?.preset == name)
            #expect(ActQuant.preset(named: name)?.dynamicScaling == true)
        }
    }
}
