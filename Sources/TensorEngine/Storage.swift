/// A contiguous, 64-byte aligned buffer of `Float` shared by a tensor and its reshaped views.
///
/// Storage is a reference type: `reshape`/`view` return tensors that share it, exactly like
/// PyTorch views of a contiguous tensor. All other shape operations copy.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the buffer (`count` elements, never `nil`, also for empty tensors).
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int

    /// Allocates uninitialised memory for `count` floats.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates memory filled with `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    /// Copies `array` into new storage.
    public convenience init(_ array: [Float]) {
        self.init(uninitializedCount: array.count)
        array.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.initialize(from: base, count: array.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// The elements as a buffer pointer (valid while the storage is alive).
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
