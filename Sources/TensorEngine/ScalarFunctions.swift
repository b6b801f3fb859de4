/// Elementwise functions as types, for kernels that must run on several threads at full speed.
///
/// A closure passed to a multithreaded kernel is called through a pointer for every element
/// (the worker's copy of the loop cannot inline it), which is an order of magnitude slower than
/// a vectorised loop. A generic kernel specialised for a conforming struct inlines the function
/// into each thread's loop. `Tensor.map(_:)` and `Tensor.zipMap(_:_:_:)` take these.
///
/// ```swift
/// struct FakeQuant: UnaryScalarFunction {
///     let scale: Float, zeroPoint: Float, qmin: Float, qmax: Float
///     func callAsFunction(_ x: Float) -> Float {
///         (Swift.min(Swift.max(roundHalfEven(x / scale) + zeroPoint, qmin), qmax) - zeroPoint) * scale
///     }
/// }
/// let y = x.map(FakeQuant(scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127))
/// ```
public protocol UnaryScalarFunction {
    func callAsFunction(_ x: Float) -> Float
}

/// A function of two elements (see `UnaryScalarFunction`).
public protocol BinaryScalarFunction {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

/// A function of three elements (see `UnaryScalarFunction`).
public protocol TernaryScalarFunction {
    func callAsFunction(_ a: Float, _ b: Float, _ c: Float) -> Float
}

extension Tensor {
    /// `f` applied to every element in one multithreaded pass, without gradient tracking (wrap it
    /// in `Tensor.custom` for one).
    @inlinable
    public func map<F: UnaryScalarFunction>(_ f: F) -> Tensor {
        let out = Tensor.empty(shape)
        map(f, into: out)
        return out
    }

    /// Writes `f(self[i])` into `out` (same element count; may be `self`) without allocating.
    @inlinable
    public func map<F: UnaryScalarFunction>(_ f: F, into out: Tensor) {
        precondition(out.count == count, "map(into:): output \(out.shape) does not fit \(shape)")
        let src = storage.pointer, dst = out.storage.pointer
        Parallel.forRanges(count) { r in
            for i in r { dst[i] = f(src[i]) }
        }
    }

    /// `f(a[i], b[i])` in one multithreaded pass, with broadcasting, without gradient tracking.
    @inlinable
    public static func zipMap<F: BinaryScalarFunction>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor {
        if a.shape == b.shape {
            let out = Tensor.empty(a.shape)
            let pa = a.storage.pointer, pb = b.storage.pointer, dst = out.storage.pointer
            Parallel.forRanges(a.count) { r in
                for i in r { dst[i] = f(pa[i], pb[i]) }
            }
            return out
        }
        return Kernels.zipBroadcasting(a, b, f)
    }
}

// Element functions used by the engine's own ops.
@usableFromInline struct AddOp: BinaryScalarFunction {
    @inlinable init() {}
    @inlinable func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}
@usableFromInline struct SubOp: BinaryScalarFunction {
    @inlinable init() {}
    @inlinable func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b }
}
@usableFromInline struct MulOp: BinaryScalarFunction {
    @inlinable init() {}
    @inlinable func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}
@usableFromInline struct DivOp: BinaryScalarFunction {
    @inlinable init() {}
    @inlinable func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b }
}
struct AffineOp: UnaryScalarFunction {
    let scale: Float, shift: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * scale + shift }
}
struct ScaleOp: UnaryScalarFunction {
    let scale: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * scale }
}
struct ShiftOp: UnaryScalarFunction {
    let shift: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x + shift }
}
struct RSubOp: UnaryScalarFunction {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { s - x }
}
struct DivScalarOp: UnaryScalarFunction {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x / s }
}
struct RDivOp: UnaryScalarFunction {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { s / x }
}
struct ReluOp: UnaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : (x.isNaN ? x : 0) }
}
/// `g` where `x > 0`, else 0 (ReLU backward).
struct ReluGradOp: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : 0 }
}
struct ClampOp: UnaryScalarFunction {
    let lo: Float, hi: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x.isNaN ? x : Swift.min(Swift.max(x, lo), hi) }
}
/// `g` where `lo ≤ x ≤ hi` (`open`: strictly inside), else 0.
struct IntervalGradOp: BinaryScalarFunction {
    let lo: Float, hi: Float, open: Bool
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        (open ? (x > lo && x < hi) : (x >= lo && x <= hi)) ? g : 0
    }
}
struct RoundOp: UnaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { roundHalfEven(x) }
}
struct AbsOp: UnaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.abs(x) }
}
struct NegOp: UnaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { -x }
}
/// `c != 0 ? a : b`.
struct SelectOp: TernaryScalarFunction {
    @inline(__always) func callAsFunction(_ c: Float, _ a: Float, _ b: Float) -> Float { c != 0 ? a : b }
}
