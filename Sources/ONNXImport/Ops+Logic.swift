import Graph
import NN
import TensorEngine

/// Comparisons, Where, Not and Range on values known at import: the shape arithmetic some
/// exporters write around `Reshape` and `Expand` (`Where(Equal(shape, -1), ...)`). On computed
/// values they are errors: they have no gradient and the float models these ops come from do not
/// compute them at run time.
extension GraphImporter {
    func constantsOnly(_ c: NodeContext) throws -> [ConstValue] {
        try (0..<c.inputCount).map { i in
            guard case .const(let v, _) = try input(c, i) else {
                throw c.error("\(c.op) of a computed value is not supported; only values known at import (shape arithmetic) are folded")
            }
            return v
        }
    }

    mutating func compare(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(2...2)
        let v = try constantsOnly(c)
        let shape = try broadcast(c, v[0].shape, v[1].shape)
        let test: (Double, Double) -> Bool
        switch c.op {
        case "Equal": test = { $0 == $1 }
        case "Less": test = { $0 < $1 }
        case "Greater": test = { $0 > $1 }
        case "LessOrEqual": test = { $0 <= $1 }
        default: test = { $0 >= $1 }
        }
        let a = v[0].doubles, b = v[1].doubles
        let ia = ConstValue.broadcastIndices(from: v[0].shape, to: shape), ib = ConstValue.broadcastIndices(from: v[1].shape, to: shape)
        return [.const(ConstValue(shape: shape, data: .int(zip(ia, ib).map { test(a[$0], b[$1]) ? 1 : 0 })), initializer: nil)]
    }

    mutating func not(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(1...1)
        let v = try constantsOnly(c)[0]
        return [.const(ConstValue(shape: v.shape, data: .int(v.doubles.map { $0 == 0 ? 1 : 0 })), initializer: nil)]
    }

    mutating func whereOp(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(3...3)
        let v = try constantsOnly(c)
        let shape = try broadcast(c, try broadcast(c, v[0].shape, v[1].shape), v[2].shape)
        let cond = v[0].doubles
        let ic = ConstValue.broadcastIndices(from: v[0].shape, to: shape)
        let ia = ConstValue.broadcastIndices(from: v[1].shape, to: shape), ib = ConstValue.broadcastIndices(from: v[2].shape, to: shape)
        switch (v[1].data, v[2].data) {
        case (.int(let a), .int(let b)):
            return [.const(ConstValue(shape: shape, data: .int((0..<ic.count).map { cond[ic[$0]] != 0 ? a[ia[$0]] : b[ib[$0]] })), initializer: nil)]
        default:
            let a = v[1].tensor.scalars, b = v[2].tensor.scalars
            return [.const(ConstValue(shape: shape, data: .float((0..<ic.count).map { cond[ic[$0]] != 0 ? a[ia[$0]] : b[ib[$0]] })), initializer: nil)]
        }
    }

    mutating func range(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(3...3)
        let v = try constantsOnly(c)
        guard v.allSatisfy({ $0.count == 1 }) else { throw c.shapeError("start, limit and delta must be scalars, got \(v.map(\.shape))") }
        let (start, limit, delta) = (v[0].doubles[0], v[1].doubles[0], v[2].doubles[0])
        guard delta != 0, delta.isFinite, start.isFinite, limit.isFinite else { throw c.error("delta must be a finite non-zero value") }
        let count = ((limit - start) / delta).rounded(.up)
        guard !(count > Double(1 << 24)) else { throw c.shapeError("the range from \(start) to \(limit) by \(delta) has \(count) elements (at most \(1 << 24))") }
        let n = max(Int(count.isNaN ? 0 : count), 0)
        let values = (0..<n).map { start + Double($0) * delta }
        if v.allSatisfy({ !$0.isFloat }) {
            guard values.allSatisfy({ Swift.abs($0) < 9.2e18 }) else { throw c.error("the range from \(start) to \(limit) leaves INT64") }
            return [.const(ConstValue(shape: [n], data: .int(values.map { Int64($0) })), initializer: nil)]
        }
        return [.const(ConstValue(shape: [n], data: .float(values.map { Float($0) })), initializer: nil)]
    }
}
