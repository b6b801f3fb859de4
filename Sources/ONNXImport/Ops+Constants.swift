import Graph
import NN
import TensorEngine

/// Values known at import: Constant, ConstantOfShape, Shape (of the specialised input shape),
/// Cast; and the pass-throughs Identity and Dropout (a `Dropout` module, the identity in eval).
extension GraphImporter {
    mutating func shape(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["start", "end"])
        try c.expectInputs(1...1)
        let xs = try input(c, 0).shape
        let r = xs.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let start = clamp(try c.int("start", 0)), end = clamp(try c.int("end", r))
        let dims = start < end ? Array(xs[start..<end]) : []
        return [.const(ConstValue(ints: dims), initializer: nil)]
    }

    mutating func constantNode(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["value", "value_float", "value_floats", "value_int", "value_ints"])
        try c.expectInputs(0...0)
        let given = ["value", "value_float", "value_floats", "value_int", "value_ints"].filter { c.has($0) }
        guard given.count == 1 else { throw c.error("needs exactly one value attribute, got \(given.isEmpty ? "none" : given.joined(separator: ", "))") }
        let value: ConstValue
        switch given[0] {
        case "value": value = try reader.read(try c.tensor("value")!, name: c.node.output.first ?? c.name)
        case "value_float": value = ConstValue(shape: [], data: .float([try c.float("value_float", 0)]))
        case "value_floats": value = ConstValue(Tensor(try floats(c, "value_floats")))
        case "value_int": value = ConstValue(ints: [try c.int("value_int", 0)], shape: [])
        default: value = ConstValue(ints: try c.ints("value_ints") ?? [])
        }
        return [.const(value, initializer: nil)]
    }

    func floats(_ c: NodeContext, _ name: String) throws -> [Float] {
        guard let a = c.node.attribute.first(where: { $0.name == name }) else { return [] }
        return a.floats
    }

    mutating func constantOfShape(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["value"])
        try c.expectInputs(1...1)
        let dims = try constant(c, 0, "shape").ints
        guard dims.allSatisfy({ $0 >= 0 }) else { throw c.shapeError("shape \(dims) has a negative dimension") }
        let count: Int
        do { count = try InputLimits.elementCount(dims) } catch { throw fail(.limit(error)) }
        var fill = ConstValue(shape: [1], data: .float([0]))
        if let t = try c.tensor("value") {
            fill = try reader.read(t, name: "\(c.name).value")
            guard fill.count == 1 else { throw c.attributeError("value", "must hold one element, has shape \(fill.shape)") }
        }
        let value: ConstValue
        switch fill.data {
        case .float(let v): value = ConstValue(shape: dims, data: .float([Float](repeating: v[0], count: count)))
        case .int(let v): value = ConstValue(shape: dims, data: .int([Int64](repeating: v[0], count: count)))
        }
        return [.const(value, initializer: nil)]
    }

    /// The identity. Of an initializer it is a new initializer under the output's name: the
    /// TorchScript exporter writes a second parameter that equals the first (`ln2.weight =
    /// Identity(ln1.weight)`) this way, and the two must train separately.
    mutating func identity(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(1...1)
        let x = try input(c, 0)
        if case .const(let v, _?) = x, let out = c.node.output.first, !out.isEmpty {
            return [.const(v, initializer: out)]
        }
        return [x]
    }

    mutating func dropout(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["seed"])
        try c.expectInputs(1...3)
        guard onlyFirstOutputRead(c) else { throw c.error("the mask output is not supported") }
        var ratio: Float = 0.5
        if c.inputName(1) != nil {
            let r = try constant(c, 1, "ratio")
            guard r.count == 1, let p = r.tensor.scalars.first, p >= 0, p < 1 else { throw c.error("ratio must be one value in [0, 1)") }
            ratio = p
        }
        if c.inputName(2) != nil {
            guard try constant(c, 2, "training_mode").ints == [0] else { throw c.error("training_mode must be false: the import is for inference") }
        }
        let (vx, xs) = try runtime(c, 0)
        return [call(modulePath(c, weight: nil, opName: "dropout"), Dropout(p: ratio), vx, shape: xs)]
    }

    mutating func cast(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["to", "saturate"])
        try c.expectInputs(1...1)
        let to = try c.int("to", 0)
        let x = try input(c, 0)
        switch (x, to) {
        case (.const(let v, _), 1), (.const(let v, _), 11):
            return [.const(ConstValue(shape: v.shape, data: .float(v.tensor.scalars)), initializer: nil)]
        case (.const(let v, _), 6), (.const(let v, _), 7):
            return [.const(ConstValue(shape: v.shape, data: .int(v.ints.map { Int64($0) })), initializer: nil)]
        case (.const(let v, _), 9):
            return [.const(ConstValue(shape: v.shape, data: .int(v.doubles.map { $0 != 0 ? 1 : 0 })), initializer: nil)]
        case (.runtime, 1):
            return [x]
        default:
            throw c.attributeError("to", "casting \(x.isConst ? "a constant" : "a computed value") to type \(TensorProtoReader.typeNames[Int32(clamping: to)] ?? "\(to)") is not supported (computed values stay FLOAT; constants may become FLOAT, DOUBLE, INT32, INT64, BOOL)")
        }
    }
}
