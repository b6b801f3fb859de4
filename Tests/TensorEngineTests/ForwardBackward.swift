import Foundation
import Testing
@testable import TensorEngine

/// Runs `f` on fresh leaves made from `inputs` and back-propagates `g`; returns the output and
/// each input's gradient.
func forwardBackward(_ inputs: [Tensor?], g: Tensor, _ f: ([Tensor?]) -> Tensor) -> (Tensor, [Tensor?]) {
    let leaves = inputs.map { $0.map { Tensor(shape: $0.shape, $0.scalars, requiresGrad: true) } }
    let out = f(leaves)
    out.backward(g)
    return (out, leaves.map { $0?.grad })
}
