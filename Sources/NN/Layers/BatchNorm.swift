import TensorEngine

/// Batch normalisation over the channel dimension 1 (`torch.nn.BatchNorm1d/2d`); use
/// ``BatchNorm1d`` or ``BatchNorm2d``, which add the input-rank check.
///
/// `y = (x − mean) / √(var + eps) · weight + bias` per channel.
/// - Training mode: `mean` and the biased `var` of the batch (over `N` and the spatial
///   dimensions); with `trackRunningStats` the running statistics are updated as
///   `(1 − momentum)·running + momentum·batch` (unbiased batch variance) and
///   `num_batches_tracked` counts the batches. `momentum: nil` is a cumulative average
///   (factor `1/num_batches_tracked`).
/// - Evaluation mode: the running statistics (or the batch's, without `trackRunningStats`).
///
/// State-dict keys as PyTorch: `weight`, `bias` (with `affine`), `running_mean`, `running_var`,
/// `num_batches_tracked` (with `trackRunningStats`; saved as a float scalar).
open class BatchNorm: Module, Layer {
    public let numFeatures: Int
    public let eps: Float
    /// The running-statistics factor; `nil` for a cumulative average.
    public let momentum: Float?
    public let affine: Bool
    public let trackRunningStats: Bool
    /// `[numFeatures]`, ones initially; `nil` without `affine`.
    public let weight: Tensor?
    /// `[numFeatures]`, zeros initially; `nil` without `affine`.
    public let bias: Tensor?
    /// `[numFeatures]`, zeros initially; `nil` without `trackRunningStats`.
    public let runningMean: Tensor?
    /// `[numFeatures]`, ones initially; `nil` without `trackRunningStats`.
    public let runningVar: Tensor?
    /// A scalar: the number of training batches seen; `nil` without `trackRunningStats`.
    public let numBatchesTracked: Tensor?
    /// Training-mode normalisation with batch statistics taken over more than this process's
    /// batch (the `Distributed` library's synchronised BatchNorm sets it); it receives what
    /// `Tensor.batchNorm` would, with the running statistics to update. `nil`: local statistics.
    public var synchronizedNormalization: ((_ x: Tensor, _ runningMean: Tensor?, _ runningVar: Tensor?, _ weight: Tensor?,
                                            _ bias: Tensor?, _ momentum: Float, _ eps: Float) -> Tensor)?

    /// - Parameters:
    ///   - numFeatures: the number of channels `C`.
    ///   - eps: added to the variance for stability.
    ///   - momentum: running-statistics factor; `nil` for a cumulative average.
    ///   - affine: whether to learn `weight` and `bias`.
    ///   - trackRunningStats: whether to keep running statistics for evaluation mode.
    public init(
        numFeatures: Int, eps: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true, trackRunningStats: Bool = true
    ) {
        precondition(numFeatures > 0, "\(Self.self): numFeatures must be positive, got \(numFeatures)")
        precondition(eps > 0, "\(Self.self): eps must be > 0, got \(eps)")
        if let momentum { precondition(momentum >= 0 && momentum <= 1, "\(Self.self): momentum must be in [0, 1], got \(momentum)") }
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.trackRunningStats = trackRunningStats
        weight = affine ? Tensor.ones([numFeatures]) : nil
        bias = affine ? Tensor.zeros([numFeatures]) : nil
        runningMean = trackRunningStats ? Tensor.zeros([numFeatures]) : nil
        runningVar = trackRunningStats ? Tensor.ones([numFeatures]) : nil
        numBatchesTracked = trackRunningStats ? Tensor(0) : nil
        super.init()
        if let weight, let bias {
            registerParameter("weight", weight)
            registerParameter("bias", bias)
        }
        if let runningMean, let runningVar, let numBatchesTracked {
            registerBuffer("running_mean", runningMean)
            registerBuffer("running_var", runningVar)
            registerBuffer("num_batches_tracked", numBatchesTracked)
        }
    }

    /// `BatchNorm2d(numFeatures)`.
    public convenience init(_ numFeatures: Int) { self.init(numFeatures: numFeatures) }

    /// Checks the input rank; overridden by ``BatchNorm1d`` and ``BatchNorm2d``.
    open func checkInput(_ x: Tensor) {
        precondition(x.rank >= 2 && x.shape[1] == numFeatures, "\(typeName): expected [N, \(numFeatures), ...], got \(x.shape)")
    }

    open func callAsFunction(_ x: Tensor) -> Tensor { apply(x, relu: false) }

    /// `relu(self(x))` as one fused op (`Tensor.batchNorm(relu: true)`), for a ReLU that is the
    /// only consumer of this layer's output: the same values and gradients, two passes over
    /// memory fewer each way.
    public func forwardReLU(_ x: Tensor) -> Tensor { apply(x, relu: true) }

    /// `FakeQuant(relu(self(x)))` as one fused op (`Tensor.batchNormReLUFakeQuant`), for a
    /// quantized ReLU that is the only consumer of this layer's output: the same values, input
    /// and affine gradients and running statistics, no intermediate tensor, two passes over
    /// memory fewer forward and three backward. `nil` when training with synchronised statistics
    /// (apply the layers one by one then).
    public func forwardReLUFakeQuant(_ x: Tensor, quant: FakeQuantEpilogue) -> Tensor? {
        if training && synchronizedNormalization != nil { return nil }
        checkInput(x)
        let factor = countBatch()
        let useRunning = trackRunningStats
        return Tensor.batchNormReLUFakeQuant(
            x, runningMean: useRunning ? runningMean : nil, runningVar: useRunning ? runningVar : nil, weight: weight,
            bias: bias, training: training || !trackRunningStats, momentum: factor, eps: eps, quant: quant)
    }

    /// Counts a training batch (`num_batches_tracked`) and returns the running-statistics factor.
    func countBatch() -> Float {
        var factor = momentum ?? 0
        if training && trackRunningStats, let count = numBatchesTracked {
            count.storage.pointer[0] += 1
            if momentum == nil { factor = 1 / count.item() }
        }
        return factor
    }

    func apply(_ x: Tensor, relu: Bool) -> Tensor {
        checkInput(x)
        let factor = countBatch()
        let useRunning = trackRunningStats
        if training, let synchronizedNormalization {
            let y = synchronizedNormalization(x, useRunning ? runningMean : nil, useRunning ? runningVar : nil, weight, bias, factor, eps)
            return relu ? y.relu() : y
        }
        return Tensor.batchNorm(
            x, runningMean: useRunning ? runningMean : nil, runningVar: useRunning ? runningVar : nil, weight: weight,
            bias: bias, training: training || !trackRunningStats, momentum: factor, eps: eps, relu: relu)
    }

    open override var extraRepr: String {
        "\(numFeatures), eps=\(PythonRepr.float(eps)), momentum=\(momentum.map(PythonRepr.float) ?? "None"), "
            + "affine=\(PythonRepr.bool(affine)), track_running_stats=\(PythonRepr.bool(trackRunningStats))"
    }
}

/// Batch normalisation of `[N, C]` or `[N, C, L]` inputs (`torch.nn.BatchNorm1d`); see
/// ``BatchNorm``.
open class BatchNorm1d: BatchNorm {
    open override func checkInput(_ x: Tensor) {
        precondition((x.rank == 2 || x.rank == 3) && x.shape[1] == numFeatures,
                     "BatchNorm1d: expected [N, \(numFeatures)] or [N, \(numFeatures), L], got \(x.shape)")
    }
}

/// Batch normalisation of `[N, C, H, W]` inputs (`torch.nn.BatchNorm2d`); see ``BatchNorm``.
///
/// ```swift
/// let bn = BatchNorm2d(16)
/// print(bn)  // BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
/// ```
open class BatchNorm2d: BatchNorm {
    open override func checkInput(_ x: Tensor) {
        precondition(x.rank == 4 && x.shape[1] == numFeatures, "BatchNorm2d: expected [N, \(numFeatures), H, W], got \(x.shape)")
    }
}
