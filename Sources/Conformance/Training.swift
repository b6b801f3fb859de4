import NN
import TensorEngine

/// The training pieces a replay needs: gradients as `torch.autograd.grad` returns them, the SGD
/// update and the QAT loss.
enum Training {
    /// Gradients of `loss` with respect to `targets` (`nil`: no gradient path, as PyTorch's
    /// `allow_unused=True`). Clears the targets' `grad` first; keeps the graph when `retain`.
    static func gradients(of loss: Tensor, wrt targets: [Tensor], retain: Bool = false) -> [Tensor?] {
        for t in targets { t.grad = nil }
        if loss.requiresGrad { loss.backward(nil, retainGraph: retain) }
        let out = targets.map { $0.grad }
        for t in targets { t.grad = nil }
        return out
    }

    /// `p ← p − lr·g` for every parameter with a gradient, with one rounding per element (the
    /// reference fuses the multiply-add); `lr` is taken as float32.
    static func sgdStep(_ params: [Tensor], _ grads: [Tensor?], lr: Double) {
        let minusLr = -Float(lr)
        for (p, g) in zip(params, grads) {
            guard let g else { continue }
            precondition(g.count == p.count, "gradient of shape \(g.shape) for a parameter of shape \(p.shape)")
            let pp = p.storage.pointer, gp = g.storage.pointer
            for i in 0..<p.count { pp[i] = pp[i].addingProduct(minusLr, gp[i]) }
        }
    }

    /// Mean cross-entropy of `logits` `[N, C]` against class indices `targets` (`N` values):
    /// `mean_i(logsumexp(logits_i) − logits_i[y_i])`, differentiable in `logits`.
    static func crossEntropyMean(_ logits: Tensor, targets: [Int]) -> Tensor {
        precondition(logits.rank == 2 && logits.shape[0] == targets.count,
                     "cross entropy: logits \(logits.shape) for \(targets.count) targets")
        let n = logits.shape[0], c = logits.shape[1]
        let shift = Autograd.noGrad { logits.amax(dims: [1], keepDim: true).detach() }
        let shifted = logits - shift
        let logSumExp = shifted.exp().sum(dims: [1], keepDim: true).log()
        let logProb = shifted - logSumExp
        var oneHot = [Float](repeating: 0, count: n * c)
        for (i, y) in targets.enumerated() {
            precondition(y >= 0 && y < c, "cross entropy: class \(y) out of range 0..<\(c)")
            oneHot[i * c + y] = 1
        }
        return -(logProb * Tensor(shape: [n, c], oneHot)).sum() / Float(n)
    }
}
