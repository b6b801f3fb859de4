import Foundation

/// A contiguous, 64-byte aligned buffer of `Float` shared by a tensor and its reshaped views.
///
/// Storage is a reference type: `reshape`/`view` return tensors that share it, exactly like
/// PyTorch views of a contiguous tensor. All other shape operations copy.
///
/// Buffers of 64 KB and more come from `CachingAllocator.current` (the shared one unless a task
/// binds another), which maps them (with transparent huge pages from 4 MB) and keeps freed ones
/// for reuse, so hot loops do not page-fault; smaller ones from `malloc`.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the buffer (`count` elements, never `nil`, also for empty tensors).
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int
    private let allocator: CachingAllocator?  // where the buffer returns; nil for malloc'd ones
    private let allocation: Int  // class size in bytes from the allocator

    /// Allocates uninitialised memory for `count` floats.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let source = bytes >= CachingAllocator.threshold ? CachingAllocator.current : nil
        if let source, let (raw, size) = source.allocate(bytes) {
            allocator = source
            allocation = size
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        } else {
            allocator = nil
            allocation = 0
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        }
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

    deinit {
        if let allocator {
            allocator.deallocate(UnsafeMutableRawPointer(pointer), size: allocation)
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }

    /// The elements as a buffer pointer (valid while the storage is alive).
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
