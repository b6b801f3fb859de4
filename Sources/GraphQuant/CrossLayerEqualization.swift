import Foundation
import Graph
import NN
import TensorEngine

/// How a source's bias enters its range in ``EqualizeGraph`` (`bias_shrinkage`).
public enum BiasShrinkage: Sendable, Equatable {
    /// Vitis AI's rule (`'vaiq'`), picked from the bias and weight magnitudes (see
    /// ``CrossLayerEqualization/sourceRange(_:mergeBias:shrinkage:)``).
    case vaiq
    /// A fixed divisor.
    case fixed(Float)
}

/// One equalization step over a region (Brevitas `_cross_layer_equalization`), shared by
/// cross-layer equalization (weights only) and activation equalization (activation ranges in place
/// of the source ranges).
///
/// Per channel `c` of the region, in float32:
///
///     r_sink[c] = max over sinks of max|W_sink[input channel c]|
///     r_src[c]  = max over sources of max|W_src[output channel c] (| bias[c] / shrink)|   (CLE)
///               = max|activation channel c| over the calibration data                       (act-eq)
///     both := 1 where either is <= 1e-9
///     s[c] = r_sink[c]^(1 - alpha) / r_src[c]^alpha
///
/// then every source's output channel `c` (weight and bias) is multiplied by `s[c]` and every
/// sink's input channel `c` by `reciprocal(s[c])`: `W_sink · diag(1/s) · diag(s) · W_src` is the
/// original product, so the float function is unchanged up to rounding (through ReLU and pools,
/// which commute with a positive scale).
public enum CrossLayerEqualization {
    static let epsilon: Float = 1e-9

    /// Equalizes `region` of `graph` in place. Returns the factors `s`, or `nil` when the region is
    /// left alone (an unsupported axis, mismatched shapes, no activation axis).
    ///
    /// - Parameters:
    ///   - activationRanges: per sink (in `region.sinks` order), the per-channel `max|x|` of its
    ///     input and the shape of the statistic; `nil` for weight equalization.
    ///   - multiplier: called with `s` before the weights change, to insert an input multiplier
    ///     (layerwise activation equalization).
    @discardableResult
    public static func equalize(_ graph: Module, _ region: EqualizationRegion, mergeBias: Bool, shrinkage: BiasShrinkage = .vaiq,
                                alpha: Double = 0.5, activationRanges: [(ranges: [Float], shape: [Int])]? = nil,
                                multiplier: (([Float]) -> Void)? = nil) -> [Float]? {
        func layer(_ name: String) -> EqualizableLayer {
            guard let m = graph.module(at: name), let l = EqualizableLayer(m) else {
                preconditionFailure("equalization: region layer '\(name)' is not a layer with a weight")
            }
            return l
        }
        let sources = region.sources.map { (layer($0.name), $0.indexes) }
        let sinks = region.sinks.map { (layer($0.name), $0.indexes) }
        if sources.contains(where: { $0.0.outputAxis == nil }) || sinks.contains(where: { $0.0.inputAxis == nil }) { return nil }
        if activationRanges != nil && region.actAxis(in: graph) == nil { return nil }

        var snkRange = [Float](repeating: -1, count: region.sinkWidth)
        for (l, idx) in sinks {
            let full = sinkRangeOf(l)
            guard idx.end <= full.count else { return nil }
            let r = Array(full[idx.start..<idx.end])
            guard idx.offset + r.count <= snkRange.count else { return nil }
            for (k, v) in r.enumerated() { snkRange[idx.offset + k] = Swift.max(snkRange[idx.offset + k], v) }
        }
        var srcRange = [Float](repeating: -1, count: region.sourceWidth)
        for (l, idx) in sources {
            let r = sourceRange(l, mergeBias: mergeBias, shrinkage: shrinkage)
            let lo = idx.offset + idx.start
            guard lo + r.count <= srcRange.count, r.count == idx.end - idx.start else { return nil }
            for (k, v) in r.enumerated() { srcRange[lo + k] = Swift.max(srcRange[lo + k], v) }
        }
        if let acts = activationRanges {
            guard let first = acts.first, acts.allSatisfy({ $0.shape == first.shape && $0.ranges.count == first.ranges.count }) else { return nil }
            srcRange = first.ranges
            for a in acts.dropFirst() { for c in srcRange.indices { srcRange[c] = Swift.max(srcRange[c], a.ranges[c]) } }
        }
        guard srcRange.count == snkRange.count else { return nil }

        let a = Float(alpha), b = Float(1 - alpha)
        var s = [Float](repeating: 1, count: snkRange.count)
        for c in s.indices {
            var src = srcRange[c], snk = snkRange[c]
            if snk <= epsilon || src <= epsilon { (src, snk) = (1, 1) }
            s[c] = power(snk, b) / power(src, a)
        }
        multiplier?(s)
        for (l, idx) in sources {
            let f = Array(s[(idx.offset + idx.start)..<(idx.offset + idx.end)])
            EqualizableLayer.scale(l.weight, axis: l.outputAxis!, by: f)
            if let bias = l.bias { EqualizableLayer.scale(bias, axis: 0, by: f) }
        }
        for (l, idx) in sinks {
            let channels = l.weight.shape[l.inputAxis!]
            var f = [Float](repeating: 1, count: channels)
            for k in 0..<(idx.end - idx.start) { f[idx.start + k] = s[idx.offset + k] }
            EqualizableLayer.scale(l.weight, axis: l.inputAxis!, by: f.map { 1 / $0 })
        }
        return s
    }

    /// `torch.pow(x, e)` on float32: `e = 0.5` is a square root, `e = 1` the identity.
    static func power(_ x: Float, _ e: Float) -> Float {
        if e == 0.5 { return x.squareRoot() }
        if e == 1 { return x }
        if e == 0 { return 1 }
        return Foundation.pow(x, e)
    }

    /// `max|W[:, c]|` per input channel of a sink (`EqualizationSinkWrapper.get_weight_range`).
    static func sinkRangeOf(_ l: EqualizableLayer) -> [Float] {
        EqualizableLayer.channelMaxAbs(l.weight.scalars, shape: l.weight.shape, axis: l.inputAxis!)
    }

    /// Per output channel of a source, `max|·|` of its weight row, with the bias divided by the
    /// shrink factor appended when `mergeBias` and the layer has one (`_combine_weights_bias`).
    ///
    /// Vitis AI's shrink factor, with `W` the rows (entries of magnitude <= 1e-9 replaced by 1e-9),
    /// `B = max|bias|` and `f = |bias[o]| / |W[o, j]|` over all elements (median: the lower middle):
    ///
    /// | condition | shrink |
    /// |---|---|
    /// | `B < 10` and `B / max|W| < 20`, `median f > 100` or `mean f > 1000` | 5 |
    /// | `B < 10` and `B / max|W| < 20`, otherwise | 2 |
    /// | else `median f > 30` or `mean f > 500` | 20 |
    /// | else `median f > 15` or `mean f > 250` | 10 |
    /// | else | 5 |
    public static func sourceRange(_ l: EqualizableLayer, mergeBias: Bool, shrinkage: BiasShrinkage) -> [Float] {
        let axis = l.outputAxis!
        let channels = l.sourceChannels
        // Rows = output channels: move the output axis first.
        let rows = transposedRows(l.weight.scalars, shape: l.weight.shape, axis: axis)
        guard mergeBias, let bias = l.bias?.scalars else { return rows.map { $0.reduce(0) { Swift.max($0, Swift.abs($1)) } } }
        let w = rows.map { $0.map { Swift.abs($0) <= epsilon ? epsilon : $0 } }
        let shrink: Float
        switch shrinkage {
        case .fixed(let f): shrink = f
        case .vaiq:
            var factors: [Float] = []
            factors.reserveCapacity(channels * (w.first?.count ?? 0))
            var wMax: Float = 0, bMax: Float = 0, sum = 0.0
            for c in 0..<channels {
                bMax = Swift.max(bMax, Swift.abs(bias[c]))
                for v in w[c] {
                    wMax = Swift.max(wMax, Swift.abs(v))
                    let f = Swift.abs(bias[c]) / Swift.abs(v)
                    factors.append(f)
                    sum += Double(f)
                }
            }
            factors.sort()
            let median = factors.isEmpty ? 0 : factors[(factors.count - 1) / 2]
            let mean = factors.isEmpty ? 0 : Float(sum / Double(factors.count))
            if bMax < 10 && bMax / wMax < 20 {
                shrink = median > 100 || mean > 1000 ? 5 : 2
            } else if median > 30 || mean > 500 {
                shrink = 20
            } else if median > 15 || mean > 250 {
                shrink = 10
            } else {
                shrink = 5
            }
        }
        return (0..<channels).map { c in
            w[c].reduce(Swift.abs(bias[c] / shrink)) { Swift.max($0, Swift.abs($1)) }
        }
    }

    /// The slices of `values` along `axis`, each flattened in order (`transpose(t, axis).reshape(C, -1)`).
    static func transposedRows(_ values: [Float], shape: [Int], axis: Int) -> [[Float]] {
        let (outer, channels, inner) = EqualizableLayer.split(shape, axis)
        var rows = [[Float]](repeating: [], count: channels)
        for c in 0..<channels { rows[c].reserveCapacity(outer * inner) }
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                rows[c].append(contentsOf: values[base..<(base + inner)])
            }
        }
        return rows
    }
}
