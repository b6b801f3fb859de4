/// Tensor factories in PyTorch's spelling (`torch.full`, `torch.ones_like`, `torch.eye`, ...).
extension Tensor {
    /// A tensor of `shape` filled with `value` (`torch.full`).
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(repeating: value, shape: shape) }
    /// Ones with the shape of `other`.
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape) }
    /// `value` everywhere, with the shape of `other`.
    public static func full(like other: Tensor, _ value: Float) -> Tensor { full(other.shape, value) }
    /// The `n × n` identity matrix.
    public static func eye(_ n: Int) -> Tensor {
        let t = zeros([n, n])
        for i in 0..<n { t.storage.pointer[i * n + i] = 1 }
        return t
    }
    /// `count` evenly spaced values from `start` to `end` inclusive (`torch.linspace`).
    public static func linspace(_ start: Float, _ end: Float, count: Int) -> Tensor {
        precondition(count >= 0, "linspace: count must be >= 0, got \(count)")
        if count == 1 { return Tensor([start]) }
        let step = (Double(end) - Double(start)) / Double(Swift.max(count - 1, 1))
        // Like PyTorch, fill the second half backwards from `end` so both ends are exact.
        return Tensor((0..<count).map { i in
            i < count / 2 ? Float(Double(start) + step * Double(i)) : Float(Double(end) - step * Double(count - 1 - i))
        })
    }
}
