import TensorEngine

/// A value known at import time: an initializer, a `Constant`, or the result of folding shape
/// arithmetic (`Shape` -> `Gather` -> `Concat` -> `Reshape`) for the given input shape.
///
/// Floating-point values are kept as `Float` (what the model computes in), integers and booleans
/// as `Int64`.
struct ConstValue {
    enum Data {
        case float([Float])
        case int([Int64])
    }

    var shape: [Int]
    var data: Data

    init(shape: [Int], data: Data) {
        self.shape = shape
        self.data = data
    }

    init(ints: [Int], shape: [Int]? = nil) {
        self.init(shape: shape ?? [ints.count], data: .int(ints.map { Int64($0) }))
    }

    init(_ tensor: Tensor) { self.init(shape: tensor.shape, data: .float(tensor.scalars)) }

    var count: Int {
        switch data {
        case .float(let v): v.count
        case .int(let v): v.count
        }
    }

    var isFloat: Bool { if case .float = data { true } else { false } }

    /// The values as a float tensor (integers converted).
    var tensor: Tensor {
        switch data {
        case .float(let v): Tensor(shape: shape, v)
        case .int(let v): Tensor(shape: shape, v.map { Float($0) })
        }
    }

    /// The values as integers (floats truncated toward zero; out-of-range clamped).
    var ints: [Int] {
        switch data {
        case .float(let v): v.map { $0.isNaN ? 0 : ($0 >= 9.2e18 ? Int.max : ($0 <= -9.2e18 ? Int.min : Int($0))) }
        case .int(let v): v.map { Int($0) }
        }
    }

    /// The values as doubles.
    var doubles: [Double] {
        switch data {
        case .float(let v): v.map(Double.init)
        case .int(let v): v.map(Double.init)
        }
    }

    /// A new value of `shape` with the elements at the flat `indices` of this one.
    func picking(_ indices: [Int], shape: [Int]) -> ConstValue {
        switch data {
        case .float(let v): ConstValue(shape: shape, data: .float(indices.map { v[$0] }))
        case .int(let v): ConstValue(shape: shape, data: .int(indices.map { v[$0] }))
        }
    }

    func reshaped(_ shape: [Int]) -> ConstValue { ConstValue(shape: shape, data: data) }

    /// Concatenation of several values (all integer or all float after promotion) along `axis`.
    static func concat(_ parts: [ConstValue], axis: Int) -> ConstValue {
        var shape = parts[0].shape
        shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        let outer = parts[0].shape[..<axis].reduce(1, *)
        let anyFloat = parts.contains { $0.isFloat }
        var floats: [Float] = [], ints: [Int64] = []
        for o in 0..<outer {
            for p in parts {
                let block = p.shape[axis...].reduce(1, *)
                switch p.data {
                case .float(let v): floats += v[(o * block)..<((o + 1) * block)]
                case .int(let v):
                    if anyFloat { floats += v[(o * block)..<((o + 1) * block)].map { Float($0) } } else { ints += v[(o * block)..<((o + 1) * block)] }
                }
            }
        }
        return ConstValue(shape: shape, data: anyFloat ? .float(floats) : .int(ints))
    }

    /// Elementwise `f` with NumPy broadcasting; integers stay integers when both are integers.
    static func broadcasting(_ a: ConstValue, _ b: ConstValue, shape: [Int], float: (Float, Float) -> Float,
                             int: (Int64, Int64) throws -> Int64) rethrows -> ConstValue {
        let ia = broadcastIndices(from: a.shape, to: shape), ib = broadcastIndices(from: b.shape, to: shape)
        switch (a.data, b.data) {
        case (.int(let x), .int(let y)):
            return ConstValue(shape: shape, data: .int(try zip(ia, ib).map { try int(x[$0], y[$1]) }))
        default:
            let x = a.tensor.scalars, y = b.tensor.scalars
            return ConstValue(shape: shape, data: .float(zip(ia, ib).map { float(x[$0], y[$1]) }))
        }
    }

    /// For each element of `shape` (C order), the flat index of the element of `from` that
    /// broadcasting maps to it.
    static func broadcastIndices(from: [Int], to shape: [Int]) -> [Int] {
        let n = shape.reduce(1, *)
        let pad = shape.count - from.count
        let full = [Int](repeating: 1, count: pad) + from
        var strides = [Int](repeating: 0, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = full[d] == 1 ? 0 : s
            s *= full[d]
        }
        var result = [Int](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: shape.count)
        for k in 0..<n {
            var flat = 0
            for d in 0..<shape.count { flat += index[d] * strides[d] }
            result[k] = flat
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return result
    }
}
