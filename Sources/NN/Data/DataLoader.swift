import TensorEngine

/// Splits a data set into mini-batches, optionally in a seeded random order per epoch
/// (`torch.utils.data.DataLoader` with a seeded generator).
///
/// The order of epoch `e` depends only on `seed` and `e`, so a run is reproducible and can resume
/// at any epoch. Iterating the loader itself walks the epochs in turn: the first `for` loop gets
/// epoch 0, the next epoch 1, and so on.
///
/// ```swift
/// let loader = DataLoader(try Digits.load(.train), batchSize: 32, shuffle: true, seed: 42)
/// for epoch in 0..<10 {
///     for batch in loader.batches(epoch: epoch) {
///         // batch.inputs: [32, 1, 8, 8], batch.labels: [Int]
///     }
/// }
/// ```
public final class DataLoader<Source: Dataset>: Sequence {
    public let dataset: Source
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    /// Whether a last, smaller batch is dropped.
    public let dropLast: Bool
    /// The epoch the next `for batch in loader` loop will use.
    public private(set) var nextEpoch = 0

    /// - Parameters:
    ///   - dataset: the examples.
    ///   - batchSize: examples per batch (the last may be smaller unless `dropLast`).
    ///   - shuffle: whether each epoch visits the examples in a seeded random order.
    ///   - seed: the seed of the shuffles.
    ///   - dropLast: whether to drop a last, incomplete batch.
    public init(_ dataset: Source, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false) {
        precondition(batchSize > 0, "DataLoader: batchSize must be > 0, got \(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
    }

    /// Number of batches per epoch.
    public var batchCount: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The example order of `epoch`: `0..<count`, or a permutation drawn from a generator seeded
    /// with `seed` and `epoch`.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<dataset.count) }
        let generator = RandomGenerator(seed: seed &+ UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15)
        return generator.permutation(dataset.count)
    }

    /// The batches of `epoch`; each is made when it is accessed.
    public func batches(epoch: Int) -> Batches<Source> {
        Batches(dataset: dataset, order: order(epoch: epoch), batchSize: batchSize, count: batchCount)
    }

    /// The batches of the next epoch (see ``nextEpoch``).
    public func makeIterator() -> IndexingIterator<Batches<Source>> {
        defer { nextEpoch += 1 }
        return batches(epoch: nextEpoch).makeIterator()
    }
}

/// The batches of one epoch, made on access: `batches[i]` copies the examples of batch `i`.
public struct Batches<Source: Dataset>: RandomAccessCollection {
    let dataset: Source
    /// The example order of the epoch.
    public let order: [Int]
    let batchSize: Int
    /// Number of batches.
    public let count: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Batch {
        precondition(position >= 0 && position < count, "Batches: index \(position) out of range 0..<\(count)")
        let start = position * batchSize
        return dataset.batch(at: Array(order[start..<Swift.min(start + batchSize, order.count)]))
    }
}
