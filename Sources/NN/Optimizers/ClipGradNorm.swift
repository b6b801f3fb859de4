import Foundation
import TensorEngine

/// Rescales the gradients of `parameters` so that their joint norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`), and returns the norm before clipping.
///
/// The norm is taken over all gradients together as one vector: `normType` 2 (Euclidean, the
/// default), any `p ≥ 1`, or `.infinity` (largest magnitude). Every gradient is multiplied by
/// `min(1, maxNorm / (norm + 1e-6))`. Parameters without a gradient are ignored.
///
/// ```swift
/// loss.backward()
/// clipGradNorm(model.parameters(), maxNorm: 1)
/// optimizer.step()
/// ```
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float, normType: Float = 2) -> Float {
    precondition(maxNorm >= 0, "clipGradNorm: maxNorm must be >= 0, got \(maxNorm)")
    precondition(normType >= 1, "clipGradNorm: normType must be >= 1 or .infinity, got \(normType)")
    let grads = parameters.compactMap(\.grad)
    if grads.isEmpty { return 0 }
    var total: Double = 0
    for g in grads {
        let p = g.storage.pointer
        for i in 0..<g.count {
            let a = Double(abs(p[i]))
            if normType == .infinity {
                total = max(total, a)
            } else {
                total += normType == 2 ? a * a : Foundation.pow(a, Double(normType))
            }
        }
    }
    if normType != .infinity { total = normType == 2 ? total.squareRoot() : Foundation.pow(total, 1 / Double(normType)) }
    let norm = Float(total)
    let coefficient = min(1, maxNorm / (norm + 1e-6))
    for g in grads {
        let p = g.storage.pointer
        for i in 0..<g.count { p[i] *= coefficient }
    }
    return norm
}
