import Foundation

/// A small process-wide cache of scratch buffers (im2col columns, selection copies, ...), so hot
/// loops reuse memory that is already mapped instead of page-faulting fresh allocations.
///
/// Buffers are handed out exclusively (thread-safe) and returned when the closure ends; at most
/// `maxCached` buffers are kept.
enum Workspace {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private static let maxCached = 16

    /// Runs `body` with an uninitialised buffer of at least `count` floats (64-byte aligned).
    static func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let (p, cap) = take(Swift.max(count, 1))
        defer { give(p, cap) }
        return try body(p)
    }

    private static func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        lock.lock()
        var best = -1
        for (i, b) in free.enumerated() where b.capacity >= count {
            if best < 0 || b.capacity < free[best].capacity { best = i }
        }
        if best >= 0 {
            let b = free.remove(at: best)
            lock.unlock()
            return (b.pointer, b.capacity)
        }
        lock.unlock()
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: count), count)
    }

    private static func give(_ p: UnsafeMutablePointer<Float>, _ cap: Int) {
        lock.lock()
        free.append((p, cap))
        var evicted: UnsafeMutablePointer<Float>? = nil
        if free.count > maxCached {
            // Drop the smallest buffer.
            let i = free.indices.min { free[$0].capacity < free[$1].capacity }!
            evicted = free.remove(at: i).pointer
        }
        lock.unlock()
        if let evicted { UnsafeMutableRawPointer(evicted).deallocate() }
    }
}
