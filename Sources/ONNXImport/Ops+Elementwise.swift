import Foundation
import Graph
import NN
import TensorEngine

/// Add, Sub, Mul, Div, Pow (NumPy broadcasting) and the pointwise activations. Constant
/// operands are folded; activations with a PyTorch module class (Relu, Sigmoid, Tanh, Clip to
/// [0, 6]) become modules so graph passes find them.
extension GraphImporter {
    /// The broadcast shape of `a` and `b`, or a shape error naming both.
    func broadcast(_ c: NodeContext, _ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
        let out = try zip(pa, pb).map { x, y in
            guard x == y || x == 1 || y == 1 else { throw c.shapeError("shapes \(a) and \(b) do not broadcast") }
            return x == 1 ? y : x
        }
        try checkedShape(out)
        return out
    }

    mutating func binary(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(2...2)
        if c.op == "Add", let fused = c.node.input.compactMap({ [fusedMatMuls] in fusedMatMuls[$0] }).first {
            return [fused]
        }
        let a = try input(c, 0), b = try input(c, 1)
        let shape = try broadcast(c, a.shape, b.shape)
        if case .const(let x, _) = a, case .const(let y, _) = b {
            let folded: ConstValue
            switch c.op {
            case "Add": folded = try ConstValue.broadcasting(x, y, shape: shape, float: +, int: { $0 &+ $1 })
            case "Sub": folded = try ConstValue.broadcasting(x, y, shape: shape, float: -, int: { $0 &- $1 })
            case "Mul": folded = try ConstValue.broadcasting(x, y, shape: shape, float: *, int: { $0 &* $1 })
            case "Div":
                if case .int = x.data, case .int = y.data, y.ints.contains(0) { throw c.error("integer division by zero") }
                // Int64.min / -1 wraps, as in C and NumPy, rather than trapping.
                folded = try ConstValue.broadcasting(x, y, shape: shape, float: /, int: { $0.dividedReportingOverflow(by: $1).partialValue })
            default:
                folded = try ConstValue.broadcasting(x, y, shape: shape, float: { Foundation.pow($0, $1) }) { base, exponent in
                    let p = Foundation.pow(Double(base), Double(exponent))
                    guard let v = Int64(exactly: p.rounded(.towardZero)) else {
                        throw c.error("integer Pow \(base)^\(exponent) does not fit INT64")
                    }
                    return v
                }
            }
            return [.const(folded, initializer: nil)]
        }
        let op: GraphOp
        switch c.op {
        case "Add": op = .add
        case "Sub": op = .sub
        case "Mul": op = .mul
        case "Div": op = .div
        default:
            guard case .const(let e, _) = b, e.count == 1 else {
                throw c.error("the exponent must be one constant value (x ** p); it has shape \(b.shape)\(b.isConst ? "" : " and depends on the input")")
            }
            op = .pow
        }
        let (va, _) = try runtime(c, 0), (vb, _) = try runtime(c, 1)
        return [emit(op, [va, vb], shape: shape)]
    }

    mutating func unary(_ c: NodeContext) throws -> [ImportValue] {
        try c.expectInputs(1...1)
        var module: (any Layer)?
        let op: GraphOp
        switch c.op {
        case "Relu": try c.allow([]); module = ReLU(); op = .relu
        case "Sigmoid": try c.allow([]); module = Sigmoid(); op = .sigmoid
        case "Tanh": try c.allow([]); module = Tanh(); op = .tanh
        case "Sqrt": try c.allow([]); op = .sqrt
        case "Erf": try c.allow([]); op = .erf
        case "Neg": try c.allow([]); op = .neg
        case "Abs": try c.allow([]); op = .abs
        case "Exp": try c.allow([]); op = .exp
        case "Log": try c.allow([]); op = .log
        case "HardSwish": try c.allow([]); op = .hardSwish
        case "Gelu":
            try c.allow(["approximate"])
            let approximate = try c.string("approximate", "none")
            guard approximate == "none" || approximate == "tanh" else { throw c.attributeError("approximate", "'\(approximate)' is not supported (none, tanh are)") }
            op = .gelu(tanhApproximation: approximate == "tanh")
        case "Floor", "Ceil":
            try c.allow([])
            guard case .const(let v, _) = try input(c, 0) else {
                throw c.error("\(c.op) of a computed value has no gradient and is not supported; only constants are folded")
            }
            let t = v.tensor
            return [.const(ConstValue(shape: v.shape, data: .float(c.op == "Floor" ? t.floor().scalars : t.ceil().scalars)), initializer: nil)]
        case "LeakyRelu": try c.allow(["alpha"]); op = .leakyRelu(negativeSlope: try c.float("alpha", 0.01))
        case "Elu": try c.allow(["alpha"]); op = .elu(alpha: try c.float("alpha", 1))
        case "HardSigmoid":
            try c.allow(["alpha", "beta"])
            op = .hardSigmoid(alpha: try c.float("alpha", 0.2), beta: try c.float("beta", 0.5))
        default: throw c.error("not a unary op")
        }
        return [try applyPointwise(c, op, module: module)]
    }

    /// A shape-preserving op: folded on a constant, a module call when `module` is given, else a
    /// functional node.
    mutating func applyPointwise(_ c: NodeContext, _ op: GraphOp, module: (any Layer)?) throws -> ImportValue {
        let x = try input(c, 0)
        if case .const(let v, _) = x, v.isFloat {
            return .const(ConstValue(op.apply([v.tensor])), initializer: nil)
        }
        let (vx, shape) = try runtime(c, 0)
        if let module {
            let path = modulePath(c, weight: nil, opName: op.baseName)
            return call(path, module, vx, shape: shape)
        }
        return emit(op, [vx], shape: shape)
    }

    /// `Clip(x, min, max)` (opset 13: bounds as optional constant inputs). `[0, 6]` is ReLU6.
    mutating func clip(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(1...3)
        func bound(_ i: Int) throws -> Float? {
            guard c.inputName(i) != nil else { return nil }
            let v = try constant(c, i, i == 1 ? "min" : "max")
            guard v.count == 1 else { throw c.error("input \(i) must be a single value, got shape \(v.shape)") }
            return v.tensor.scalars[0]
        }
        let lo = try bound(1), hi = try bound(2)
        if let lo, let hi, lo > hi { throw c.error("min \(lo) is above max \(hi)") }
        let module: (any Layer)? = lo == 0 && hi == 6 ? ReLU6() : nil
        return [try applyPointwise(c, .clamp(min: lo, max: hi), module: module)]
    }

    /// Softmax and LogSoftmax along `axis` (default -1 from opset 13).
    mutating func softmax(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["axis"])
        try c.expectInputs(1...1)
        let (vx, shape) = try runtime(c, 0)
        let axis = try normalizedAxis(c, try c.int("axis", -1), rank: shape.count)
        return [emit(c.op == "Softmax" ? .softmax(axis: axis) : .logSoftmax(axis: axis), [vx], shape: shape)]
    }

    /// `axis` in `-rank..<rank`, made non-negative.
    func normalizedAxis(_ c: NodeContext, _ axis: Int, rank: Int) throws -> Int {
        guard axis >= -rank && axis < rank else { throw c.shapeError("axis \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }
}

extension ImportValue {
    var isConst: Bool { if case .const = self { true } else { false } }
}
