import Foundation
import NN
import QuantNN
import TensorEngine

extension IntegerLowering.Builder {
    /// `QuantConv1d` / `QuantConv2d` / `QuantConv3d` / `QuantConvTranspose1d` / `QuantConvTranspose2d` / `QuantLinear`: input codes (zero point 0) times integer weights (zero
    /// point 0) plus the integer bias, into an accumulator of scale `s_in · s_w,c`.
    ///
    /// The weight codes are the model's own (`round(w_q / s_w)` of its quantized weight), the
    /// bias codes come from its bias quantizer given the input's scale, exactly as in the
    /// fake-quantized forward.
    func lowerWeightLayer(_ l: QuantWeightBiasLayer, _ x: IntegerLowering.Symbolic, path: String) throws -> IntegerLowering.Symbolic {
        let (s, grid) = try codes(try quantize(x, l.inputQuant, relu: false, layer: path), layer: path, what: "its input")
        guard grid.zeroPoint == 0 else {
            throw IntegerLoweringError.notExpressible(
                layer: path, reason: "its input has zero point \(grid.zeroPoint), which the integer convolution does not subtract",
                fix: "use an input quantizer with zero point 0 (a symmetric one, or an unsigned one after a ReLU)")
        }
        let input = IntegerLowering.metadata(of: grid)
        guard let qw = try IntegerLowering.quantizedWeight(of: l, input: grid, layer: path) else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its weight is not quantized (weight_quant is off)",
                                                      fix: "give it a weight quantizer (Int8WeightPerTensorFloat)")
        }
        guard qw.kind == .intQuantTensor else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its weight is a \(qw.kind) (minifloat or group-wise), not integers with one scale per channel",
                                                      fix: "use an integer weight quantizer (per tensor or per output channel)")
        }
        guard qw.zeroPoint.scalars.allSatisfy({ $0 == 0 }) else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its weight quantizer has a non-zero zero point",
                                                      fix: "use a symmetric weight quantizer (zero point 0)")
        }
        let wScales = qw.scale.scalars.map(Double.init)
        let weight = try integers(qw, layer: path, what: "weight")
        // A transposed convolution's weight is [C, O/G, k...]: its output channels are dimension 1.
        let transposedGroups: Int?
        switch l {
        case let t as QuantConvTranspose2d: transposedGroups = t.groups
        case let t as QuantConvTranspose1d: transposedGroups = t.groups
        default: transposedGroups = nil
        }
        let out = transposedGroups.map { l.weight.shape[1] * $0 } ?? l.weight.shape[0]
        guard wScales.count == 1 || wScales.count == out else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its weight has \(wScales.count) scales for \(out) output channels",
                                                      fix: "use a per-tensor or per-output-channel weight quantizer")
        }
        let accScales = wScales.map { grid.scale * $0 }
        var bias: [Int64]? = nil
        if let b = l.bias {
            guard l.biasQuant.isQuantEnabled else {
                throw IntegerLoweringError.notExpressible(
                    layer: path, reason: "its bias is a float (bias_quant is off), so it cannot be added to the integer accumulator",
                    fix: "quantize the bias in the accumulator's scale: biasQuant: .int32Bias (Brevitas Int32Bias)")
            }
            guard let qb = try l.biasQuant(b, input: .quant(input), weight: .quant(qw), layer: path).quantTensor else {
                preconditionFailure("IntegerLowering: the enabled bias quantizer of \(path) returned a plain tensor")
            }
            bias = try integers(qb, layer: path, what: "bias")
        }
        let inBound = Swift.max(Swift.abs(grid.min), Swift.abs(grid.max))
        var wsum = [Int64](repeating: 0, count: out)
        if let groups = transposedGroups {
            let (cin, og) = (l.weight.shape[0], l.weight.shape[1])
            let k = weight.count / (cin * og)
            for c in 0..<cin {
                for ol in 0..<og {
                    let o = c / (cin / groups) * og + ol
                    wsum[o] += weight[(c * og + ol) * k..<(c * og + ol + 1) * k].reduce(Int64(0)) { $0 + Swift.abs($1) }
                }
            }
        } else {
            let fan = weight.count / out
            for o in 0..<out { wsum[o] = weight[o * fan..<(o + 1) * fan].reduce(Int64(0)) { $0 + Swift.abs($1) } }
        }
        var bound: Int64 = 0
        for o in 0..<out { bound = Swift.max(bound, wsum[o] * inBound + Swift.abs(bias?[o] ?? 0)) }
        guard bound < Int64(1) << 47 else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its accumulator may reach \(bound), beyond 47 bits",
                                                      fix: "use narrower weights or activations")
        }
        if let sim = l.accumulatorSimulation, bound > (Int64(1) << (sim.bits - 1)) - 1 {
            throw IntegerLoweringError.notExpressible(
                layer: path, reason: "its simulated \(sim.bits)-bit accumulator can overflow (the bound \(bound) needs \(IntegerGrid.bits(min: -bound, max: bound)) bits), and the integer program's accumulators are exact",
                fix: "drop the accumulator simulation (--accumulator-bits), or bound the weights so that it cannot overflow (A2Q)")
        }
        let inShape = shape(of: s)
        let slot: Int
        switch l {
        case let c as QuantConv2d:
            guard inShape.count == 3 else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has the per-example shape \(inShape), not [C, H, W]", fix: "feed it images")
            }
            let op = IntegerOp.Conv2d(weight: weight, weightShape: l.weight.shape, bias: bias, stride: c.stride.pair, padding: c.padding.pair,
                                      dilation: c.dilation.pair, groups: c.groups, accumulatorBound: bound)
            let (oh, ow) = op.outputSize(inShape[1], inShape[2])
            slot = emit(path, .conv2d(op), [s], shape: [out, oh, ow], .accumulator(scales: accScales, bound: bound))
        case let c as QuantConv1d:
            // A 1-D convolution is a 2-D one of height 1: [C, L] -> [C, 1, L] -> conv -> [O, 1, L'] -> [O, L'].
            guard inShape.count == 2 else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has the per-example shape \(inShape), not [C, L]", fix: "feed it sequences")
            }
            let wShape = l.weight.shape
            let op = IntegerOp.Conv2d(weight: weight, weightShape: [wShape[0], wShape[1], 1, wShape[2]], bias: bias, stride: (1, c.stride),
                                      padding: (0, c.padding), dilation: (1, c.dilation), groups: c.groups, accumulatorBound: bound)
            let (_, ol) = op.outputSize(1, inShape[1])
            let planes = emit(path, .reshape, [s], shape: [inShape[0], 1, inShape[1]], value(of: s))
            let conv = emit(path, .conv2d(op), [planes], shape: [out, 1, ol], .accumulator(scales: accScales, bound: bound))
            slot = emit(path, .reshape, [conv], shape: [out, ol], value(of: conv))
        case let c as QuantConv3d:
            guard inShape.count == 4 else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has the per-example shape \(inShape), not [C, D, H, W]", fix: "feed it volumes")
            }
            let op = IntegerOp.Conv3d(weight: weight, weightShape: l.weight.shape, bias: bias, stride: c.stride, padding: c.padding,
                                      dilation: c.dilation, groups: c.groups, accumulatorBound: bound)
            slot = emit(path, .conv3d(op), [s], shape: [out] + op.outputSize(Array(inShape.dropFirst())), .accumulator(scales: accScales, bound: bound))
        case let c as QuantConvTranspose2d:
            guard inShape.count == 3 else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has the per-example shape \(inShape), not [C, H, W]", fix: "feed it images")
            }
            let op = IntegerOp.ConvTranspose2d(weight: weight, weightShape: l.weight.shape, bias: bias, stride: c.stride.pair, padding: c.padding.pair,
                                               outputPadding: c.outputPadding.pair, dilation: c.dilation.pair, groups: c.groups, accumulatorBound: bound)
            let (oh, ow) = op.outputSize(inShape[1], inShape[2])
            slot = emit(path, .convTranspose2d(op), [s], shape: [out, oh, ow], .accumulator(scales: accScales, bound: bound))
        case let c as QuantConvTranspose1d:
            // As a 2-D transposed convolution of height 1, like QuantConv1d.
            guard inShape.count == 2 else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has the per-example shape \(inShape), not [C, L]", fix: "feed it sequences")
            }
            let wShape = l.weight.shape
            let op = IntegerOp.ConvTranspose2d(weight: weight, weightShape: [wShape[0], wShape[1], 1, wShape[2]], bias: bias, stride: (1, c.stride),
                                               padding: (0, c.padding), outputPadding: (0, c.outputPadding), dilation: (1, c.dilation),
                                               groups: c.groups, accumulatorBound: bound)
            let (_, ol) = op.outputSize(1, inShape[1])
            let planes = emit(path, .reshape, [s], shape: [inShape[0], 1, inShape[1]], value(of: s))
            let conv = emit(path, .convTranspose2d(op), [planes], shape: [out, 1, ol], .accumulator(scales: accScales, bound: bound))
            slot = emit(path, .reshape, [conv], shape: [out, ol], value(of: conv))
        case let lin as QuantLinear:
            guard inShape == [lin.inFeatures] else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has the per-example shape \(inShape), not [\(lin.inFeatures)]",
                                                          fix: "flatten the input first (QuantFlatten)")
            }
            let op = IntegerOp.Linear(weight: weight, inFeatures: lin.inFeatures, outFeatures: lin.outFeatures, bias: bias, accumulatorBound: bound)
            slot = emit(path, .linear(op), [s], shape: [out], .accumulator(scales: accScales, bound: bound))
        default:
            throw IntegerLoweringError.unsupportedLayer(layer: path, type: l.typeName, fix: "use QuantConv1d/2d/3d, QuantConvTranspose1d/2d or QuantLinear")
        }
        return try quantize(.slot(slot), l.outputQuant, relu: false, layer: path)
    }

    /// The integer codes `round(value / scale + zeroPoint)` of a quantized tensor.
    func integers(_ q: QuantTensor, layer: String, what: String) throws -> [Int64] {
        do {
            return try Autograd.noGrad { try q.int() }.scalars.map { Int64($0) }
        } catch {
            throw IntegerLoweringError.notExpressible(layer: layer, reason: "its \(what) is not on its integer grid (\(error))",
                                                      fix: "check the quantizer (its scale may be zero or not finite)")
        }
    }
}

extension IntegerLowering {
    /// A QuantTensor carrying only the metadata of `grid` (what a layer's weight and bias
    /// quantizers read from their input: scale, bit width, sign).
    static func metadata(of grid: IntegerGrid) -> QuantTensor {
        QuantTensor(value: Tensor.zeros([1]), scale: Tensor(Float(grid.scale)), zeroPoint: Tensor.zeros([1]),
                    bitWidth: Tensor(Float(grid.bitWidth)), signed: grid.signed, training: false)
    }

    /// The layer's quantized weight in eval mode for inputs on `input` (an accumulator-aware
    /// weight quantizer reads the input's bit width and sign); `nil` when its weight quantizer is off.
    public static func quantizedWeight(of layer: QuantWeightBiasLayer, input: IntegerGrid, layer path: String) throws -> QuantTensor? {
        try layer.weightQuant(layer.weight, input: .quant(metadata(of: input)), layer: path).quantTensor
    }
}
