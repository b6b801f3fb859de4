import TensorEngine

/// Cross-entropy between logits and class indices (`torch.nn.CrossEntropyLoss`):
/// `logsumexp(logits) − logits[target]` per sample, reduced by `reduction`.
///
/// Shapes: logits `[N, C]` (or `[N, C, d1, ...]`), targets `N` (or `N·d1·…`) indices in `0..<C`.
///
/// ```swift
/// let loss = CrossEntropyLoss()(model(batch.inputs), batch.labels)
/// loss.backward()
/// ```
public struct CrossEntropyLoss: Sendable {
    /// How per-sample losses are combined: `.mean` (default), `.sum` or `.none`.
    public var reduction: LossReduction

    public init(reduction: LossReduction = .mean) { self.reduction = reduction }

    /// The loss of `logits` against class indices `targets`.
    public func callAsFunction(_ logits: Tensor, _ targets: [Int]) -> Tensor {
        Tensor.crossEntropy(logits, targets: targets, reduction: reduction)
    }

    /// Targets as a tensor of whole numbers.
    public func callAsFunction(_ logits: Tensor, _ targets: Tensor) -> Tensor {
        Tensor.crossEntropy(logits, targets: targets, reduction: reduction)
    }
}

/// Mean squared error `(input − target)²` reduced by `reduction` (`torch.nn.MSELoss`).
public struct MSELoss: Sendable {
    /// How per-element losses are combined: `.mean` (default), `.sum` or `.none`.
    public var reduction: LossReduction

    public init(reduction: LossReduction = .mean) { self.reduction = reduction }

    /// The loss of `input` against `target` (shapes broadcast).
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        Tensor.mseLoss(input, target, reduction: reduction)
    }
}
