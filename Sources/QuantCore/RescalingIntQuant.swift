import Foundation
import NN
import TensorEngine

/// Integer quantization with a scale, zero point and bit width from their own modules
/// (Brevitas `RescalingIntQuant` + `IntQuant`):
///
///     b = bitWidth(); t = threshold(b); s = scaling(x, t); z = zeroPoint(x, s, b)
///     y = (clamp(round(x/s + z), minInt(b), maxInt(b)) − z) · s
///
/// A constant bit width runs the fused kernel `FakeQuantize.apply` with constant bounds; a
/// learned one (`BitWidthParameter`) composes the same formula from differentiable pieces
/// (`IntQuantSpec.fakeQuantize`), so the bit width gets its gradient through the threshold
/// (`s = stat / t(b)`) and, with `TensorClamp`, through the bounds where elements clip.
public final class RescalingIntQuant: Module {
    public let scaling: ScalingImpl
    public let zeroPoint: ZeroPointImpl
    public let bitWidthImpl: BitWidthImpl
    public let signed: Bool
    public let narrowRange: Bool
    /// Straight-through clamp (weights) instead of a select (activations).
    public let clampSte: Bool
    /// Threshold `maxInt + 1` (Brevitas `PowerOfTwoIntScaling`, fixed-point quantizers) instead of
    /// `IntScaling`'s.
    public let powerOfTwoIntScaling: Bool

    /// A quantizer with a constant bit width (Brevitas `BitWidthConst`).
    public convenience init(scaling: ScalingImpl, zeroPoint: ZeroPointImpl, bitWidth: Int, signed: Bool,
                            narrowRange: Bool, clampSte: Bool, powerOfTwoIntScaling: Bool = false) {
        self.init(scaling: scaling, zeroPoint: zeroPoint, bitWidthImpl: BitWidthConst(bitWidth), signed: signed,
                  narrowRange: narrowRange, clampSte: clampSte, powerOfTwoIntScaling: powerOfTwoIntScaling)
    }

    /// The group layout of a group-wise quantizer (Brevitas's group-wise int proxies): the
    /// scaling and zero-point modules then receive the grouped view `[outer, groups, groupSize,
    /// inner]` (`GroupView`) and return one value per group; the output's scale and zero point
    /// have the full shape of the input.
    public let group: GroupLayout?

    public init(scaling: ScalingImpl, zeroPoint: ZeroPointImpl, bitWidthImpl: BitWidthImpl, signed: Bool,
                narrowRange: Bool, clampSte: Bool, powerOfTwoIntScaling: Bool = false, group: GroupLayout? = nil) {
        self.group = group
        self.powerOfTwoIntScaling = powerOfTwoIntScaling
        self.scaling = scaling
        self.zeroPoint = zeroPoint
        self.bitWidthImpl = bitWidthImpl
        self.signed = signed
        self.narrowRange = narrowRange
        self.clampSte = clampSte
        super.init()
        let intQuant = DescriptiveNode("IntQuant", "narrow_range=\(narrowRange ? "True" : "False"), signed=\(signed ? "True" : "False")")
        intQuant.registerModule("float_to_int_impl", DescriptiveNode("RoundSte"))
        intQuant.registerModule("tensor_clamp_impl", DescriptiveNode(clampSte ? "TensorClampSte" : "TensorClamp"))
        registerModule("int_quant", intQuant)
        registerModule("scaling_impl", scaling)
        registerModule("int_scaling_impl", DescriptiveNode(powerOfTwoIntScaling ? "PowerOfTwoIntScaling" : "IntScaling", "signed=\(signed ? "True" : "False"), narrow_range=\(narrowRange ? "True" : "False")"))
        registerModule("zero_point_impl", zeroPoint)
        registerModule("msb_clamp_bit_width_impl", bitWidthImpl)
    }

    /// The integer range and clamp as functions of a bit-width tensor.
    public var intQuant: IntQuantSpec { IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: clampSte) }

    /// The integer codes for the current bit width.
    public var intRange: IntRange {
        IntRange(bitWidth: bitWidthImpl.bits, signed: signed, narrowRange: narrowRange)
    }

    /// The integer threshold for the current bit width (Brevitas `IntScaling` or
    /// `PowerOfTwoIntScaling`; see `IntRange`).
    public var threshold: Float { Float(intRange.threshold(powerOfTwo: powerOfTwoIntScaling)) }

    public func callAsFunction(_ x: Tensor) -> QuantOutput { quantize(x, fusedReLU: false) }

    /// Whether `quantize(relu(x))` can run as one fused kernel now (a constant bit width, and no
    /// statistic of the input read by this call).
    public var canFuseActivation: Bool { !bitWidthImpl.isLearned && !scaling.readsInput && !zeroPoint.readsInput }

    /// The scale, zero point, bit width and integer bounds with which `quantize(x, fusedReLU:
    /// true)` would quantize now, for a producer that quantizes in its own epilogue
    /// (`Tensor.batchNormReLUFakeQuant`); `nil` unless the quantizer is per tensor with a
    /// constant bit width and reads no statistic of `x` (`canFuseActivation`, no groups).
    /// Steps the scaling module as a call of `quantize` would.
    public func epilogueParameters(_ x: Tensor) -> (scale: Tensor, zeroPoint: Tensor, bitWidth: Tensor, minInt: Float, maxInt: Float)? {
        guard canFuseActivation, group == nil else { return nil }
        let bw = bitWidthImpl()
        let s = scaling(x, threshold: Tensor(threshold))
        let z = zeroPoint(x, scale: s, bitWidth: bw)
        guard s.count == 1 && z.count == 1 else { return nil }
        let r = intRange.bounds
        return (s, z, bw, r.min, r.max)
    }

    /// Quantizes `x`, or `relu(x)` in the same pass when `fusedReLU` (requires
    /// `canFuseActivation`).
    public func quantize(_ x: Tensor, fusedReLU: Bool) -> QuantOutput {
        precondition(!fusedReLU || canFuseActivation, "RescalingIntQuant: cannot fuse ReLU while collecting input statistics or with a learned bit width")
        if let group {
            precondition(!fusedReLU && !bitWidthImpl.isLearned, "RescalingIntQuant: group-wise quantization has a constant bit width and no fused activation")
            return quantizeGrouped(x, group)
        }
        let bw = bitWidthImpl()
        if bitWidthImpl.isLearned {
            let spec = intQuant
            let s = scaling(x, threshold: spec.threshold(bw, powerOfTwo: powerOfTwoIntScaling))
            let z = zeroPoint(x, scale: s, bitWidth: bw)
            return QuantOutput(value: spec.fakeQuantize(x, scale: s, zeroPoint: z, bitWidth: bw), scale: s, zeroPoint: z, bitWidth: bw)
        }
        let s = scaling(x, threshold: Tensor(threshold))
        let z = zeroPoint(x, scale: s, bitWidth: bw)
        let r = intRange.bounds
        let y = FakeQuantize.apply(x, scale: s, zeroPoint: z, minInt: r.min, maxInt: r.max, clampSte: clampSte, fusedReLU: fusedReLU)
        return QuantOutput(value: y, scale: s, zeroPoint: z, bitWidth: bw)
    }
}

extension RescalingIntQuant {
    /// Group-wise quantization: per-group scale and zero point from the grouped view; the fused
    /// kernel with one scale per row where the groups are contiguous (grouping along the last
    /// dimension), the composed `IntQuantSpec.fakeQuantize` with full-shape parameters otherwise.
    /// MX integer quantizers (`mxParameters`) run `MXIntFakeQuantize`, one fused pass per
    /// direction with the same results; `fusedMX: false` forces the composed path (tests).
    func quantizeGrouped(_ x: Tensor, _ layout: GroupLayout, fusedMX: Bool = true) -> QuantOutput {
        let v = GroupView(shape: x.shape, layout: layout)
        let bw = bitWidthImpl()
        if fusedMX, let mx = mxParameters(v) {
            let r = intRange.bounds
            let (y, s) = MXIntFakeQuantize.apply(x, groupSize: v.groupSize, scaleShape: v.scaleShape, threshold: mx.threshold,
                                                 minScale: mx.minScale, minInt: r.min, maxInt: r.max, clampSte: clampSte)
            let z = zeroPoint(x, scale: s, bitWidth: bw)
            return QuantOutput(value: y, scale: v.expand(s), zeroPoint: z.reshape([]), bitWidth: bw, group: layout)
        }
        let xp = v.pad(x)
        let xg = xp.reshape(v.groupedShape)
        let s = scaling(xg, threshold: Tensor(threshold))
        let z = zeroPoint(xg, scale: s, bitWidth: bw)
        let r = intRange.bounds
        let y: Tensor
        if v.inner == 1 {
            let rows = v.outer * v.groups
            let zr = z.count == 1 ? z.reshape([]) : z.reshape([rows, 1])
            y = v.unpad(FakeQuantize.apply(xp.reshape([rows, v.groupSize]), scale: s.reshape([rows, 1]), zeroPoint: zr,
                                           minInt: r.min, maxInt: r.max, clampSte: clampSte).reshape(v.paddedShape))
        } else {
            let zf = z.count == 1 ? z.reshape([]) : v.expand(z)
            y = intQuant.fakeQuantize(x, scale: v.expand(s), zeroPoint: zf, bitWidth: bw)
        }
        let zOut = z.count == 1 ? z.reshape([]) : v.expand(z)
        return QuantOutput(value: y, scale: v.expand(s), zeroPoint: zOut, bitWidth: bw, group: layout)
    }

    /// The restricted threshold `t` and the minimum statistic (`scaling_min_val`, 0 for none)
    /// when this quantizer is an MX integer quantizer that `MXIntFakeQuantize` computes exactly
    /// (groups contiguous and unpadded, `AbsMax` statistic, floored power-of-two scales, zero
    /// point 0); `nil` otherwise.
    func mxParameters(_ v: GroupView) -> (threshold: Float, minScale: Float)? {
        guard MXIntFakeQuantize.isAvailable, v.inner == 1, !v.isPadded, zeroPoint is ZeroZeroPoint,
              let scaling = scaling as? GroupwiseStatsScaling, scaling.statsImpl is AbsMax,
              scaling.restrict == .powerOfTwo(rounding: .floor)
        else { return nil }
        let t = Autograd.noGrad { scaling.restrict.restrict(scaling.restrict.pre(Tensor(threshold))).item() }
        return (t, scaling.scalingMinVal ?? 0)
    }
}
