import NN
import TensorEngine

/// The training pieces a replay needs, from NN, the same code `brevitas train` runs: gradients
/// as `torch.autograd.grad` returns them, NN's `SGD` optimizer and NN's `CrossEntropyLoss`.
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

    /// Plain SGD over `params` (`torch.optim.SGD(params, lr)`: no momentum, no weight decay);
    /// `lr` is taken as float32.
    static func optimizer(_ params: [Tensor], lr: Double) -> SGD {
        SGD(params, learningRate: Float(lr))
    }

    /// One optimizer step with the given gradients (`nil`: the parameter is not updated), as
    /// the reference sets `p.grad` and calls `opt.step()`, then clears the gradients.
    static func step(_ optimizer: SGD, grads: [Tensor?]) {
        precondition(grads.count == optimizer.parameters.count,
                     "\(grads.count) gradients for \(optimizer.parameters.count) parameters")
        for (p, g) in zip(optimizer.parameters, grads) { p.grad = g }
        optimizer.step()
        optimizer.zeroGrad()
    }

    /// The QAT loss: mean cross-entropy of `logits` `[N, C]` against class indices (NN's
    /// `CrossEntropyLoss`, as the CLI trainer).
    static let crossEntropy = CrossEntropyLoss(reduction: .mean)
}
