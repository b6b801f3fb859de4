import Foundation

/// Softmax and log-softmax over one dimension, numerically stable (the row maximum is
/// subtracted first), with gradients.
extension Tensor {
    /// `exp(x) / sum(exp(x))` along `dim` (`torch.softmax`). Gradient: `y · (g − Σ g·y)`.
    public func softmax(dim: Int) -> Tensor {
        let d = ShapeMath.normalize(dim: dim, rank: rank, "for softmax of shape \(shape)")
        let (outer, n, inner) = Kernels.split(rank == 0 ? [1] : shape, d, d)
        let out = Tensor.empty(shape)
        Kernels.softmaxRows(storage.pointer, out.storage.pointer, outer, n, inner, log: false)
        let y = out.detach()
        return Autograd.record("softmax", output: out, inputs: [self]) { g in
            let gx = Tensor.empty(y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, px = gx.storage.pointer
            Parallel.forRanges(outer * inner, costPerItem: 3 * n) { r in
                for row in r {
                    let base = (row / inner) * n * inner + row % inner
                    var dot: Float = 0
                    for j in 0..<n { dot += pg[base + j * inner] * py[base + j * inner] }
                    for j in 0..<n {
                        let o = base + j * inner
                        px[o] = py[o] * (pg[o] - dot)
                    }
                }
            }
            return [gx]
        }
    }

    /// `x − log(sum(exp(x)))` along `dim` (`torch.log_softmax`). Gradient: `g − exp(y) · Σ g`.
    public func logSoftmax(dim: Int) -> Tensor {
        let d = ShapeMath.normalize(dim: dim, rank: rank, "for log_softmax of shape \(shape)")
        let (outer, n, inner) = Kernels.split(rank == 0 ? [1] : shape, d, d)
        let out = Tensor.empty(shape)
        Kernels.softmaxRows(storage.pointer, out.storage.pointer, outer, n, inner, log: true)
        let y = out.detach()
        return Autograd.record("log_softmax", output: out, inputs: [self]) { g in
            let gx = Tensor.empty(y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, px = gx.storage.pointer
            Parallel.forRanges(outer * inner, costPerItem: 3 * n) { r in
                for row in r {
                    let base = (row / inner) * n * inner + row % inner
                    var sum: Float = 0
                    for j in 0..<n { sum += pg[base + j * inner] }
                    for j in 0..<n {
                        let o = base + j * inner
                        px[o] = pg[o] - Foundation.exp(py[o]) * sum
                    }
                }
            }
            return [gx]
        }
    }
}

extension Kernels {
    /// Softmax (or log-softmax) of every row of the `outer × n × inner` view.
    static func softmaxRows(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ outer: Int, _ n: Int, _ inner: Int,
        log: Bool
    ) {
        Parallel.forRanges(outer * inner, costPerItem: 4 * n) { r in
            for row in r {
                let base = (row / inner) * n * inner + row % inner
                var m = -Float.infinity
                var hasNaN = false
                for j in 0..<n {
                    let v = src[base + j * inner]
                    if v > m { m = v }
                    if v.isNaN { hasNaN = true }
                }
                if hasNaN {
                    for j in 0..<n { dst[base + j * inner] = .nan }
                    continue
                }
                // All -inf (or an empty row): exp(x - m) would be NaN, as in PyTorch.
                var sum: Float = 0
                for j in 0..<n {
                    let o = base + j * inner
                    let e = Foundation.exp(src[o] - m)
                    if !log { dst[o] = e }
                    sum += e
                }
                if log {
                    let lse = m + Foundation.log(sum)
                    for j in 0..<n { dst[base + j * inner] = src[base + j * inner] - lse }
                } else {
                    let inv = 1 / sum
                    for j in 0..<n { dst[base + j * inner] *= inv }
                }
            }
        }
    }
}
