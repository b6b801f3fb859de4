/// An n-dimensional, row-major (NCHW) array of `Float` that records the operations applied to it
/// for reverse-mode differentiation.
///
/// `Tensor` is a reference type, like `torch.Tensor`: parameters are updated in place by optimizers
/// and every holder sees the change. Storage is always contiguous; `reshape`/`view` share it,
/// every other shape operation returns a contiguous copy.
///
/// ```swift
/// let x = Tensor(shape: [2, 2], [1, 2, 3, 4], requiresGrad: true)
/// let y = (x * x).sum()
/// y.backward()
/// x.grad!.scalars  // [2, 4, 6, 8]
/// ```
public final class Tensor: @unchecked Sendable {
    /// The dimensions, outermost first (`[N, C, H, W]` for images).
    public let shape: [Int]
    /// The shared element buffer (never replaced; `var` only so that `isUniquelyOwned` can ask
    /// whether another tensor shares it).
    public private(set) var storage: TensorStorage
    /// Whether gradients should be accumulated into `grad` by `backward()` (leaves) or propagated
    /// (results of operations).
    public var requiresGrad: Bool
    /// The accumulated gradient of a leaf tensor, `nil` until a backward pass reaches it.
    public var grad: Tensor?
    /// The operation that produced this tensor, `nil` for leaves and for results computed without
    /// gradient tracking.
    public internal(set) var gradFn: GradFunction?

    /// Wraps existing storage (no copy). `storage.count` must equal the product of `shape`.
    public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(
            ShapeMath.count(shape) == storage.count,
            "Tensor: shape \(shape) needs \(ShapeMath.count(shape)) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor of `shape` holding `data` in row-major order.
    public convenience init(shape: [Int], _ data: [Float], requiresGrad: Bool = false) {
        precondition(
            ShapeMath.count(shape) == data.count,
            "Tensor: shape \(shape) needs \(ShapeMath.count(shape)) elements, got \(data.count)")
        self.init(shape: shape, storage: TensorStorage(data), requiresGrad: requiresGrad)
    }

    /// A one-dimensional tensor.
    public convenience init(_ data: [Float], requiresGrad: Bool = false) {
        self.init(shape: [data.count], data, requiresGrad: requiresGrad)
    }

    /// A zero-dimensional (scalar) tensor.
    public convenience init(_ value: Float, requiresGrad: Bool = false) {
        self.init(shape: [], [value], requiresGrad: requiresGrad)
    }

    /// A tensor of `shape` filled with `value`.
    public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(
            shape: shape, storage: TensorStorage(count: ShapeMath.count(shape), repeating: value),
            requiresGrad: requiresGrad)
    }

    /// Uninitialised tensor of `shape`, for kernels that write every element.
    public static func empty(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(uninitializedCount: ShapeMath.count(shape)))
    }

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    /// Ones of `shape`.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }
    /// Zeros with the shape of `other`.
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape) }
    /// `[start, start + step, ...)` below `end`, like `torch.arange`.
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Float($0) * step })
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { storage.count }
    /// Row-major strides in elements.
    public var strides: [Int] { ShapeMath.strides(shape) }
    /// `true` when the tensor was not produced by a tracked operation.
    public var isLeaf: Bool { gradFn == nil }
    /// Size of dimension `dim` (negative counts from the end).
    public func size(_ dim: Int) -> Int { shape[ShapeMath.normalize(dim: dim, rank: rank)] }

    /// The elements in row-major order.
    public var scalars: [Float] { Array(storage.buffer) }

    /// The single element of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item(): tensor of shape \(shape) has \(count) elements, not 1")
        return storage.pointer[0]
    }

    /// The element at a multi-index.
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[offset(of: index)] }
        set { storage.pointer[offset(of: index)] = newValue }
    }

    func offset(of index: [Int]) -> Int {
        precondition(index.count == rank, "index \(index) has \(index.count) entries, tensor rank is \(rank) (shape \(shape))")
        var off = 0
        for (i, (ix, d)) in zip(index, shape).enumerated() {
            precondition(ix >= 0 && ix < d, "index \(index) out of bounds for shape \(shape) at dimension \(i)")
            off = off * d + ix
        }
        return off
    }

    /// A tensor sharing this one's storage with no gradient history (`torch.Tensor.detach`).
    public func detach() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Whether no other tensor (a view, a detached copy, a saved input) shares this tensor's
    /// storage, so that the caller, if it holds the only reference to this tensor, may hand the
    /// buffer on instead of copying it (as PyTorch's `AccumulateGrad` steals a gradient whose
    /// use count is 1).
    func hasUniqueStorage() -> Bool { isKnownUniquelyReferenced(&storage) }

    /// A deep copy without gradient history.
    public func copy() -> Tensor {
        let out = Tensor.empty(shape)
        out.storage.pointer.update(from: storage.pointer, count: count)
        return out
    }

    /// Overwrites the elements with those of `other` (same element count), outside autograd.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: shape \(other.shape) does not fit \(shape)")
        storage.pointer.update(from: other.storage.pointer, count: count)
    }

    /// Fills every element with `value`, outside autograd.
    public func fill(_ value: Float) { storage.pointer.update(repeating: value, count: count) }
}
