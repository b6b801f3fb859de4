import Foundation

/// How a loss combines its per-element values (`reduction=` in PyTorch).
public enum LossReduction: Sendable {
    /// The average (PyTorch's default).
    case mean
    /// The sum.
    case sum
    /// No reduction: one loss per sample (per element for MSE).
    case none
}

extension Tensor {
    /// Cross-entropy of `logits` (`[N, C]`, or `[N, C, d1, ...]` with classes along dimension 1)
    /// against class indices `targets` (`N·d1·…` values in `0..<C`), as
    /// `torch.nn.functional.cross_entropy`: `logsumexp(logits) − logits[target]` per sample,
    /// then `reduction`. Differentiable in `logits` (gradient `softmax − onehot`).
    public static func crossEntropy(_ logits: Tensor, targets: [Int], reduction: LossReduction = .mean) -> Tensor {
        precondition(logits.rank >= 2, "crossEntropy: logits must be [N, C, ...], got shape \(logits.shape)")
        let n = logits.shape[0], c = logits.shape[1]
        let inner = logits.shape.dropFirst(2).reduce(1, *)
        let samples = n * inner
        precondition(
            targets.count == samples,
            "crossEntropy: \(targets.count) targets for logits of shape \(logits.shape) (expected \(samples))")
        for t in targets { precondition(t >= 0 && t < c, "crossEntropy: target class \(t) out of range 0..<\(c) (logits \(logits.shape))") }
        // Per-sample log-sum-exp and loss.
        let lse = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(samples, 1))
        let losses = Tensor.empty([samples])
        let px = logits.storage.pointer, pl = losses.storage.pointer
        for s in 0..<samples {
            let base = (s / inner) * c * inner + s % inner
            var m = -Float.infinity
            for j in 0..<c { m = Swift.max(m, px[base + j * inner]) }
            var sum: Float = 0
            for j in 0..<c { sum += Foundation.exp(px[base + j * inner] - m) }
            lse[s] = m + Foundation.log(sum)
            pl[s] = lse[s] - px[base + targets[s] * inner]
        }
        let out: Tensor
        switch reduction {
        case .none: out = Tensor(shape: [n] + Array(logits.shape.dropFirst(2)), storage: losses.storage)
        case .sum: out = Tensor(Float(losses.scalars.reduce(0.0) { $0 + Double($1) }))
        case .mean: out = Tensor(Float(losses.scalars.reduce(0.0) { $0 + Double($1) } / Double(samples)))  // NaN when empty, as PyTorch
        }
        let saved = logits.detach()
        let lseBox = FloatBuffer(lse)
        return Autograd.record("cross_entropy", output: out, inputs: [logits]) { g in
            let gx = Tensor.empty(saved.shape)
            let pg = g.storage.pointer, po = gx.storage.pointer, pin = saved.storage.pointer
            let l = lseBox.pointer
            for s in 0..<samples {
                let scale: Float
                switch reduction {
                case .none: scale = pg[s]
                case .sum: scale = pg[0]
                case .mean: scale = pg[0] / Float(samples)
                }
                let base = (s / inner) * c * inner + s % inner
                for j in 0..<c {
                    let o = base + j * inner
                    let p = Foundation.exp(pin[o] - l[s])
                    po[o] = (p - (j == targets[s] ? 1 : 0)) * scale
                }
            }
            return [gx]
        }
    }

    /// Cross-entropy with class indices given as a tensor of whole numbers (as PyTorch's int64
    /// targets).
    public static func crossEntropy(_ logits: Tensor, targets: Tensor, reduction: LossReduction = .mean) -> Tensor {
        let t = targets.scalars.map { v -> Int in
            precondition(v == v.rounded(), "crossEntropy: target \(v) is not a class index")
            return Int(v)
        }
        return crossEntropy(logits, targets: t, reduction: reduction)
    }

    /// Mean squared error `(input − target)²` with `reduction` (`torch.nn.functional.mse_loss`);
    /// shapes broadcast. Differentiable in both arguments.
    public static func mseLoss(_ input: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
        if input.shape != target.shape {
            let d = input - target
            let sq = d * d
            switch reduction {
            case .none: return sq
            case .sum: return sq.sum()
            case .mean: return sq.mean()
            }
        }
        let n = input.count
        let pa = input.storage.pointer, pb = target.storage.pointer
        let out: Tensor
        if reduction == .none {
            out = Tensor.empty(input.shape)
            let po = out.storage.pointer
            for i in 0..<n { let d = pa[i] - pb[i]; po[i] = d * d }
        } else {
            var acc: Double = 0
            for i in 0..<n { let d = Double(pa[i] - pb[i]); acc += d * d }
            out = Tensor(Float(reduction == .mean ? acc / Double(n) : acc))
        }
        let a = input.detach(), b = target.detach()
        let needA = input.requiresGrad, needB = target.requiresGrad
        return Autograd.record("mse_loss", output: out, inputs: [input, target]) { g in
            let ga = Tensor.empty(a.shape)
            let pga = ga.storage.pointer, pg = g.storage.pointer
            let pa = a.storage.pointer, pb = b.storage.pointer
            if reduction == .none {
                for i in 0..<n { pga[i] = 2 * (pa[i] - pb[i]) * pg[i] }
            } else {
                let s = 2 * pg[0] / (reduction == .mean ? Float(n) : 1)
                for i in 0..<n { pga[i] = (pa[i] - pb[i]) * s }
            }
            return [needA ? ga : nil, needB ? -ga : nil]
        }
    }
}

/// Owns a float buffer kept alive by a backward closure.
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}
