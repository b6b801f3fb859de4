import QuantNN
import TensorEngine

/// The running GPTQ Hessian of one layer (Brevitas `GPTQ.update_batch`), per group
/// `[columns, columns]`, Float64. For a batch whose layer input gives `m` samples
/// `x: [columns, m]` (``LayerColumns``): `H *= n/(n+m)`, `n += m`, `H += (2/n)·x·xᵀ` (one BLAS
/// `dsyrk` per group). It lives only while its layer is processed.
public struct GPTQHessian {
    public let groups: Int, columns: Int
    public private(set) var h: [Double]
    public private(set) var samples = 0

    public init(groups: Int, columns: Int) {
        self.groups = groups
        self.columns = columns
        h = [Double](repeating: 0, count: groups * columns * columns)
    }

    /// Adds one batch: `x[g]` is group g's `[columns, m]` matrix (row-major).
    public mutating func add(_ x: [[Float]], samples m: Int) {
        precondition(x.count == groups && x.allSatisfy { $0.count == columns * m },
                     "GPTQHessian.add: expected \(groups) groups of \(columns) x \(m) values")
        guard m > 0 else { return }
        let n = columns
        let decay = Double(samples) / Double(samples + m)
        samples += m
        let alpha = 2.0 / Double(samples)
        for g in 0..<groups {
            let xs = x[g].map(Double.init)
            xs.withUnsafeBufferPointer { xb in
                h.withUnsafeMutableBufferPointer { hb in
                    BLAS.dsyrk(n: n, k: m, alpha: alpha, a: xb.baseAddress!, lda: m, beta: decay, c: hb.baseAddress! + g * n * n, ldc: n)
                }
            }
        }
    }
}

/// A layer's input as GPTQ/GPFQ columns: Linear `xᵀ` (`[features, batch]`); Conv2d the im2col
/// unfold of each group, `columns = (Cin/groups)·kh·kw` in (channel, kh, kw) order,
/// `samples = batch·positions` in (batch, oy, ox) order.
enum LayerColumns {
    static func of(_ layer: QuantWeightBiasLayer, input x: Tensor) -> (columns: [[Float]], samples: Int) {
        let v = x.scalars
        switch layer {
        case let c as QuantConv2d:
            precondition(x.rank == 4, "LayerColumns: conv input must be NCHW, got \(x.shape)")
            let (b, ch, hh, ww) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let (kh, kw) = (c.kernelSize.pair.0, c.kernelSize.pair.1)
            let (sh, sw) = (c.stride.pair.0, c.stride.pair.1)
            let (ph, pw) = (c.padding.pair.0, c.padding.pair.1)
            let (dh, dw) = (c.dilation.pair.0, c.dilation.pair.1)
            let oh = (hh + 2 * ph - dh * (kh - 1) - 1) / sh + 1
            let ow = (ww + 2 * pw - dw * (kw - 1) - 1) / sw + 1
            let cg = ch / c.groups
            let m = b * oh * ow
            var out: [[Float]] = []
            for g in 0..<c.groups {
                var cols = [Float](repeating: 0, count: cg * kh * kw * m)
                for ci in 0..<cg {
                    for ki in 0..<kh {
                        for kj in 0..<kw {
                            let row = (ci * kh + ki) * kw + kj
                            for n in 0..<b {
                                let plane = (n * ch + g * cg + ci) * hh * ww
                                for oy in 0..<oh {
                                    let iy = oy * sh - ph + ki * dh
                                    guard iy >= 0 && iy < hh else { continue }
                                    for ox in 0..<ow {
                                        let ix = ox * sw - pw + kj * dw
                                        guard ix >= 0 && ix < ww else { continue }
                                        cols[row * m + (n * oh + oy) * ow + ox] = v[plane + iy * ww + ix]
                                    }
                                }
                            }
                        }
                    }
                }
                out.append(cols)
            }
            return (out, m)
        default:
            let f = layer.weight.shape[1]
            let m = x.count / f
            var cols = [Float](repeating: 0, count: f * m)
            for t in 0..<m { for i in 0..<f { cols[i * m + t] = v[t * f + i] } }
            return ([cols], m)
        }
    }

    static func groups(_ layer: QuantWeightBiasLayer) -> Int { (layer as? QuantConv2d)?.groups ?? 1 }
}
