import Graph
import NN
import TensorEngine

/// Pad (constant mode) and Resize (nearest, linear) to sizes fixed at import (`floor(size ·
/// scale)` when the model gives scales, which then drive the coordinate transform).
extension GraphImporter {
    mutating func pad(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["mode"])
        try c.expectInputs(2...4)
        let mode = try c.string("mode", "constant")
        guard mode == "constant" else { throw c.attributeError("mode", "'\(mode)' is not supported (constant is)") }
        let xs = try input(c, 0).shape
        let rank = xs.count
        let pads = try constant(c, 1, "pads").ints
        var value: Float = 0
        if c.inputName(2) != nil {
            let v = try constant(c, 2, "constant_value")
            guard v.count == 1 else { throw c.shapeError("constant_value must be one value, got shape \(v.shape)") }
            value = v.tensor.scalars[0]
        }
        let axes = c.inputName(3) != nil ? try constant(c, 3, "axes").ints.map { try normalizedAxis(c, $0, rank: rank) } : Array(0..<rank)
        guard pads.count == 2 * axes.count else { throw c.shapeError("pads \(pads) must have 2 values per axis (\(axes.count) axes)") }
        var begins = [Int](repeating: 0, count: rank), ends = begins
        for (i, a) in axes.enumerated() {
            guard abs(pads[i]) < 1 << 24, abs(pads[i + axes.count]) < 1 << 24 else { throw c.shapeError("pads \(pads) are too large") }
            begins[a] = pads[i]
            ends[a] = pads[i + axes.count]
        }
        var out = xs
        for d in 0..<rank {
            out[d] = xs[d] + begins[d] + ends[d]
            guard out[d] >= 0 else { throw c.shapeError("pads \(pads) crop dimension \(d) of \(xs) below zero") }
        }
        let x = try input(c, 0)
        if case .const(let v, _) = x {
            return [.const(ConstValue(GraphOp.pad(begins: begins, ends: ends, value: value).apply([v.tensor])), initializer: nil)]
        }
        let (vx, _) = try runtime(c, 0)
        return [emit(.pad(begins: begins, ends: ends, value: value), [vx], shape: out)]
    }

    mutating func resize(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
                     "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"])
        try c.expectInputs(1...4)
        let (vx, xs) = try runtime(c, 0)
        let modeText = try c.string("mode", "nearest")
        guard let mode = GraphOp.ResizeMode(rawValue: modeText) else { throw c.attributeError("mode", "'\(modeText)' is not supported (nearest, linear are)") }
        let transformText = try c.string("coordinate_transformation_mode", "half_pixel")
        guard let transform = GraphOp.ResizeTransform(rawValue: transformText) else {
            throw c.attributeError("coordinate_transformation_mode", "'\(transformText)' is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric are)")
        }
        let nearestText = try c.string("nearest_mode", "round_prefer_floor")
        guard let nearest = GraphOp.NearestMode(rawValue: nearestText) else {
            throw c.attributeError("nearest_mode", "'\(nearestText)' is not supported (round_prefer_floor, round_prefer_ceil, floor, ceil are)")
        }
        guard try c.int("exclude_outside", 0) == 0 else { throw c.attributeError("exclude_outside", "only 0 is supported") }
        guard try c.int("antialias", 0) == 0 else { throw c.attributeError("antialias", "only 0 is supported") }
        guard try c.string("keep_aspect_ratio_policy", "stretch") == "stretch" else { throw c.attributeError("keep_aspect_ratio_policy", "only stretch is supported") }
        let rank = xs.count
        let axes = try (try c.ints("axes") ?? Array(0..<rank)).map { try normalizedAxis(c, $0, rank: rank) }
        var sizes = xs
        var factors: [Float]?
        let scales = c.inputName(2) != nil ? try constant(c, 2, "scales") : nil
        let given = c.inputName(3) != nil ? try constant(c, 3, "sizes") : nil
        if let given, given.count > 0 {
            guard scales == nil || scales!.count == 0 else { throw c.error("give scales or sizes, not both") }
            guard given.count == axes.count else { throw c.shapeError("sizes \(given.ints) must have one value per axis (\(axes.count))") }
            for (a, s) in zip(axes, given.ints) { sizes[a] = s }
        } else if let scales, scales.count > 0 {
            guard scales.count == axes.count else { throw c.shapeError("scales \(scales.doubles) must have one value per axis (\(axes.count))") }
            var all = [Float](repeating: 1, count: rank)
            for (a, s) in zip(axes, scales.tensor.scalars) {
                guard s > 0, s.isFinite else { throw c.shapeError("scale \(s) must be positive") }
                let scaled = Double(xs[a]) * Double(s)
                guard scaled < Double(1 << 24) else { throw c.shapeError("scale \(s) makes dimension \(a) too large") }
                sizes[a] = Int(scaled.rounded(.down))
                all[a] = s
            }
            factors = all
        } else {
            throw c.error("needs scales or sizes")
        }
        guard sizes.allSatisfy({ $0 > 0 && $0 < 1 << 24 }) else { throw c.shapeError("output sizes \(sizes) must be positive") }
        for d in 0..<rank where sizes[d] != xs[d] && xs[d] == 0 { throw c.shapeError("cannot resize the empty dimension \(d) of \(xs)") }
        return [emit(.resize(sizes: sizes, mode: mode, transform: transform, nearest: nearest, scales: factors), [vx], shape: sizes)]
    }
}
