import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine

extension IntegerLowering.Builder {
    /// Lowers one (non-container) layer.
    func lowerLayer(_ module: Module, _ x: IntegerLowering.Symbolic, path: String) throws -> IntegerLowering.Symbolic {
        switch module {
        case let l as QuantActivationLayer: return try lowerActivation(l, x, path: path)
        case let l as QuantConv2d: return try lowerWeightLayer(l, x, path: path)
        case let l as QuantLinear: return try lowerWeightLayer(l, x, path: path)
        case let l as QuantConv1d: return try lowerWeightLayer(l, x, path: path)
        case let l as QuantConvTranspose2d: return try lowerWeightLayer(l, x, path: path)
        case let l as QuantConv3d: return try lowerWeightLayer(l, x, path: path)
        case let l as QuantConvTranspose1d: return try lowerWeightLayer(l, x, path: path)
        case let f as FloatLayer: return try lowerFloat(f.layer, x, path: path)
        case let p as QuantMaxPool2d:
            let window = IntegerOp.Pool2d(kernel: p.kernelSize.pair, stride: p.stride.pair, padding: p.padding.pair)
            return try pool(x, window, path: path, what: "max pool") { s, _ in (.maxPool2d(window), self.value(of: s)) }
        case let p as QuantAvgPool2d:
            let window = IntegerOp.Pool2d(kernel: p.kernelSize.pair, stride: p.stride.pair, padding: p.padding.pair)
            guard window.padH == 0 && window.padW == 0 else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "a padded average pool divides border windows by fewer elements",
                                                          fix: "use padding 0")
            }
            return try pool(x, window, path: path, what: "average pool") { s, g in
                let k = Int64(window.kernelH * window.kernelW)
                let bits = Int(Foundation.ceil(Foundation.log2((Foundation.pow(2, Double(g.bitWidth)) - 1) * Double(k))))
                return (.sumPool2d(window), .codes(IntegerGrid(scale: g.scale / Double(k), zeroPoint: 0, min: g.min * k, max: g.max * k,
                                                               bitWidth: bits, signed: g.signed)))
            }
        case let p as TruncAvgPool2d:
            let window = IntegerOp.Pool2d(kernel: p.kernelSize.pair, stride: p.stride.pair)
            return try truncPool(x, window, p.truncQuant, path: path)
        case let p as TruncAdaptiveAvgPool2d:
            let shape = shape(of: x)
            guard shape.count == 3 else { preconditionFailure("TruncAdaptiveAvgPool2d on a per-example shape \(shape)") }
            let (oh, ow) = p.outputSize.pair
            let (h, w) = (shape[1], shape[2])
            guard h % oh == 0, w % ow == 0 else {
                throw IntegerLoweringError.notExpressible(
                    layer: path, reason: "adaptive pooling of \(h)x\(w) to \(oh)x\(ow) uses windows of different sizes",
                    fix: "choose an output size that divides the input size")
            }
            let window = IntegerOp.Pool2d(kernel: (h / oh, w / ow), stride: (h / oh, w / ow))
            return try truncPool(x, window, p.truncQuant, path: path)
        case let f as QuantFlatten:
            let shape = shape(of: x)
            let end = f.endDim < 0 ? f.endDim + shape.count + 1 : f.endDim
            guard f.startDim == 1, end == shape.count else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "it flattens dimensions \(f.startDim)...\(f.endDim), not all but the batch",
                                                          fix: "flatten from dimension 1 to the end")
            }
            let flat = [shape.reduce(1, *)]
            switch x {
            case .float: return .float(shape: flat)
            case .slot(let s): return .slot(emit(path, .reshape, [s], shape: flat, value(of: s)))
            case .affine(_, _, _, let by):
                throw IntegerLoweringError.notExpressible(layer: path, reason: "it flattens the float output of \(by)",
                                                          fix: "put a quantizer between \(by) and the flatten")
            }
        default:
            throw IntegerLoweringError.unsupportedLayer(
                layer: path, type: module.typeName,
                fix: "the integer program knows quantized activations, QuantConv2d, QuantLinear, pools, adds, concatenations, flatten and BatchNorm folded into a requantization")
        }
    }

    func lowerActivation(_ l: QuantActivationLayer, _ x: IntegerLowering.Symbolic, path: String) throws -> IntegerLowering.Symbolic {
        let act = l.actQuant.activation
        if act == .sigmoid || act == .tanh {
            throw IntegerLoweringError.notExpressible(
                layer: path, reason: "a \(act == .sigmoid ? "Sigmoid" : "Tanh") is not linear, so it cannot act on integer codes",
                fix: "replace it by a QuantReLU or QuantHardTanh, or end the integer part of the model before it")
        }
        let y = try quantize(x, l.inputQuant, relu: false, layer: path)
        if l.actQuant.isQuantEnabled {
            return try quantize(y, l.actQuant, relu: act == .relu, layer: path)
        }
        switch (act, y) {
        case (.identity, _): return y
        case (.relu, .slot(let s)):
            let z: Int64
            var v = value(of: s)
            if case .codes(var g) = v {
                z = g.zeroPoint
                g.min = Swift.max(g.min, z)
                v = .codes(g)
            } else {
                z = 0
            }
            return .slot(emit(path, .clampMin(z), [s], shape: shape(of: s), v))
        default:
            throw IntegerLoweringError.notExpressible(
                layer: path, reason: "its \(l.actQuant.activation) acts on a value that is not on an integer grid (its quantizer is off)",
                fix: "enable its act_quant")
        }
    }

    /// A float layer (inside a `FloatLayer`, or a graph's module): Dropout and Identity vanish,
    /// an eval-mode BatchNorm becomes a pending affine map.
    func lowerFloat(_ layer: Module, _ x: IntegerLowering.Symbolic, path: String) throws -> IntegerLowering.Symbolic {
        switch layer {
        case is Dropout, is Identity: return x
        case let bn as BatchNorm:
            guard let mean = bn.runningMean, let variance = bn.runningVar else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "a BatchNorm without running statistics normalises each batch by its own statistics",
                                                          fix: "track running statistics (trackRunningStats: true)")
            }
            let (m, v) = (mean.scalars.map(Double.init), variance.scalars.map(Double.init))
            let gamma = bn.weight?.scalars.map(Double.init) ?? [Double](repeating: 1, count: m.count)
            let beta = bn.bias?.scalars.map(Double.init) ?? [Double](repeating: 0, count: m.count)
            let eps = Double(bn.eps)
            let mul = (0..<m.count).map { gamma[$0] / (v[$0] + eps).squareRoot() }
            let add = (0..<m.count).map { beta[$0] - m[$0] * mul[$0] }
            switch x {
            case .slot(let s):
                return .affine(slot: s, mul: mul, add: add, by: path)
            case .affine(let s, let m0, let a0, _):
                let n = Swift.max(m0.count, mul.count)
                func at(_ a: [Double], _ c: Int) -> Double { a.count == 1 ? a[0] : a[c] }
                return .affine(slot: s, mul: (0..<n).map { at(m0, $0) * mul[$0] }, add: (0..<n).map { at(a0, $0) * mul[$0] + add[$0] }, by: path)
            case .float:
                throw IntegerLoweringError.notExpressible(layer: path, reason: "a BatchNorm on the float input comes before the input quantizer",
                                                          fix: "quantize the input after it, or fold it into the data's normalisation")
            }
        default:
            throw IntegerLoweringError.notExpressible(
                layer: path, reason: "the float layer \(layer.typeName) computes in floating point between quantizers",
                fix: "replace it by a quantized layer, or fold it into its neighbours")
        }
    }

    /// A pool on codes (or accumulators for max pooling) with the op and output value `make` gives.
    func pool(_ x: IntegerLowering.Symbolic, _ window: IntegerOp.Pool2d, path: String, what: String,
              _ make: (Int, IntegerGrid) throws -> (IntegerOp, IntegerProgram.Value)) throws -> IntegerLowering.Symbolic {
        guard case .slot(let s) = x else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its input is not on an integer grid",
                                                      fix: "quantize the \(what)'s input (a quantizer before it)")
        }
        let shape = shape(of: s)
        let (oh, ow) = window.outputSize(shape[1], shape[2])
        let grid: IntegerGrid
        switch value(of: s) {
        case .codes(let g): grid = g
        case .accumulator(let sc, let b):
            guard what == "max pool" else {
                throw IntegerLoweringError.notExpressible(layer: path, reason: "its input is an accumulator", fix: "quantize the \(what)'s input")
            }
            grid = IntegerGrid(scale: sc[0], zeroPoint: 0, min: -b, max: b)
        }
        if what != "max pool", grid.zeroPoint != 0 {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its input has zero point \(grid.zeroPoint); a window sum would add it k times",
                                                      fix: "use a quantizer with zero point 0 before the \(what)")
        }
        let (op, v) = try make(s, grid)
        return .slot(emit(path, op, [s], shape: [shape[0], oh, ow], v))
    }

    /// Brevitas's truncated average pooling (window sum, then `TruncIntQuant`).
    func truncPool(_ x: IntegerLowering.Symbolic, _ window: IntegerOp.Pool2d, _ trunc: TruncQuantProxy, path: String) throws -> IntegerLowering.Symbolic {
        guard let tq = trunc.tensorQuant else {
            throw IntegerLoweringError.notExpressible(layer: path, reason: "its truncation quantizer is off, so it returns a float average",
                                                      fix: "keep trunc_quant on (RoundTo8bit or TruncTo8bit)")
        }
        return try pool(x, window, path: path, what: "truncated average pool") { s, g in
            let k = window.kernelH * window.kernelW
            let maxUint = Foundation.pow(2, Double(g.bitWidth)) - 1
            let sumBits = Int(Foundation.ceil(Foundation.log2(maxUint * Double(k))))
            let outBits = tq.bitWidthImpl.bits
            let shift = sumBits - outBits
            let lo: Int64 = g.signed ? -(Int64(1) << (outBits - 1)) : 0
            let hi: Int64 = g.signed ? (Int64(1) << (outBits - 1)) - 1 : (Int64(1) << outBits) - 1
            let scale = g.scale / Double(k) * Foundation.pow(2, Double(shift))
            return (.truncAvgPool2d(window, shift: shift, floor: tq.rounding == .floor, min: lo, max: hi),
                    .codes(IntegerGrid(scale: scale, zeroPoint: 0, min: lo, max: hi, bitWidth: outBits, signed: g.signed)))
        }
    }
}
