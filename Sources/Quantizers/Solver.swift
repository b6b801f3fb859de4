import NN
import QuantCore
import TensorEngine

/// Turns typed quantizer configurations into Brevitas's core modules (Brevitas's solvers,
/// `brevitas.quant.solver`). Each entry point validates first and reports every problem at once.
extension ActQuant {
    var restrict: Restrict {
        switch restrictScalingType {
        case .fp: return .float
        case .powerOfTwo: return .powerOfTwo(rounding: RestrictRounding(rawValue: restrictValueFloatToInt.rawValue)!)
        }
    }

    var scalingShape: [Int] { scalingPerOutputChannel ? (perChannelBroadcastableShape ?? []) : [] }

    var statsView: StatsView {
        scalingPerOutputChannel ? .overOutputChannel(permuteDims: scalingStatsPermuteDims) : .overTensor
    }

    /// The initial clipping range of `.parameter`/`.const` scaling: `max(|min_val|, |max_val|)`.
    var initialRange: Float { Swift.max(Swift.abs(minVal ?? 0), Swift.abs(maxVal ?? 0)) }

    /// Builds the `tensor_quant` module.
    public func makeTensorQuant(context: String) throws(QuantConfigError) -> TensorQuantizer {
        try validate(context: context)
        if let layout = groupLayout {
            // Group-wise activations: a dynamic per-group scale (Brevitas
            // `RuntimeDynamicGroupStatsScaling`), no state.
            let scaling = GroupwiseStatsScaling(stats: scalingStatsOp == .minMax ? AbsMinMax() : AbsMax(), restrict: restrict,
                                                scalingMinVal: scalingMinVal, runtime: true)
            if quantType == .minifloat {
                return FloatQuant(format: minifloatFormat, scaling: scaling, scaled: true,
                                  declaresMaxAvailableFloat: floatStandard == .ocp, group: layout)
            }
            // ShiftedUint8DynamicActPerGroupFloat: z_g = scaleShift(−min(min(x_g), 0)) of this input
            // (Brevitas `RuntimeDynamicGroupZeroPoint`).
            let zp: ZeroPointImpl = zeroPointImplType == .stats
                ? GroupwiseZeroPoint(scaleShift: ScaleShiftZeroPoint(
                    intQuant: IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: false), quantize: quantizeZeroPoint), runtime: true)
                : ZeroZeroPoint()
            return RescalingIntQuant(scaling: scaling, zeroPoint: zp, bitWidthImpl: BitWidthConst(bitWidth), signed: signed,
                                     narrowRange: narrowRange, clampSte: false, group: layout)
        }
        // The shifted *MSE presets: one zero-point search object, asked by the scale search too.
        var mseZeroPoint: MSEZeroPointStats? = nil
        if quantType == .int && zeroPointImplType == .parameterFromStats && zeroPointMSE {
            let b = intRange.bounds
            mseZeroPoint = MSEZeroPointStats(
                scaleShift: ScaleShiftZeroPoint(intQuant: IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: false), quantize: quantizeZeroPoint),
                minInt: b.min, maxInt: b.max, clampSte: false)
        }
        let scaling = try makeScaling(context: context, mseZeroPoint: mseZeroPoint)
        switch quantType {
        case .minifloat:
            // Unscaled quantizers (`const`) use the constant scale 1; scaled ones divide their
            // statistic by the largest finite value (`FloatScaling`).
            let scaled = scalingImplType != .const
            return FloatQuant(format: minifloatFormat, scaling: scaled ? scaling : ConstScaling(range: 1, restrict: .float),
                              scaled: scaled, declaresMaxAvailableFloat: floatStandard == .ocp)
        case .binary: return BinaryQuant(scaling: scaling, clamp: true)
        case .ternary: return TernaryQuant(scaling: scaling, threshold: threshold)
        case .int:
            // Activations clamp with a select (Brevitas `TensorClamp`).
            let shift = ScaleShiftZeroPoint(
                intQuant: IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: false), quantize: quantizeZeroPoint)
            let zp: ZeroPointImpl
            switch zeroPointImplType {
            case .zero: zp = ZeroZeroPoint()
            case .parameterFromStats where mseZeroPoint != nil:
                // The search quantizes with the scale the quantizer would use at that point.
                let mse = mseZeroPoint!
                if let runtime = scaling as? ParameterFromRuntimeStatsScaling {
                    let t = Tensor(Float(intRange.threshold(powerOfTwo: restrictScalingType == .powerOfTwo)))
                    mse.searchScale = { [unowned runtime] s in runtime.localLossScale(current: s, threshold: t) }
                }
                zp = ParameterFromRuntimeZeroPoint(
                    collectStatsSteps: collectStatsSteps, stats: mse,
                    view: statsView, shape: scalingShape, momentum: zeroPointStatsMomentum, scaleShift: shift)
            case .parameterFromStats where zeroPointHQO:
                // The HQO search quantizes with the scale the quantizer would use at that point.
                let range = intRange
                let hqo = HQOZeroPointStats(minInt: range.bounds.min, maxInt: range.bounds.max, shift: .absolute)
                if let runtime = scaling as? ParameterFromRuntimeStatsScaling {
                    let t = Tensor(Float(range.threshold))
                    hqo.searchScale = { [unowned runtime] s in runtime.localLossScale(current: s, threshold: t) }
                }
                zp = ParameterFromRuntimeZeroPoint(
                    collectStatsSteps: collectStatsSteps, stats: hqo,
                    view: statsView, shape: scalingShape, momentum: zeroPointStatsMomentum, scaleShift: shift)
            case .parameterFromStats:
                zp = ParameterFromRuntimeZeroPoint(
                    collectStatsSteps: collectStatsSteps, stats: NegativePercentileOrZero(q: lowPercentileQ),
                    view: statsView, shape: scalingShape, momentum: zeroPointStatsMomentum, scaleShift: shift)
            case .parameter:
                zp = ParameterZeroPoint(initial: zeroPointInit ?? 0, shape: scalingShape, scaleShift: shift)
            case .stats:
                // Dynamic presets only (validate() rejects it otherwise): min(min(x), 0) of this input.
                zp = RuntimeDynamicStatsZeroPoint(stats: NegativeMinOrZero(), view: statsView, shape: scalingShape, scaleShift: shift,
                                                  perRow: scalingPerOutputChannel)
            }
            return RescalingIntQuant(scaling: scaling, zeroPoint: zp, bitWidthImpl: makeBitWidth(), signed: signed,
                                     narrowRange: narrowRange, clampSte: false,
                                     powerOfTwoIntScaling: restrictScalingType == .powerOfTwo)
        }
    }

    /// `BitWidthConst` or `BitWidthParameter`.
    func makeBitWidth() -> BitWidthImpl {
        switch bitWidthImplType {
        case .const: return BitWidthConst(bitWidth)
        case .parameter: return BitWidthParameter(bitWidth: bitWidth, minBitWidth: minBitWidth)
        }
    }

    /// The statistic of statistics-based scaling.
    func statsOp(context: String, mseZeroPoint: MSEZeroPointStats? = nil) throws(QuantConfigError) -> StatsOpModule {
        switch scalingStatsOp {
        case .percentile: return AbsPercentile(q: highPercentileQ)
        case .max: return AbsMax()
        case .percentileInterval: return PercentileInterval(lowQ: lowPercentileQ, highQ: highPercentileQ)
        case .minMax: return AbsMinMax()
        case .mse: return mseStats(zeroPoint: mseZeroPoint)
        case .hqo: return AbsMax()  // validate() rejects hqo scales for activations
        }
    }

    func makeScaling(context: String, mseZeroPoint: MSEZeroPointStats? = nil) throws(QuantConfigError) -> ScalingImpl {
        switch scalingImplType {
        case .parameterFromStats:
            return ParameterFromRuntimeStatsScaling(
                collectStatsSteps: collectStatsSteps, stats: try statsOp(context: context, mseZeroPoint: mseZeroPoint), view: statsView, scalingShape: scalingShape,
                restrict: restrict, momentum: scalingStatsMomentum, scalingMinVal: scalingMinVal)
        case .parameter:
            return ParameterScaling(initial: initialRange, shape: scalingShape, restrict: restrict, scalingMinVal: scalingMinVal)
        case .const:
            return ConstScaling(range: initialRange, restrict: restrict)
        case .stats where dynamicScaling:
            return RuntimeDynamicStatsScaling(stats: try statsOp(context: context), view: statsView, scalingShape: scalingShape,
                                              restrict: restrict, scalingMinVal: scalingMinVal, perRow: scalingPerOutputChannel)
        case .stats:
            return RuntimeStatsScaling(stats: try statsOp(context: context), view: statsView, scalingShape: scalingShape,
                                       restrict: restrict, momentum: scalingStatsMomentum, scalingMinVal: scalingMinVal)
        }
    }
}

extension WeightQuant {
    var restrict: Restrict {
        switch restrictScalingType {
        case .fp: return .float
        case .powerOfTwo: return .powerOfTwo(rounding: RestrictRounding(rawValue: restrictValueFloatToInt.rawValue)!)
        }
    }

    /// Builds the weight `tensor_quant` for a weight of shape `weightShape` (`[out, in, ...]`, or
    /// with the output channels on `outputChannelDim`: 1 for transposed convolutions'
    /// `[in, out/groups, ...]`). Per-channel scales then have shape `[1, C, 1, …]` and their
    /// statistics permute that dimension first (Brevitas `scaling_per_output_channel_shape`,
    /// `permute_dims`: dims 0 and `outputChannelDim` swapped).
    public func makeTensorQuant(weightShape: [Int], outputChannelDim: Int = 0, context: String) throws(QuantConfigError) -> TensorQuantizer {
        try validate(context: context)
        let shapeProblems = groupShapeProblems(weightShape: weightShape)
        if !shapeProblems.isEmpty { throw QuantConfigError(context: context, problems: shapeProblems) }
        if let layout = groupLayout {
            // Group-wise weights: per-group statistics of the weight at every call (Brevitas
            // `StatsFromParameterScaling` over the group view); weights clamp straight-through.
            let scaling = GroupwiseStatsScaling(stats: scalingStatsOp == .minMax ? AbsMinMax() : AbsMax(), restrict: restrict, scalingMinVal: scalingMinVal)
            if quantType == .minifloat {
                return FloatQuant(format: minifloatFormat, scaling: scaling, scaled: true,
                                  declaresMaxAvailableFloat: floatStandard == .ocp, group: layout)
            }
            let shift = ScaleShiftZeroPoint(intQuant: IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: true), quantize: quantizeZeroPoint)
            let zp: ZeroPointImpl
            switch zeroPointImplType {
            case .stats: zp = GroupwiseZeroPoint(scaleShift: shift)
            case .parameterFromStats:
                // Initialised by the HQO search at the first forward, then learned.
                let v = GroupView(shape: weightShape, layout: layout)
                let r = IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange).bounds
                zp = ParameterFromStatsGroupwiseZeroPoint(
                    stats: HQOZeroPointStats(minInt: r.min, maxInt: r.max, shift: .negated),
                    shape: v.inner == 1 ? [v.outer, v.groups, 1] : v.scaleShape, scaleShift: shift)
            default: zp = ZeroZeroPoint()
            }
            // Power-of-two (MX) scales divide by Brevitas's PowerOfTwoIntScaling threshold
            // (2^(b−1) signed, 2^b unsigned).
            return RescalingIntQuant(scaling: scaling, zeroPoint: zp, bitWidthImpl: BitWidthConst(bitWidth), signed: signed,
                                     narrowRange: narrowRange, clampSte: true,
                                     powerOfTwoIntScaling: restrictScalingType == .powerOfTwo, group: layout)
        }
        precondition(outputChannelDim >= 0 && outputChannelDim < Swift.max(weightShape.count, 1),
                     "makeTensorQuant: output channel dim \(outputChannelDim) out of range for weight \(weightShape)")
        var perChannelShape = [Int](repeating: 1, count: weightShape.count)
        if !weightShape.isEmpty { perChannelShape[outputChannelDim] = weightShape[outputChannelDim] }
        var permute: [Int]? = nil
        if outputChannelDim != 0 {
            var dims = Array(0..<weightShape.count)
            dims.swapAt(0, outputChannelDim)
            permute = dims
        }
        let shape = scalingPerOutputChannel ? perChannelShape : []
        let view: StatsView = scalingPerOutputChannel ? .overOutputChannel(permuteDims: permute) : .overTensor
        // Brevitas `SolveParameterTensorClampImplFromEnum`: weights clamp straight-through
        // (`TensorClampSte`) unless the bit width is learned or the scale is a learned parameter
        // (`parameter_from_stats`: the MSE/HQO presets), which clamp with `TensorClamp`.
        let clampSte = bitWidthImplType == .const && scalingImplType != .parameterFromStats
        // The shifted *MSE presets: one zero-point search object, asked by the scale search too.
        var mseZeroPoint: MSEZeroPointStats? = nil
        if quantType == .int && zeroPointImplType == .parameterFromStats && zeroPointMSE {
            let b = IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange).bounds
            mseZeroPoint = MSEZeroPointStats(
                scaleShift: ScaleShiftZeroPoint(intQuant: IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: clampSte), quantize: quantizeZeroPoint),
                minInt: b.min, maxInt: b.max, clampSte: clampSte)
        }
        let scaling: ScalingImpl
        switch scalingImplType {
        case .const: scaling = ConstScaling(range: scalingConst ?? 1, restrict: restrict)
        case .parameterFromStats:
            let stats: StatsOpModule
            switch scalingStatsOp {
            case .mse: stats = mseStats(zeroPoint: mseZeroPoint)
            case .hqo: stats = hqoScaleStats()
            case .minMax: stats = AbsMinMax()
            default: stats = AbsMax()
            }
            scaling = ParameterFromStatsFromParameterScaling(stats: stats, view: view, scalingShape: shape, restrict: restrict,
                                                              scalingMinVal: scalingMinVal)
        default:
            scaling = StatsFromParameterScaling(
                stats: scalingStatsOp == .minMax ? AbsMinMax() : AbsMax(), view: view,
                scalingShape: shape, restrict: restrict, scalingMinVal: scalingMinVal)
        }
        switch quantType {
        case .minifloat:
            let scaled = scalingImplType != .const
            return FloatQuant(format: minifloatFormat, scaling: scaling, scaled: scaled, declaresMaxAvailableFloat: floatStandard == .ocp)
        case .binary: return BinaryQuant(scaling: scaling, clamp: false)
        case .ternary: return TernaryQuant(scaling: scaling, threshold: threshold)
        case .int:
            let shift = ScaleShiftZeroPoint(
                intQuant: IntQuantSpec(signed: signed, narrowRange: narrowRange, clampSte: clampSte), quantize: quantizeZeroPoint)
            let zp: ZeroPointImpl
            switch zeroPointImplType {
            case .zero: zp = ZeroZeroPoint()
            case .stats: zp = StatsFromParameterZeroPoint(stats: NegativeMinOrZero(), view: view, shape: shape, scaleShift: shift)
            case .parameter: zp = ParameterZeroPoint(initial: zeroPointInit ?? 0, shape: shape, scaleShift: shift)
            case .parameterFromStats:
                // validate() admits it only with the HQO search: initialised by it at the first
                // forward, then learned (`ShiftedUint8WeightPerChannelFloatHQO`, `...PerTensor...`).
                precondition(zeroPointHQO || zeroPointMSE, "validate() rejects zero_point_impl parameter_from_stats without HQO or MSE for weights")
                let r = IntRange(bitWidth: bitWidth, signed: signed, narrowRange: narrowRange).bounds
                let search: ScaleAwareStats = mseZeroPoint ?? HQOZeroPointStats(minInt: r.min, maxInt: r.max, shift: .negated)
                zp = ParameterFromStatsZeroPoint(stats: search, view: view, shape: shape, scaleShift: shift)
            }
            let bits: BitWidthImpl = bitWidthImplType == .const
                ? BitWidthConst(bitWidth) : BitWidthParameter(bitWidth: bitWidth, minBitWidth: minBitWidth)
            return RescalingIntQuant(scaling: scaling, zeroPoint: zp, bitWidthImpl: bits, signed: signed,
                                     narrowRange: narrowRange, clampSte: clampSte,
                                     powerOfTwoIntScaling: restrictScalingType == .powerOfTwo)
        }
    }
}
