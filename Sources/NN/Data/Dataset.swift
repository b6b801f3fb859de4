import TensorEngine

/// A labelled data set for classification: `count` examples, each an input tensor and a class
/// index (`torch.utils.data.Dataset`).
///
/// Implement ``count`` and ``example(at:)``; ``batch(at:)`` has a default that stacks examples,
/// which an in-memory data set can replace with a copy of rows (``TensorDataset`` does).
public protocol Dataset {
    /// Number of examples.
    var count: Int { get }
    /// The input and class label of example `index` (`0..<count`).
    func example(at index: Int) -> (input: Tensor, label: Int)
    /// The examples at `indices`, stacked along a new first dimension.
    func batch(at indices: [Int]) -> Batch
}

extension Dataset {
    public func batch(at indices: [Int]) -> Batch {
        precondition(!indices.isEmpty, "batch(at:): no indices")
        let examples = indices.map { example(at: $0) }
        return Batch(inputs: Tensor.stack(examples.map(\.input)), labels: examples.map(\.label))
    }
}

/// A mini-batch: inputs `[B, ...]` and their `B` class labels.
public struct Batch {
    /// The stacked inputs, batch dimension first (`[B, C, H, W]` for images).
    public var inputs: Tensor
    /// The class index of each example.
    public var labels: [Int]

    /// A batch of `labels.count` examples; `inputs.shape[0]` must equal it.
    public init(inputs: Tensor, labels: [Int]) {
        precondition(inputs.rank >= 1 && inputs.shape[0] == labels.count, "Batch: \(labels.count) labels for inputs of shape \(inputs.shape)")
        self.inputs = inputs
        self.labels = labels
    }

    /// Number of examples.
    public var count: Int { labels.count }
}

/// A data set held in memory as one tensor of inputs `[N, ...]` and `N` labels
/// (`torch.utils.data.TensorDataset`). Batches are row copies.
///
/// ```swift
/// let data = TensorDataset(inputs: Tensor.zeros([100, 1, 8, 8]), labels: Array(repeating: 0, count: 100))
/// data.batch(at: [3, 1]).inputs.shape  // [2, 1, 8, 8]
/// ```
public struct TensorDataset: Dataset {
    /// All inputs, `[N, ...]`.
    public let inputs: Tensor
    /// All labels.
    public let labels: [Int]

    /// A data set of `labels.count` examples; `inputs.shape[0]` must equal it.
    public init(inputs: Tensor, labels: [Int]) {
        precondition(inputs.rank >= 1 && inputs.shape[0] == labels.count, "TensorDataset: \(labels.count) labels for inputs of shape \(inputs.shape)")
        self.inputs = inputs
        self.labels = labels
    }

    public var count: Int { labels.count }

    /// The shape of one input (`inputs.shape` without the first dimension).
    public var exampleShape: [Int] { Array(inputs.shape.dropFirst()) }

    var rowSize: Int { ShapeMath.count(exampleShape) }

    public func example(at index: Int) -> (input: Tensor, label: Int) {
        let b = batch(at: [index])
        return (b.inputs.reshape(exampleShape), b.labels[0])
    }

    public func batch(at indices: [Int]) -> Batch {
        let row = rowSize
        let out = Tensor.empty([indices.count] + exampleShape)
        let src = inputs.storage.pointer, dst = out.storage.pointer
        for (i, index) in indices.enumerated() {
            precondition(index >= 0 && index < count, "TensorDataset: index \(index) out of range 0..<\(count)")
            (dst + i * row).update(from: src + index * row, count: row)
        }
        return Batch(inputs: out, labels: indices.map { labels[$0] })
    }

    /// The examples at `indices`, in that order, as a new data set.
    public func subset(_ indices: [Int]) -> TensorDataset {
        let b = batch(at: indices)
        return TensorDataset(inputs: b.inputs, labels: b.labels)
    }
}
