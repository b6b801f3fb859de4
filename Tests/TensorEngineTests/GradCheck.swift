import Testing
@testable import TensorEngine

/// Central finite-difference check of `f` (which must return a scalar-valued loss) against
/// autograd, in float32 with step `eps`. Reports the worst element at the caller.
func gradCheck(
    _ inputs: [Tensor], eps: Float = 1e-2, tol: Float = 2e-2,
    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor
) {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let loss = f(inputs)
    loss.backward()
    for (k, x) in inputs.enumerated() {
        let analytic = x.grad?.scalars ?? [Float](repeating: 0, count: x.count)
        var worst: (Int, Float, Float)? = nil
        for i in 0..<x.count {
            let orig = x.storage.pointer[i]
            x.storage.pointer[i] = orig + eps
            let up = Autograd.noGrad { Double(f(inputs).item()) }
            x.storage.pointer[i] = orig - eps
            let down = Autograd.noGrad { Double(f(inputs).item()) }
            x.storage.pointer[i] = orig
            let numeric = Float((up - down) / Double(2 * eps))
            let err = abs(numeric - analytic[i]) / max(1, abs(numeric))
            if err > tol && (worst == nil || err > abs(worst!.1 - worst!.2)) { worst = (i, numeric, analytic[i]) }
        }
        #expect(worst == nil, "input \(k) element \(worst?.0 ?? -1): numeric \(worst?.1 ?? 0) vs autograd \(worst?.2 ?? 0)", sourceLocation: sourceLocation)
    }
}

/// A deterministic random tensor.
func randn(_ shape: [Int], seed: UInt64 = 1) -> Tensor { RandomGenerator(seed: seed).normal(shape) }
