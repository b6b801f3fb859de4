import Graph
import NN
import TensorEngine

/// Shape manipulation: Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze,
/// Gather. Each folds when its data is known at import, and otherwise becomes a functional node
/// whose parameters (target shape, indices, ...) must be known at import.
extension GraphImporter {
    /// Runtime result, or folded through `fold` when the data is constant.
    mutating func shapeOp(_ c: NodeContext, _ op: GraphOp, shape: [Int], fold: (ConstValue) throws -> ConstValue) throws -> ImportValue {
        try checkedShape(shape)
        if case .const(let v, _) = try input(c, 0) { return .const(try fold(v), initializer: nil) }
        let (vx, _) = try runtime(c, 0)
        return emit(op, [vx], shape: shape)
    }

    /// For a C-order array of `shape` permuted by `perm`, the source index of each element.
    static func permutedIndices(_ shape: [Int], _ perm: [Int]) -> [Int] {
        let strides = ShapeMath.strides(shape)
        let outShape = perm.map { shape[$0] }
        let n = shape.reduce(1, *)
        var result = [Int](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: shape.count)
        for k in 0..<n {
            var flat = 0
            for d in 0..<perm.count { flat += index[d] * strides[perm[d]] }
            result[k] = flat
            var d = perm.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < outShape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return result
    }

    /// Indices of the elements kept by picking `picked` along `axis` of a C-order `shape`.
    static func axisIndices(_ shape: [Int], axis: Int, _ picked: [Int]) -> [Int] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        var result: [Int] = []
        result.reserveCapacity(outer * picked.count * inner)
        for o in 0..<outer {
            for i in picked {
                let base = (o * n + i) * inner
                result.append(contentsOf: base..<(base + inner))
            }
        }
        return result
    }

    mutating func flatten(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["axis"])
        try c.expectInputs(1...1)
        let xs = try input(c, 0).shape
        let axis = try c.int("axis", 1)
        guard axis >= -xs.count && axis <= xs.count else { throw c.shapeError("axis \(axis) is out of range for input \(xs)") }
        let a = axis < 0 ? axis + xs.count : axis
        let out = [xs[..<a].reduce(1, *), xs[a...].reduce(1, *)]
        let op: GraphOp = a == 1 && xs.count >= 2 ? .flatten(startDim: 1, endDim: -1) : .reshape(out)
        return [try shapeOp(c, op, shape: out) { $0.reshaped(out) }]
    }

    /// The target of Reshape: `0` copies the input dimension (unless `allowzero`), one `-1` is
    /// inferred; the element count must be preserved.
    func resolveReshape(_ c: NodeContext, input xs: [Int], target: [Int], allowZero: Bool) throws -> [Int] {
        var out = target
        for (i, d) in target.enumerated() where d == 0 && !allowZero {
            guard i < xs.count else { throw c.shapeError("target \(target) copies dimension \(i), which input \(xs) does not have") }
            out[i] = xs[i]
        }
        guard out.allSatisfy({ $0 >= -1 }), out.filter({ $0 == -1 }).count <= 1 else {
            throw c.shapeError("target shape \(target) is invalid (dimensions must be >= -1 with at most one -1)")
        }
        let total = xs.reduce(1, *)
        var known = 1
        for d in out where d != -1 {
            let (p, o) = known.multipliedReportingOverflow(by: d)
            guard !o else { throw c.shapeError("target shape \(target) overflows") }
            known = p
        }
        if let i = out.firstIndex(of: -1) {
            guard known > 0, total % known == 0 else { throw c.shapeError("cannot reshape \(xs) (\(total) elements) to \(target)") }
            out[i] = total / known
        }
        guard out.reduce(1, *) == total else { throw c.shapeError("cannot reshape \(xs) (\(total) elements) to \(target)") }
        return out
    }

    mutating func reshape(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["allowzero"])
        try c.expectInputs(2...2)
        let xs = try input(c, 0).shape
        let target = try constant(c, 1, "shape")
        guard target.shape.count == 1 else { throw c.shapeError("shape must be 1-D, got \(target.shape)") }
        let out = try resolveReshape(c, input: xs, target: target.ints, allowZero: try c.int("allowzero", 0) != 0)
        return [try shapeOp(c, .reshape(out), shape: out) { $0.reshaped(out) }]
    }

    mutating func transpose(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["perm"])
        try c.expectInputs(1...1)
        let xs = try input(c, 0).shape
        let perm = try c.ints("perm") ?? Array((0..<xs.count).reversed())
        guard perm.sorted() == Array(0..<xs.count) else { throw c.shapeError("perm \(perm) is not a permutation of the \(xs.count) axes of \(xs)") }
        let out = perm.map { xs[$0] }
        return [try shapeOp(c, .permute(perm), shape: out) { $0.picking(Self.permutedIndices(xs, perm), shape: out) }]
    }

    mutating func concat(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["axis"])
        guard c.inputCount >= 1, (0..<c.inputCount).allSatisfy({ c.inputName($0) != nil }) else { throw c.error("needs at least one input, none empty") }
        let parts = try (0..<c.inputCount).map { try input(c, $0) }
        let rank = parts[0].shape.count
        guard let axisAttr = c.has("axis") ? try c.int("axis", 0) : nil else { throw c.error("the attribute axis is required") }
        let axis = try normalizedAxis(c, axisAttr, rank: rank)
        var out = parts[0].shape
        out[axis] = 0
        for p in parts {
            var s = p.shape
            guard s.count == rank else { throw c.shapeError("inputs \(parts.map(\.shape)) differ in rank") }
            out[axis] += s[axis]
            s[axis] = 0
            var o = out
            o[axis] = 0
            guard s == o else { throw c.shapeError("inputs \(parts.map(\.shape)) differ outside axis \(axis)") }
        }
        let consts = parts.compactMap { p -> ConstValue? in if case .const(let v, _) = p { v } else { nil } }
        if consts.count == parts.count { return [.const(ConstValue.concat(consts, axis: axis), initializer: nil)] }
        let inputs = try (0..<c.inputCount).map { try runtime(c, $0).0 }
        return [emit(.concat(axis: axis), inputs, shape: out)]
    }

    mutating func split(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["axis", "num_outputs"])
        try c.expectInputs(1...2)
        let xs = try input(c, 0).shape
        let axis = try normalizedAxis(c, try c.int("axis", 0), rank: xs.count)
        let outputs = c.node.output.count
        guard outputs >= 1 else { throw c.error("has no outputs") }
        var sizes: [Int]
        if c.inputName(1) != nil {
            sizes = try constant(c, 1, "split").ints
            guard sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == xs[axis] else {
                throw c.shapeError("split sizes \(sizes) must be \(outputs) non-negative values summing to \(xs[axis]) (input \(xs), axis \(axis))")
            }
        } else {
            let n = c.has("num_outputs") ? try c.int("num_outputs", outputs) : outputs
            guard n == outputs, n > 0 else { throw c.attributeError("num_outputs", "\(n) differs from the \(outputs) outputs") }
            let chunk = (xs[axis] + n - 1) / n
            sizes = (0..<n).map { i in max(0, min(chunk, xs[axis] - i * chunk)) }
            if c.has("num_outputs") == false, xs[axis] % n != 0 {
                throw c.shapeError("dimension \(xs[axis]) of input \(xs) does not split evenly into \(n) outputs")
            }
        }
        var results: [ImportValue] = []
        var start = 0
        for size in sizes {
            var out = xs
            out[axis] = size
            let begin = start
            results.append(try shapeOp(c, .slice(axis: axis, start: begin, end: begin + size, step: 1), shape: out) {
                $0.picking(Self.axisIndices(xs, axis: axis, Array(begin..<(begin + size))), shape: out)
            })
            start += size
        }
        return results
    }

    mutating func slice(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(3...5)
        var current = try input(c, 0)
        let starts = try constant(c, 1, "starts").ints, ends = try constant(c, 2, "ends").ints
        let rank = current.shape.count
        let axes = c.inputName(3) != nil ? try constant(c, 3, "axes").ints : Array(0..<starts.count)
        let steps = c.inputName(4) != nil ? try constant(c, 4, "steps").ints : [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw c.shapeError("starts \(starts), ends \(ends), axes \(axes) and steps \(steps) differ in length")
        }
        let normalized = try axes.map { try normalizedAxis(c, $0, rank: rank) }
        guard Set(normalized).count == normalized.count else { throw c.shapeError("axes \(axes) repeat an axis") }
        for i in 0..<starts.count {
            guard steps[i] != 0 else { throw c.shapeError("step 0 on axis \(axes[i])") }
            let axis = normalized[i]
            let xs = current.shape
            let picked = GraphOp.sliceIndices(size: xs[axis], start: starts[i], end: ends[i], step: steps[i])
            if picked == Array(0..<xs[axis]) { continue }
            var out = xs
            out[axis] = picked.count
            switch current {
            case .const(let v, _):
                current = .const(v.picking(Self.axisIndices(xs, axis: axis, picked), shape: out), initializer: nil)
            case .runtime(let g, _):
                current = emit(.slice(axis: axis, start: starts[i], end: ends[i], step: steps[i]), [g], shape: out)
            }
        }
        if case .const(let v, let name?) = current, v.isFloat {
            // An untouched initializer stays what it is (a parameter when used).
            return [.const(v, initializer: name)]
        }
        return [current]
    }

    /// Axes from the attribute (before opset 13) or the second input.
    func axesInput(_ c: NodeContext) throws -> [Int]? {
        c.inputName(1) != nil ? try constant(c, 1, "axes").ints : nil
    }

    mutating func squeeze(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(1...2)
        let xs = try input(c, 0).shape
        let axes = try (try axesInput(c) ?? xs.indices.filter { xs[$0] == 1 }).map { try normalizedAxis(c, $0, rank: xs.count) }
        for a in axes where xs[a] != 1 { throw c.shapeError("cannot squeeze axis \(a) of size \(xs[a]) in \(xs)") }
        let out = xs.indices.filter { !axes.contains($0) }.map { xs[$0] }
        return [try shapeOp(c, .squeeze(axes.sorted()), shape: out) { $0.reshaped(out) }]
    }

    mutating func unsqueeze(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(2...2)
        let xs = try input(c, 0).shape
        let rank = xs.count + (try axesInput(c)?.count ?? 0)
        let axes = try (try axesInput(c) ?? []).map { try normalizedAxis(c, $0, rank: rank) }
        guard Set(axes).count == axes.count else { throw c.shapeError("axes \(axes) repeat an axis") }
        var out: [Int] = []
        var rest = xs.makeIterator()
        for d in 0..<rank { out.append(axes.contains(d) ? 1 : rest.next()!) }
        return [try shapeOp(c, .unsqueeze(axes.sorted()), shape: out) { $0.reshaped(out) }]
    }

    mutating func gather(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["axis"])
        try c.expectInputs(2...2)
        let xs = try input(c, 0).shape
        let axis = try normalizedAxis(c, try c.int("axis", 0), rank: xs.count)
        let indices = try constant(c, 1, "indices")
        let n = xs[axis]
        let picked = try indices.ints.map { i -> Int in
            guard i >= -n && i < n else { throw c.shapeError("index \(i) is out of range for dimension \(axis) of \(xs)") }
            return i < 0 ? i + n : i
        }
        let out = Array(xs[..<axis]) + indices.shape + Array(xs[(axis + 1)...])
        return [try shapeOp(c, .gather(axis: axis, indices: picked, indicesShape: indices.shape), shape: out) {
            $0.picking(Self.axisIndices(xs, axis: axis, picked), shape: out)
        }]
    }

    /// `Expand(x, shape)`: NumPy broadcasting of `x` against the constant `shape`.
    mutating func expand(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(2...2)
        let xs = try input(c, 0).shape
        let target = try constant(c, 1, "shape").ints
        guard target.allSatisfy({ $0 >= 0 && $0 < 1 << 24 }) else { throw c.shapeError("shape \(target) is invalid") }
        let out = try broadcast(c, xs, target)
        return [try shapeOp(c, .expand(out), shape: out) { v in
            v.picking(ConstValue.broadcastIndices(from: xs, to: out), shape: out)
        }]
    }
}
