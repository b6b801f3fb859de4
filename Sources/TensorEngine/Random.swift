import Foundation

/// A seeded, reproducible pseudo-random generator (xoshiro256** seeded by SplitMix64).
///
/// Draws are sequential, so a seed gives the same tensors whatever the thread count. A generator
/// may be shared between threads (tests build layers concurrently from `global`): every public
/// method holds a lock for the duration of its draws.
public final class RandomGenerator: @unchecked Sendable {
    var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private let lock = NSLock()

    @inline(__always) func locked<R>(_ body: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// A generator seeded with `seed`.
    public init(seed: UInt64) { reseedUnlocked(seed) }

    /// Restarts the sequence from `seed`.
    public func reseed(_ seed: UInt64) { locked { reseedUnlocked(seed) } }

    func reseedUnlocked(_ seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    @inline(__always) func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits.
    public func next() -> UInt64 { locked { nextUnlocked() } }

    @inline(__always) func nextUnlocked() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public func nextUniform() -> Float { locked { uniformUnlocked() } }

    @inline(__always) func uniformUnlocked() -> Float { Float(nextUnlocked() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box–Muller, computed in double precision).
    public func nextNormal() -> Float { locked { normalUnlocked() } }

    func normalUnlocked() -> Float {
        var u1 = Double(nextUnlocked() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(nextUnlocked() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// A random integer in `0..<upperBound`.
    public func nextInt(_ upperBound: Int) -> Int {
        precondition(upperBound > 0, "nextInt: upper bound must be positive")
        return Int(locked { nextUnlocked() } % UInt64(upperBound))
    }

    /// A seeded permutation of `0..<n` (Fisher–Yates).
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        locked {
            if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, Int(nextUnlocked() % UInt64(i + 1))) } }
        }
        return p
    }

    /// Uniform samples in `[low, high)`.
    public func uniform(_ shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
        let t = Tensor.empty(shape)
        let p = t.storage.pointer
        locked { for i in 0..<t.count { p[i] = low + (high - low) * uniformUnlocked() } }
        return t
    }

    /// Normal samples with `mean` and `std`.
    public func normal(_ shape: [Int], mean: Float = 0, std: Float = 1) -> Tensor {
        let t = Tensor.empty(shape)
        let p = t.storage.pointer
        locked { for i in 0..<t.count { p[i] = mean + std * normalUnlocked() } }
        return t
    }

    /// Fan-in and fan-out of a weight shape (`[out, in, k...]`), as PyTorch computes them.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fan computation needs a weight of rank >= 2, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Kaiming-uniform initialisation (`torch.nn.init.kaiming_uniform_`, leaky-ReLU gain with
    /// slope `a`, fan-in mode). PyTorch layers use `a = √5`, i.e. bound = 1/√fan_in.
    public func kaimingUniform(_ shape: [Int], a: Float = Float(5).squareRoot()) -> Tensor {
        let fanIn = Float(Self.fans(shape).fanIn)
        let gain = (2 / (1 + a * a)).squareRoot()
        let bound = gain * (3 / fanIn).squareRoot()
        return uniform(shape, low: -bound, high: bound)
    }

    /// Xavier/Glorot-uniform initialisation.
    public func xavierUniform(_ shape: [Int], gain: Float = 1) -> Tensor {
        let (fi, fo) = Self.fans(shape)
        let bound = gain * (6 / Float(fi + fo)).squareRoot()
        return uniform(shape, low: -bound, high: bound)
    }

    /// The process-wide default generator (`torch.manual_seed` reseeds it).
    nonisolated(unsafe) public static var global = RandomGenerator(seed: 0)

    /// Reseeds the global generator.
    public static func manualSeed(_ seed: UInt64) { global.reseed(seed) }
}
