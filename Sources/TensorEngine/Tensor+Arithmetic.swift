/// Broadcasting arithmetic with gradients: `+ - * /`, negation, `pow`, `maximum`, `minimum`.
extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = Kernels.zip(a, b, AddOp())
        let sa = a.shape, sb = b.shape
        return Autograd.record("add", output: out, inputs: [a, b]) { g in
            [g.sum(toShape: sa), g.sum(toShape: sb)]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = Kernels.zip(a, b, SubOp())
        let sa = a.shape, sb = b.shape
        return Autograd.record("sub", output: out, inputs: [a, b]) { g in
            [g.sum(toShape: sa), (-g).sum(toShape: sb)]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = Kernels.zip(a, b, MulOp())
        let da = a.detach(), db = b.detach()
        let needA = a.requiresGrad, needB = b.requiresGrad
        return Autograd.record("mul", output: out, inputs: [a, b]) { g in
            [needA ? (g * db).sum(toShape: da.shape) : nil, needB ? (g * da).sum(toShape: db.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = Kernels.zip(a, b, DivOp())
        let da = a.detach(), db = b.detach()
        let needA = a.requiresGrad, needB = b.requiresGrad
        return Autograd.record("div", output: out, inputs: [a, b]) { g in
            [
                needA ? (g / db).sum(toShape: da.shape) : nil,
                needB ? Kernels.zip3(g, da, db) { g, a, b in -g * a / (b * b) }.sum(toShape: db.shape) : nil,
            ]
        }
    }

    public static prefix func - (x: Tensor) -> Tensor {
        let out = Kernels.map(x, NegOp())
        return Autograd.record("neg", output: out, inputs: [x]) { g in [-g] }
    }

    public static func + (a: Tensor, s: Float) -> Tensor {
        let out = Kernels.map(a, ShiftOp(shift: s))
        return Autograd.record("add_scalar", output: out, inputs: [a]) { g in [g] }
    }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor {
        let out = Kernels.map(a, RSubOp(s: s))
        return Autograd.record("rsub_scalar", output: out, inputs: [a]) { g in [-g] }
    }
    public static func * (a: Tensor, s: Float) -> Tensor {
        let out = Kernels.map(a, ScaleOp(scale: s))
        return Autograd.record("mul_scalar", output: out, inputs: [a]) { g in [g * s] }
    }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor {
        let out = Kernels.map(a, DivScalarOp(s: s))
        return Autograd.record("div_scalar", output: out, inputs: [a]) { g in [g / s] }
    }
    public static func / (s: Float, a: Tensor) -> Tensor {
        let out = Kernels.map(a, RDivOp(s: s))
        let da = a.detach()
        return Autograd.record("rdiv_scalar", output: out, inputs: [a]) { g in
            [Kernels.zip(g, da) { g, x in -g * s / (x * x) }]
        }
    }

    /// `x^p` elementwise; gradient `p · x^(p-1)`.
    public func pow(_ p: Float) -> Tensor {
        let out = Kernels.map(self) { Float.pow($0, p) }
        let dx = detach()
        return Autograd.record("pow", output: out, inputs: [self]) { g in
            [Kernels.zip(g, dx) { g, x in g * p * Float.pow(x, p - 1) }]
        }
    }

    /// Elementwise maximum; at ties each side gets half the gradient (as PyTorch).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { extremum(a, b, max: true) }
    /// Elementwise minimum; at ties each side gets half the gradient.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { extremum(a, b, max: false) }

    static func extremum(_ a: Tensor, _ b: Tensor, max: Bool) -> Tensor {
        let out = max
            ? Kernels.zip(a, b) { x, y in x.isNaN || y.isNaN ? Float.nan : Swift.max(x, y) }
            : Kernels.zip(a, b) { x, y in x.isNaN || y.isNaN ? Float.nan : Swift.min(x, y) }
        let da = a.detach(), db = b.detach()
        return Autograd.record(max ? "maximum" : "minimum", output: out, inputs: [a, b]) { g in
            let wa = max
                ? Kernels.zip(da, db) { x, y in x > y ? 1 : (x == y ? 0.5 : 0) }
                : Kernels.zip(da, db) { x, y in x < y ? 1 : (x == y ? 0.5 : 0) }
            let ga = g * wa
            let gb = g * (1 - wa)
            return [ga.sum(toShape: da.shape), gb.sum(toShape: db.shape)]
        }
    }
}

extension Float {
    @inline(__always) static func pow(_ x: Float, _ p: Float) -> Float {
        if p == 2 { return x * x }
        if p == 1 { return x }
        if p == 0.5 { return x.squareRoot() }
        return Float(_pow(Double(x), Double(p)))
    }
}

#if canImport(Glibc)
    import Glibc
    @inline(__always) func _pow(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
#elseif canImport(Darwin)
    import Darwin
    @inline(__always) func _pow(_ a: Double, _ b: Double) -> Double { Darwin.pow(a, b) }
#endif
