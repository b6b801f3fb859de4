/// Inverted dropout (`torch.nn.functional.dropout`).
extension Tensor {
    /// Zeroes each element with probability `p` and scales the rest by `1/(1 − p)` when
    /// `training`; the identity otherwise (or when `p == 0`). The mask is drawn sequentially from
    /// `generator` (default: the global one), so a seed gives the same mask on any thread count.
    /// The gradient is masked and scaled the same way.
    public func dropout(p: Float, training: Bool = true, generator: RandomGenerator? = nil) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: probability p = \(p) must be in [0, 1]")
        if !training || p == 0 { return self }
        let rng = generator ?? RandomGenerator.global
        let mask = Tensor.empty(shape)
        let pm = mask.storage.pointer
        let scale: Float = p == 1 ? 0 : 1 / (1 - p)
        for i in 0..<count { pm[i] = rng.nextUniform() < p ? 0 : scale }
        let out = Autograd.noGrad { Kernels.zip(self, mask, MulOp()) }
        return Autograd.record("dropout", output: out, inputs: [self]) { g in [Kernels.zip(g, mask, MulOp())] }
    }
}
