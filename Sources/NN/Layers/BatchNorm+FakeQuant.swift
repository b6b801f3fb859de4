import TensorEngine

extension BatchNorm {
    /// `FakeQuant(self(x))` as one fused op (`Tensor.batchNormFakeQuant(relu: false)`), for a
    /// signed per-tensor quantizer that is the only consumer of this layer's output (the input
    /// quantizer of a residual addition after conv → BN): the same values, input and affine
    /// gradients and running statistics as the layer then `FakeQuantize.apply`, no intermediate
    /// tensor. `nil` when training with synchronised statistics (apply the layers one by one then).
    public func forwardFakeQuant(_ x: Tensor, quant: FakeQuantEpilogue) -> Tensor? {
        if training && synchronizedNormalization != nil { return nil }
        checkInput(x)
        let factor = countBatch()
        let useRunning = trackRunningStats
        return Tensor.batchNormFakeQuant(
            x, runningMean: useRunning ? runningMean : nil, runningVar: useRunning ? runningVar : nil, weight: weight,
            bias: bias, training: training || !trackRunningStats, momentum: factor, eps: eps, relu: false, quant: quant)
    }
}
