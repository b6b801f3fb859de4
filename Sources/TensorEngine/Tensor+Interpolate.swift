/// Spatial resizing of `[N, C, H, W]` images (`torch.nn.functional.interpolate`), nearest and
/// bilinear, with gradients.
///
/// Source coordinate of output index `o` along a dimension of input size `in`, output size
/// `out` (torch's rules):
///
/// | mode | source |
/// |---|---|
/// | nearest | `min(floor(o · s), in − 1)`, `s = 1/scale_factor` if given, else `in/out` |
/// | bilinear, `align_corners` | `o · (in − 1)/(out − 1)` (0 when `out = 1`) |
/// | bilinear, otherwise | `max((o + 0.5) · s − 0.5, 0)`, `s` as for nearest |
///
/// Bilinear output: `(1−λh)(1−λw)·x[h0,w0] + (1−λh)λw·x[h0,w1] + λh(1−λw)·x[h1,w0] + λhλw·x[h1,w1]`
/// with `h0 = floor(src)`, `h1 = min(h0 + 1, in − 1)`, `λh = src − h0`; the gradient scatters
/// `dOut` back with the same weights.
extension Tensor {
    /// Resizing modes of `interpolate`.
    public enum InterpolationMode: String, Sendable {
        case nearest, bilinear
    }

    /// Resizes `x` (`[N, C, H, W]`) to `size`, or by `scaleFactor` (`out = floor(in · factor)`).
    public static func interpolate(
        _ x: Tensor, size: (Int, Int)? = nil, scaleFactor: (Double, Double)? = nil, mode: InterpolationMode,
        alignCorners: Bool = false
    ) -> Tensor {
        precondition(x.rank == 4, "interpolate: input must be [N, C, H, W], got shape \(x.shape)")
        precondition((size == nil) != (scaleFactor == nil), "interpolate: give exactly one of size and scaleFactor")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let outH = size?.0 ?? Int((Double(h) * scaleFactor!.0).rounded(.down))
        let outW = size?.1 ?? Int((Double(w) * scaleFactor!.1).rounded(.down))
        precondition(outH >= 1 && outW >= 1, "interpolate: output size \(outH)x\(outW) of input \(x.shape) is empty")
        // torch uses 1/scale_factor when the factor is given, in/out otherwise.
        let sH = scaleFactor.map { 1 / $0.0 } ?? Double(h) / Double(outH)
        let sW = scaleFactor.map { 1 / $0.1 } ?? Double(w) / Double(outW)
        let rows = taps(in: h, out: outH, scale: sH, mode: mode, alignCorners: alignCorners)
        let cols = taps(in: w, out: outW, scale: sW, mode: mode, alignCorners: alignCorners)
        let out = Tensor.empty([n, c, outH, outW])
        let xp = x.storage.pointer, op = out.storage.pointer
        for p in 0..<(n * c) {
            let src = xp + p * h * w, dst = op + p * outH * outW
            for (oh, r) in rows.enumerated() {
                for (ow, q) in cols.enumerated() {
                    let top = (1 - q.lambda) * src[r.i0 * w + q.i0] + q.lambda * src[r.i0 * w + q.i1]
                    let bottom = (1 - q.lambda) * src[r.i1 * w + q.i0] + q.lambda * src[r.i1 * w + q.i1]
                    dst[oh * outW + ow] = (1 - r.lambda) * top + r.lambda * bottom
                }
            }
        }
        return Autograd.record("interpolate_\(mode.rawValue)", output: out, inputs: [x]) { g in
            let gx = Tensor.zeros([n, c, h, w])
            let gp = g.storage.pointer, dp = gx.storage.pointer
            for p in 0..<(n * c) {
                let src = gp + p * outH * outW, dst = dp + p * h * w
                for (oh, r) in rows.enumerated() {
                    for (ow, q) in cols.enumerated() {
                        let v = src[oh * outW + ow]
                        dst[r.i0 * w + q.i0] += (1 - r.lambda) * (1 - q.lambda) * v
                        dst[r.i0 * w + q.i1] += (1 - r.lambda) * q.lambda * v
                        dst[r.i1 * w + q.i0] += r.lambda * (1 - q.lambda) * v
                        dst[r.i1 * w + q.i1] += r.lambda * q.lambda * v
                    }
                }
            }
            return [gx]
        }
    }

    /// One output index's two source indices and the weight of the second.
    struct InterpolationTap {
        let i0: Int, i1: Int, lambda: Float
    }

    static func taps(in size: Int, out: Int, scale: Double, mode: InterpolationMode, alignCorners: Bool) -> [InterpolationTap] {
        (0..<out).map { o in
            switch mode {
            case .nearest:
                // torch computes the nearest source index in float32.
                let i = Swift.min(Int((Float(o) * Float(scale)).rounded(.down)), size - 1)
                return InterpolationTap(i0: i, i1: i, lambda: 0)
            case .bilinear:
                let src: Float
                if alignCorners {
                    src = out > 1 ? Float(o) * (Float(size - 1) / Float(out - 1)) : 0
                } else {
                    src = Swift.max((Float(o) + 0.5) * Float(scale) - 0.5, 0)
                }
                let i0 = Swift.min(Int(src.rounded(.down)), size - 1)
                let i1 = Swift.min(i0 + 1, size - 1)
                return InterpolationTap(i0: i0, i1: i1, lambda: src - Float(i0))
            }
        }
    }
}
