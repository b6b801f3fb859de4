#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// A contiguous, 64-byte aligned buffer of `Float` shared by a tensor and its reshaped views.
///
/// Storage is a reference type: `reshape`/`view` return tensors that share it, exactly like
/// PyTorch views of a contiguous tensor. All other shape operations copy.
///
/// Buffers of 64 KB and more come from `StorageAllocator`, which maps them (with transparent huge
/// pages from 4 MB) and keeps freed ones for reuse, so hot loops do not page-fault.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the buffer (`count` elements, never `nil`, also for empty tensors).
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int
    private let allocation: Int  // bytes reserved by StorageAllocator, 0 for small buffers

    /// Allocates uninitialised memory for `count` floats.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if let (raw, size) = StorageAllocator.allocateLarge(bytes) {
            allocation = size
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        } else {
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
        if allocation > 0 {
            StorageAllocator.deallocateLarge(UnsafeMutableRawPointer(pointer), allocation)
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }

    /// The elements as a buffer pointer (valid while the storage is alive).
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}

/// Allocator for tensor buffers of 64 KB and more (Linux): anonymous mappings rounded up to whole
/// 4 KB pages, or, from 4 MB, to 2 MB-aligned whole 2 MB pages advised for transparent huge pages.
/// Freed mappings are cached (up to `cacheLimitBytes`, least recently freed evicted first) and
/// handed out again for requests of the same rounded size, so a training loop that allocates the
/// same shapes every step touches warm memory instead of zero-filling fresh pages (a fresh page
/// costs about as much as a pass over it).
public enum StorageAllocator {
    /// Buffers of at least this many bytes take the mapped, cached path.
    static let threshold = 64 << 10
    /// From this size on, buffers are 2 MB-aligned and advised for huge pages.
    static let hugeThreshold = 4 << 20
    static let page = 2 << 20
    static let smallPage = 4 << 10
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    nonisolated(unsafe) private static var order: [(UnsafeMutableRawPointer, Int)] = []  // oldest first

    /// Most bytes kept in freed buffers for reuse (default 512 MB); 0 disables the cache.
    nonisolated(unsafe) public static var cacheLimitBytes = 512 << 20

    static func allocateLarge(_ bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
        #if os(Linux)
            guard bytes >= threshold else { return nil }
            let huge = bytes >= hugeThreshold
            let unit = huge ? page : smallPage
            let size = (bytes + unit - 1) / unit * unit
            lock.lock()
            if var list = cache[size], let p = list.popLast() {
                cache[size] = list
                cachedBytes -= size
                if let i = order.lastIndex(where: { $0.0 == p }) { order.remove(at: i) }
                lock.unlock()
                return (p, size)
            }
            lock.unlock()
            guard huge else {
                guard let raw = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                    raw != MAP_FAILED
                else { return nil }
                return (raw, size)
            }
            // Over-map by one page to align the start to 2 MB, then unmap the slack.
            let total = size + page
            guard let raw = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                raw != MAP_FAILED
            else { return nil }
            let addr = UInt(bitPattern: raw)
            let aligned = (addr + UInt(page) - 1) / UInt(page) * UInt(page)
            let head = Int(aligned - addr)
            if head > 0 { munmap(raw, head) }
            let tail = total - head - size
            if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(size)), tail) }
            let p = UnsafeMutableRawPointer(bitPattern: aligned)!
            _ = madvise(p, size, 14)  // MADV_HUGEPAGE
            return (p, size)
        #else
            return nil
        #endif
    }

    static func deallocateLarge(_ p: UnsafeMutableRawPointer, _ size: Int) {
        #if os(Linux)
            var evict: [(UnsafeMutableRawPointer, Int)] = []
            lock.lock()
            if size <= cacheLimitBytes {
                cache[size, default: []].append(p)
                order.append((p, size))
                cachedBytes += size
                while cachedBytes > cacheLimitBytes, !order.isEmpty {
                    let (q, s) = order.removeFirst()
                    if var list = cache[s], let i = list.firstIndex(of: q) {
                        list.remove(at: i)
                        cache[s] = list
                    }
                    cachedBytes -= s
                    evict.append((q, s))
                }
            } else {
                evict.append((p, size))
            }
            lock.unlock()
            for (q, s) in evict { munmap(q, s) }
        #endif
    }

    /// Unmaps every cached buffer.
    public static func releaseCache() {
        #if os(Linux)
            lock.lock()
            let all = order
            order = []
            cache = [:]
            cachedBytes = 0
            lock.unlock()
            for (q, s) in all { munmap(q, s) }
        #endif
    }
}
