import Foundation

/// Pointwise functions with their gradients.
///
/// | op | gradient |
/// |---|---|
/// | `abs` | `sign(x)` (0 at 0) |
/// | `sign`, `rounded`, `floor`, `ceil`, comparisons | none (zero) |
/// | `exp`, `log`, `log2`, `exp2`, `sqrt` | the usual derivatives |
/// | `relu` | 1 where x > 0 |
/// | `sigmoid`, `tanh` | `s(1-s)`, `1-t²` |
/// | `hardtanh(min,max)` | 1 strictly inside (min, max) |
/// | `clamp(min,max)` | 1 inside [min, max] |
extension Tensor {
    func unary(_ name: String, _ f: (Float) -> Float, grad: ((Float, Float) -> Float)?) -> Tensor {
        let out = Kernels.map(self, f)
        guard let grad else { return out }
        let dx = detach(), dy = out.detach()
        return Autograd.record(name, output: out, inputs: [self]) { g in
            [Kernels.zip3(g, dx, dy) { g, x, y in g * grad(x, y) }]
        }
    }

    public func abs() -> Tensor {
        let out = Kernels.map(self, AbsOp())
        let dx = detach()
        return Autograd.record("abs", output: out, inputs: [self]) { g in
            [Kernels.zip(g, dx) { g, x in x > 0 ? g : (x < 0 ? -g : 0) }]
        }
    }
    /// -1, 0 or 1 (NaN stays NaN). No gradient.
    public func sign() -> Tensor { Kernels.map(self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : ($0.isNaN ? .nan : 0)) } }
    public func exp() -> Tensor { unary("exp", { Foundation.exp($0) }, grad: { _, y in y }) }
    public func log() -> Tensor { unary("log", { Foundation.log($0) }, grad: { x, _ in 1 / x }) }
    public func log2() -> Tensor { unary("log2", { Foundation.log2($0) }, grad: { x, _ in 1 / (x * 0.6931471805599453) }) }
    public func exp2() -> Tensor { unary("exp2", { Foundation.exp2($0) }, grad: { _, y in y * 0.6931471805599453 }) }
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }, grad: { _, y in 0.5 / y }) }
    public func relu() -> Tensor {
        let out = Kernels.map(self, ReluOp())
        let dx = detach()
        return Autograd.record("relu", output: out, inputs: [self]) { g in [Kernels.zip(g, dx, ReluGradOp())] }
    }
    public func sigmoid() -> Tensor {
        unary("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }, grad: { _, s in s * (1 - s) })
    }
    public func tanh() -> Tensor { unary("tanh", { Foundation.tanh($0) }, grad: { _, t in 1 - t * t }) }

    /// `min(max(x, minVal), maxVal)`; gradient 1 strictly inside the interval (PyTorch `hardtanh`).
    public func hardtanh(min minVal: Float = -1, max maxVal: Float = 1) -> Tensor {
        precondition(minVal <= maxVal, "hardtanh: min \(minVal) > max \(maxVal)")
        let out = Kernels.map(self, ClampOp(lo: minVal, hi: maxVal))
        let dx = detach()
        return Autograd.record("hardtanh", output: out, inputs: [self]) { g in
            [Kernels.zip(g, dx, IntervalGradOp(lo: minVal, hi: maxVal, open: true))]
        }
    }

    /// Clamps to `[min, max]` (either may be omitted); gradient 1 inside the closed interval.
    public func clamp(min lo: Float? = nil, max hi: Float? = nil) -> Tensor {
        let l = lo ?? -.infinity, h = hi ?? .infinity
        let out = Kernels.map(self, ClampOp(lo: l, hi: h))
        let dx = detach()
        return Autograd.record("clamp", output: out, inputs: [self]) { g in
            [Kernels.zip(g, dx, IntervalGradOp(lo: l, hi: h, open: false))]
        }
    }

    /// Half-to-even rounding (`torch.round`). No gradient: use a straight-through estimator.
    public func rounded() -> Tensor { Kernels.map(self, RoundOp()) }
    /// `torch.floor`. No gradient.
    public func floor() -> Tensor { Kernels.map(self) { $0.rounded(.down) } }
    /// `torch.ceil`. No gradient.
    public func ceil() -> Tensor { Kernels.map(self) { $0.rounded(.up) } }

    /// `cond ? a : b` elementwise with broadcasting; `cond` holds 0/1. Gradients are routed to
    /// the selected side.
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let out = Kernels.zip3(cond, a, b, SelectOp())
        let dc = cond.detach()
        let sa = a.shape, sb = b.shape
        return Autograd.record("where", output: out, inputs: [a, b]) { g in
            [
                Kernels.zip(dc, g) { c, g in c != 0 ? g : 0 }.sum(toShape: sa),
                Kernels.zip(dc, g) { c, g in c != 0 ? 0 : g }.sum(toShape: sb),
            ]
        }
    }

    /// 1 where `self > other`, else 0.
    public func gt(_ other: Tensor) -> Tensor { Kernels.zip(self, other) { $0 > $1 ? 1 : 0 } }
    public func lt(_ other: Tensor) -> Tensor { Kernels.zip(self, other) { $0 < $1 ? 1 : 0 } }
    public func ge(_ other: Tensor) -> Tensor { Kernels.zip(self, other) { $0 >= $1 ? 1 : 0 } }
    public func le(_ other: Tensor) -> Tensor { Kernels.zip(self, other) { $0 <= $1 ? 1 : 0 } }
    public func eq(_ other: Tensor) -> Tensor { Kernels.zip(self, other) { $0 == $1 ? 1 : 0 } }
    public func gt(_ s: Float) -> Tensor { Kernels.map(self) { $0 > s ? 1 : 0 } }
    public func lt(_ s: Float) -> Tensor { Kernels.map(self) { $0 < s ? 1 : 0 } }

    /// Whether all elements satisfy `|a - b| <= atol + rtol·|b|` (`torch.allclose`).
    public func isClose(to other: Tensor, rtol: Float = 1e-5, atol: Float = 1e-8) -> Bool {
        guard ShapeMath.broadcast(shape, other.shape) == shape || shape == other.shape else { return false }
        let m = Kernels.zip(self, other) { a, b in Swift.abs(a - b) <= atol + rtol * Swift.abs(b) || a == b ? 1 : 0 }
        return m.scalars.allSatisfy { $0 == 1 }
    }

    /// Whether every element equals the other's (`torch.equal`).
    public func isEqual(to other: Tensor) -> Bool { shape == other.shape && scalars == other.scalars }
}

/// Half-to-even rounding that vectorises on every x86-64 target: adding and subtracting
/// 1.5·2²³ rounds in the FPU's default round-to-nearest-even mode; values with |x| ≥ 2²² are
/// already integers (or NaN/±inf) and pass through. The sign of the input is kept, so
/// `-0.3` rounds to `-0.0` as `rint` and `torch.round` give.
@inlinable @inline(__always) public func roundHalfEven(_ x: Float) -> Float {
    let magic: Float = 12_582_912
    let r = Swift.abs(x) < 4_194_304 ? (x + magic) - magic : x
    return Float(bitPattern: (r.bitPattern & 0x7FFF_FFFF) | (x.bitPattern & 0x8000_0000))
}

extension Tensor {
    /// `f` applied to every element, in one single-threaded pass, without gradient tracking.
    /// The closure is inlined into the caller's loop, so it vectorises; for a multithreaded pass
    /// use `map(_:)` with a `UnaryScalarFunction`. Use `Tensor.custom` to give the result a
    /// gradient.
    @inlinable
    public func mapScalars(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor.empty(shape)
        let src = storage.pointer, dst = out.storage.pointer
        for i in 0..<count { dst[i] = f(src[i]) }
        return out
    }

    /// `f(a[i], b[i])` for two tensors of the same shape, in one single-threaded pass, without
    /// gradient tracking (see `zipMap(_:_:_:)` for the multithreaded, broadcasting form).
    @inlinable
    public static func zipScalars(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "zipScalars: shapes \(a.shape) and \(b.shape) differ")
        let out = Tensor.empty(a.shape)
        let pa = a.storage.pointer, pb = b.storage.pointer, dst = out.storage.pointer
        for i in 0..<a.count { dst[i] = f(pa[i], pb[i]) }
        return out
    }

    /// Writes `f(self[i])` into `out` (same element count; may be `self`) in one single-threaded
    /// pass, without gradient tracking and without allocating.
    @inlinable
    public func mapScalars(into out: Tensor, _ f: (Float) -> Float) {
        precondition(out.count == count, "mapScalars(into:): output \(out.shape) does not fit \(shape)")
        let src = storage.pointer, dst = out.storage.pointer
        for i in 0..<count { dst[i] = f(src[i]) }
    }
}
