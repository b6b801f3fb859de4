import Foundation
import NN
import QuantNN
import TensorEngine

/// Derives the ``IntegerProgram`` of a quantized model (eval mode): integer weights, biases in
/// the accumulator's scale, requantization constants, pools and adds on codes.
///
/// The model is walked layer by layer (through `QuantSequential`s and ``IntegerComposite``s)
/// with a symbolic value: a float tensor before the first quantizer (its codes become the
/// program's input), then slots of codes or accumulators. A float BatchNorm after a
/// convolution stays pending as a per-channel affine map and is folded into the next
/// requantization (see ``Requantization``).
///
/// | layer                                   | integer form                                          |
/// |-----------------------------------------|-------------------------------------------------------|
/// | QuantIdentity / QuantReLU / QuantHardTanh | requantize (ReLU raises the clamp to the zero point) |
/// | QuantConv1d/2d/3d, QuantConvTranspose1d/2d, QuantLinear | integer conv / transposed conv / matmul, int bias, accumulator (1-D ones run as 2-D ones of height 1) |
/// | BatchNorm (float, eval)                  | folded into the next requantization                   |
/// | QuantMaxPool2d                           | max pool on codes                                     |
/// | QuantAvgPool2d                           | window sums on the grid `s / k`                       |
/// | TruncAvgPool2d / TruncAdaptiveAvgPool2d  | window sum, rounding shift, clamp                     |
/// | QuantEltwiseAdd / QuantCat               | requantize to the shared grid, add / concat           |
/// | QuantFlatten, Dropout                    | reshape / nothing                                     |
///
/// Anything else (a float bias, a sigmoid between quantizers, a weight zero point, a layer with
/// no translation) is an ``IntegerLoweringError`` naming the layer and the change to make.
public enum IntegerLowering {
    /// The program of `model` for inputs of one example's shape `inputShape` (e.g. `[1, 8, 8]`).
    /// Puts the model in eval mode.
    public static func lower(_ model: QuantLayer, inputShape: [Int]) throws -> IntegerProgram {
        model.eval()
        let b = Builder()
        b.values.append(.float(shape: inputShape))
        let out = b.values[try b.lower(model, .float(shape: inputShape), path: "")]
        return try b.program(output: out, model: model.typeName)
    }

    /// A value during lowering.
    enum Symbolic {
        /// A float tensor before the input quantizer.
        case float(shape: [Int])
        /// A program slot (codes or accumulator).
        case slot(Int)
        /// A slot seen through a pending per-channel affine map `x·mul + add` (BatchNorm), set by `by`.
        case affine(slot: Int, mul: [Double], add: [Double], by: String)
    }

    final class Builder {
        var values: [Symbolic] = []
        var steps: [IntegerProgram.Step] = []
        var checkpoints: [IntegerProgram.Checkpoint] = []
        var input: (shape: [Int], grid: IntegerGrid, layer: String)?

        /// The finished program whose output is `out`; `model` names the model in errors.
        func program(output out: IntegerLowering.Symbolic, model: String) throws -> IntegerProgram {
            guard let input else {
                throw IntegerLoweringError.notExpressible(layer: model, reason: "it has no quantizer on its input",
                                                          fix: "start the model with a QuantIdentity")
            }
            let slot: Int
            switch out {
            case .slot(let s): slot = s
            case .float:
                throw IntegerLoweringError.notExpressible(layer: model, reason: "its output is a float tensor", fix: "quantize the model's layers")
            case .affine(_, _, _, let by):
                throw IntegerLoweringError.notExpressible(
                    layer: by, reason: "this float layer ends the model, so its output is not on an integer grid",
                    fix: "put a quantizer (QuantIdentity) after it")
            }
            return IntegerProgram(inputShape: input.shape, inputGrid: input.grid, inputLayer: input.layer, steps: steps,
                                  checkpoints: checkpoints, outputSlot: slot)
        }

        func value(of slot: Int) -> IntegerProgram.Value {
            slot == 0 ? .codes(input!.grid) : steps[slot - 1].value
        }

        func shape(of slot: Int) -> [Int] { slot == 0 ? input!.shape : steps[slot - 1].shape }

        func shape(of s: Symbolic) -> [Int] {
            switch s {
            case .float(let shape): return shape
            case .slot(let i), .affine(let i, _, _, _): return shape(of: i)
            }
        }

        @discardableResult
        func emit(_ layer: String, _ op: IntegerOp, _ inputs: [Int], shape: [Int], _ value: IntegerProgram.Value) -> Int {
            steps.append(.init(layer: layer, op: op, inputs: inputs, shape: shape, value: value))
            return steps.count
        }

        /// Lowers `module` applied to `x`; returns the index of its output in `values`.
        func lower(_ module: Module, _ x: Symbolic, path: String) throws -> Int {
            let first = steps.count
            let out: Symbolic
            switch module {
            case let s as QuantSequential:
                var v = x
                for (name, child) in s.children {
                    v = values[try lower(child, v, path: path.isEmpty ? name : "\(path).\(name)")]
                }
                values.append(v)
                return values.count - 1
            case let c as IntegerComposite:
                values.append(x)
                let flow = IntegerDataflow(mode: .lower(self), owner: c, prefix: path)
                let r = try c.integerDataflow(IntegerDataflow.Value(index: values.count - 1), in: flow)
                values.append(values[r.index])
                return values.count - 1
            default:
                out = try lowerLayer(module, x, path: path)
            }
            values.append(out)
            if case .slot(let s) = out, s > first || (s == 0 && first == 0 && input?.layer == path) {
                checkpoints.append(.init(layer: path, type: module.typeName, slot: s, steps: first..<steps.count))
            }
            return values.count - 1
        }

        func lowerMultiInput(_ module: QuantMultiInputLayer, _ xs: [Symbolic], path: String) throws -> Int {
            let first = steps.count
            let out: Symbolic
            switch module {
            case let a as QuantEltwiseAdd:
                precondition(xs.count == 2, "QuantEltwiseAdd takes 2 inputs, got \(xs.count)")
                let (sa, ga) = try codes(try quantize(xs[0], a.inputQuant, relu: false, layer: path), layer: path, what: "its first operand")
                let (sb, gb) = try codes(try quantize(xs[1], a.inputQuant, relu: false, layer: path), layer: path, what: "its second operand")
                let s = try addCodes((sa, ga), (sb, gb), layer: path, fix: "give the QuantEltwiseAdd an input quantizer (one quantizer aligns both operands to its scale)")
                out = try quantize(.slot(s), a.outputQuant, relu: false, layer: path)
            case let c as QuantCat:
                var slots: [Int] = [], grids: [IntegerGrid] = []
                for (i, x) in xs.enumerated() {
                    let (s, g) = try codes(try quantize(x, c.inputQuant, relu: false, layer: path), layer: path, what: "its operand \(i)")
                    slots.append(s)
                    grids.append(g)
                }
                let s = try concatCodes(slots, grids, dim: c.dim, layer: path, fix: "give the QuantCat an input quantizer")
                out = try quantize(.slot(s), c.outputQuant, relu: false, layer: path)
            default:
                throw IntegerLoweringError.unsupportedLayer(layer: path, type: module.typeName, fix: "use QuantEltwiseAdd or QuantCat")
            }
            values.append(out)
            if case .slot(let s) = out, s > first {
                checkpoints.append(.init(layer: path, type: module.typeName, slot: s, steps: first..<steps.count))
            }
            return values.count - 1
        }

        /// The slot and grid of a value that must be codes.
        func codes(_ x: Symbolic, layer: String, what: String) throws -> (Int, IntegerGrid) {
            switch x {
            case .slot(let s):
                if case .codes(let g) = value(of: s) { return (s, g) }
                throw IntegerLoweringError.notExpressible(
                    layer: layer, reason: "\(what) is an accumulator, not codes of a quantizer",
                    fix: "quantize it first (an input quantizer on this layer, or an output quantizer on the one before)")
            case .affine(_, _, _, let by):
                throw IntegerLoweringError.notExpressible(
                    layer: layer, reason: "\(what) is the float output of \(by)",
                    fix: "put a quantizer between \(by) and this layer (e.g. an input quantizer)")
            case .float:
                throw IntegerLoweringError.notExpressible(layer: layer, reason: "\(what) is a float tensor", fix: "quantize the input first (QuantIdentity)")
            }
        }

        /// Applies an activation quantizer (if enabled) with an optional ReLU before it.
        func quantize(_ x: Symbolic, _ proxy: ActQuantProxy, relu: Bool, layer: String) throws -> Symbolic {
            guard proxy.isQuantEnabled else { return x }
            var grid = try QuantizerGrid.grid(of: proxy, layer: layer)
            if case .float(let shape) = x {
                guard input == nil else {
                    throw IntegerLoweringError.notExpressible(layer: layer, reason: "it quantizes a second float tensor", fix: "quantize the model's input once, at the front")
                }
                if relu { grid.min = Swift.max(grid.min, grid.zeroPoint) }
                input = (shape, grid, layer)
                return .slot(0)
            }
            let base: Int, mul: [Double], add: [Double]
            switch x {
            case .slot(let s): (base, mul, add) = (s, [1], [0])
            case .affine(let s, let m, let a, _): (base, mul, add) = (s, m, a)
            case .float: preconditionFailure("handled above")
            }
            let inScales: [Double], zIn: Int64
            switch value(of: base) {
            case .codes(let g): (inScales, zIn) = ([g.scale], g.zeroPoint)
            case .accumulator(let s, _): (inScales, zIn) = (s, 0)
            }
            let n = Swift.max(inScales.count, mul.count)
            func at(_ v: [Double], _ c: Int) -> Double { v.count == 1 ? v[0] : v[c] }
            let ms = (0..<n).map { c in at(inScales, c) * at(mul, c) / grid.scale }
            let bs = (0..<n).map { c in at(add, c) / grid.scale }
            let inputBound: Int64
            switch value(of: base) {
            case .codes(let g): inputBound = Swift.max(Swift.abs(g.min - g.zeroPoint), Swift.abs(g.max - g.zeroPoint))
            case .accumulator(_, let b): inputBound = b
            }
            let r = try Requantization(multipliers: ms, offsets: bs, inputZeroPoint: zIn, inputBound: inputBound,
                                       output: grid, relu: relu, layer: layer)
            return .slot(emit(layer, .requantize(r), [base], shape: shape(of: base), .codes(r.output)))
        }
    }
}
