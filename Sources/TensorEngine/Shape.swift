/// Shape helpers: element counts, row-major strides, broadcasting and dimension normalisation.
public enum ShapeMath {
    /// Product of the dimensions (1 for a scalar shape `[]`).
    @inlinable public static func count(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape { n *= d }
        return n
    }

    /// Row-major (C-contiguous) strides of `shape`, in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }

    /// NumPy/PyTorch broadcasting of two shapes: dimensions are aligned from the right and each
    /// pair must be equal or contain a 1.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(
                da == db || da == 1 || db == 1,
                "shapes \(a) and \(b) cannot be broadcast together (dimension \(i): \(da) vs \(db))")
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Turns a possibly negative dimension index into `0..<rank`.
    public static func normalize(dim: Int, rank: Int, _ context: @autoclosure () -> String = "")
        -> Int
    {
        let r = max(rank, 1)
        let d = dim < 0 ? dim + r : dim
        precondition(
            d >= 0 && d < r, "dimension \(dim) out of range for rank \(rank) \(context())")
        return d
    }
}
