/// Batch normalisation over the channel dimension 1 of `[N, C, ...]` inputs
/// (`torch.nn.functional.batch_norm`), with gradients for the input, weight and bias.
extension Tensor {
    /// Normalises each channel of `x` (`[N, C]`, `[N, C, L]` or `[N, C, H, W]`).
    ///
    /// - Training: uses the batch mean and biased variance over `N` and the spatial dimensions;
    ///   when given, `runningMean`/`runningVar` (`[C]`) are updated in place (outside autograd)
    ///   as `(1 − momentum)·running + momentum·batch`, with the unbiased batch variance.
    /// - Evaluation (`training: false`): uses `runningMean`/`runningVar`, which must be given.
    ///
    /// `y = (x − mean) / sqrt(var + eps) · weight + bias`; `weight`/`bias` (`[C]`) are optional.
    public static func batchNorm(
        _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5
    ) -> Tensor {
        precondition(x.rank >= 2, "batchNorm: input must be [N, C, ...], got shape \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        let s = x.shape.dropFirst(2).reduce(1, *)
        let m = n * s
        for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
            if let t { precondition(t.count == c, "batchNorm: \(name) of shape \(t.shape) does not match \(c) channels of input \(x.shape)") }
        }
        var meanBuf = [Float](repeating: 0, count: c), invstdBuf = [Float](repeating: 0, count: c)
        let px = x.storage.pointer
        if training {
            precondition(m > 1 || n == 0, "batchNorm: expected more than 1 value per channel when training, got input of shape \(x.shape)")
            meanBuf.withUnsafeMutableBufferPointer { mb in
                invstdBuf.withUnsafeMutableBufferPointer { ib in
                    let mp = mb.baseAddress!, ip = ib.baseAddress!
                    Parallel.forRanges(c, costPerItem: 2 * m) { r in
                        for ch in r {
                            var sum: Double = 0
                            for b in 0..<n {
                                let p = px + (b * c + ch) * s
                                var part: Float = 0
                                for j in 0..<s { part += p[j] }
                                sum += Double(part)
                            }
                            let mu = m > 0 ? sum / Double(m) : 0
                            var sq: Double = 0
                            let muF = Float(mu)
                            for b in 0..<n {
                                let p = px + (b * c + ch) * s
                                var part: Float = 0
                                for j in 0..<s { let d = p[j] - muF; part += d * d }
                                sq += Double(part)
                            }
                            let variance = m > 0 ? sq / Double(m) : 0
                            mp[ch] = muF
                            ip[ch] = Float(1 / (variance + Double(eps)).squareRoot())
                            // Running statistics (unbiased variance).
                            if let runningMean, m > 0 {
                                let rm = runningMean.storage.pointer
                                rm[ch] = (1 - momentum) * rm[ch] + momentum * muF
                            }
                            if let runningVar, m > 1 {
                                let rv = runningVar.storage.pointer
                                rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(variance * Double(m) / Double(m - 1))
                            }
                        }
                    }
                }
            }
        } else {
            guard let runningMean, let runningVar else {
                preconditionFailure("batchNorm: evaluation mode needs runningMean and runningVar")
            }
            for ch in 0..<c {
                meanBuf[ch] = runningMean.storage.pointer[ch]
                invstdBuf[ch] = 1 / (runningVar.storage.pointer[ch] + eps).squareRoot()
            }
        }
        let out = Tensor.empty(x.shape)
        let po = out.storage.pointer
        let pw = weight?.storage.pointer, pb = bias?.storage.pointer
        meanBuf.withUnsafeBufferPointer { mb in
            invstdBuf.withUnsafeBufferPointer { ib in
                let mp = mb.baseAddress!, ip = ib.baseAddress!
                Parallel.forRanges(n * c, costPerItem: s) { r in
                    for plane in r {
                        let ch = plane % c
                        let scale = ip[ch] * (pw?[ch] ?? 1)
                        let shift = (pb?[ch] ?? 0) - mp[ch] * scale
                        let src = px + plane * s, dst = po + plane * s
                        for j in 0..<s { dst[j] = src[j] * scale + shift }
                    }
                }
            }
        }
        let savedX = x.detach(), savedW = weight?.detach()
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasW = weight != nil, hasB = bias != nil
        return Autograd.record("batch_norm", output: out, inputs: inputs) { g in
            let pg = g.storage.pointer, px = savedX.storage.pointer
            let pw = savedW?.storage.pointer
            let gx = needX ? Tensor.empty(savedX.shape) : nil
            let gw = Tensor.empty([c]), gb = Tensor.empty([c])
            let pgx = gx?.storage.pointer, pgw = gw.storage.pointer, pgb = gb.storage.pointer
            meanBuf.withUnsafeBufferPointer { mb in
                invstdBuf.withUnsafeBufferPointer { ib in
                    let mp = mb.baseAddress!, ip = ib.baseAddress!
                    Parallel.forRanges(c, costPerItem: 3 * m) { r in
                        for ch in r {
                            let mu = mp[ch], inv = ip[ch]
                            // Σg and Σ g·x̂ over the channel.
                            var sumG: Double = 0, sumGX: Double = 0
                            for b in 0..<n {
                                let gp = pg + (b * c + ch) * s, xp = px + (b * c + ch) * s
                                var a: Float = 0, bb: Float = 0
                                for j in 0..<s {
                                    a += gp[j]
                                    bb += gp[j] * (xp[j] - mu)
                                }
                                sumG += Double(a)
                                sumGX += Double(bb)
                            }
                            sumGX *= Double(inv)
                            pgb[ch] = Float(sumG)
                            pgw[ch] = Float(sumGX)
                            guard let pgx else { continue }
                            let w = pw?[ch] ?? 1
                            if training {
                                let k = w * inv
                                let meanG = Float(sumG / Double(m)), meanGX = Float(sumGX / Double(m))
                                for b in 0..<n {
                                    let o = (b * c + ch) * s
                                    for j in 0..<s {
                                        let xhat = (px[o + j] - mu) * inv
                                        pgx[o + j] = k * (pg[o + j] - meanG - xhat * meanGX)
                                    }
                                }
                            } else {
                                let k = w * inv
                                for b in 0..<n {
                                    let o = (b * c + ch) * s
                                    for j in 0..<s { pgx[o + j] = pg[o + j] * k }
                                }
                            }
                        }
                    }
                }
            }
            var grads: [Tensor?] = [gx]
            if hasW { grads.append(needW ? gw : nil) }
            if hasB { grads.append(needB ? gb : nil) }
            return grads
        }
    }
}
