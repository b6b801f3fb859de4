import Foundation

/// A small process-wide cache of scratch buffers (im2col columns, selection copies, ...), so hot
/// loops reuse memory that is already mapped instead of page-faulting fresh allocations.
///
/// Buffers are handed out exclusively (thread-safe) and returned when the closure ends; at most
/// `maxCached` buffers are kept. Large ones come from (and an evicted one returns to)
/// `CachingAllocator.shared`, so its statistics count them too.
enum Workspace {
    private static let lock = NSLock()
    /// `mapped`: the class size from the caching allocator, 0 for a `malloc`'d buffer.
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int, mapped: Int)] = []
    private static let maxCached = 16

    /// Runs `body` with an uninitialised buffer of at least `count` floats (64-byte aligned).
    static func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let (p, cap, mapped) = take(Swift.max(count, 1))
        defer { give(p, cap, mapped) }
        return try body(p)
    }

    private static func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int, Int) {
        lock.lock()
        var best = -1
        for (i, b) in free.enumerated() where b.capacity >= count {
            if best < 0 || b.capacity < free[best].capacity { best = i }
        }
        if best >= 0 {
            let b = free.remove(at: best)
            lock.unlock()
            return (b.pointer, b.capacity, b.mapped)
        }
        lock.unlock()
        let bytes = count * MemoryLayout<Float>.stride
        if let (raw, size) = CachingAllocator.shared.allocate(bytes) {
            let capacity = size / MemoryLayout<Float>.stride
            return (raw.bindMemory(to: Float.self, capacity: capacity), capacity, size)
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: count), count, 0)
    }

    private static func give(_ p: UnsafeMutablePointer<Float>, _ cap: Int, _ mapped: Int) {
        lock.lock()
        free.append((p, cap, mapped))
        var evicted: (pointer: UnsafeMutablePointer<Float>, capacity: Int, mapped: Int)? = nil
        if free.count > maxCached {
            // Drop the smallest buffer.
            let i = free.indices.min { free[$0].capacity < free[$1].capacity }!
            evicted = free.remove(at: i)
        }
        lock.unlock()
        guard let evicted else { return }
        if evicted.mapped > 0 {
            CachingAllocator.shared.deallocate(UnsafeMutableRawPointer(evicted.pointer), size: evicted.mapped)
        } else {
            UnsafeMutableRawPointer(evicted.pointer).deallocate()
        }
    }
}
