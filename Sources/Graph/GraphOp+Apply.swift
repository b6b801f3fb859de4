import TensorEngine

extension GraphOp {
    /// Evaluates a functional op on its inputs (module and parameter nodes are evaluated by the
    /// ``GraphModule``). Shapes must fit the op (a programmer error otherwise: the ONNX importer
    /// checks them before building the node).
    public func apply(_ x: [Tensor]) -> Tensor {
        switch self {
        case .module, .parameter:
            preconditionFailure("GraphOp.apply: \(self) is evaluated by its GraphModule")
        case .constant(let t): return t
        case .add: return x[0] + x[1]
        case .sub: return x[0] - x[1]
        case .mul: return x[0] * x[1]
        case .div: return x[0] / x[1]
        case .pow:
            precondition(x[1].count == 1, "pow: the exponent must be a single value, got shape \(x[1].shape)")
            let p = x[1].scalars[0]
            return p == 2 ? x[0] * x[0] : (p == 1 ? x[0] * 1 : x[0].pow(p))
        case .matmul: return x[0].matmul(x[1])
        case .neg: return -x[0]
        case .abs: return x[0].abs()
        case .sqrt: return x[0].sqrt()
        case .exp: return x[0].exp()
        case .log: return x[0].log()
        case .erf: return x[0].erf()
        case .relu: return x[0].relu()
        case .sigmoid: return x[0].sigmoid()
        case .tanh: return x[0].tanh()
        case .hardSwish: return x[0].hardSwish()
        case .gelu(let approximate):
            if approximate {
                let inner = (x[0] + x[0] * x[0] * x[0] * 0.044715) * Float((2 / Double.pi).squareRoot())
                return x[0] * 0.5 * (inner.tanh() + 1)
            }
            return x[0] * 0.5 * ((x[0] * Float(0.5.squareRoot())).erf() + 1)
        case .identity: return x[0]
        case .leakyRelu(let s): return x[0].leakyRelu(negativeSlope: s)
        case .elu(let a): return x[0].elu(alpha: a)
        case .hardSigmoid(let a, let b): return x[0].hardSigmoid(alpha: a, beta: b)
        case .clamp(let lo, let hi): return x[0].clamp(min: lo, max: hi)
        case .softmax(let axis): return x[0].softmax(dim: axis)
        case .logSoftmax(let axis): return x[0].logSoftmax(dim: axis)
        case .mean(let axes, let keep): return axes.isEmpty ? x[0] * 1 : x[0].mean(dims: axes, keepDim: keep)
        case .amax(let axes, let keep): return axes.isEmpty ? x[0] * 1 : x[0].amax(dims: axes, keepDim: keep)
        case .sum(let axes, let keep): return axes.isEmpty ? x[0] * 1 : x[0].sum(dims: axes, keepDim: keep)
        case .concat(let axis): return x.count == 1 ? x[0] : Tensor.cat(x, dim: axis)
        case .flatten(let s, let e): return x[0].flatten(startDim: s, endDim: e)
        case .reshape(let shape): return x[0].reshape(shape)
        case .permute(let p): return x[0].permute(p)
        case .squeeze(let axes):
            let r = x[0].rank
            return axes.map { $0 < 0 ? $0 + r : $0 }.sorted(by: >).reduce(x[0]) { $0.squeeze($1) }
        case .unsqueeze(let axes):
            let r = x[0].rank + axes.count
            return axes.map { $0 < 0 ? $0 + r : $0 }.sorted().reduce(x[0]) { $0.unsqueeze($1) }
        case .expand(let shape): return x[0].shape == shape ? x[0] : x[0].expand(shape)
        case .slice(let axis, let start, let end, let step):
            let d = axis < 0 ? axis + x[0].rank : axis
            let indices = Self.sliceIndices(size: x[0].shape[d], start: start, end: end, step: step)
            if step == 1 { return x[0].narrow(dim: d, start: indices.first ?? 0, length: indices.count) }
            return x[0].indexSelect(dim: d, indices)
        case .gather(let axis, let indices, let indicesShape):
            let d = axis < 0 ? axis + x[0].rank : axis
            let n = x[0].shape[d]
            let picked = x[0].indexSelect(dim: d, indices.map { $0 < 0 ? $0 + n : $0 })
            let shape = Array(x[0].shape[..<d]) + indicesShape + Array(x[0].shape[(d + 1)...])
            return picked.reshape(shape)
        case .pad(let begins, let ends, let value): return Self.pad(x[0], begins: begins, ends: ends, value: value)
        case .resize(let sizes, let mode, let transform, let nearest, let scales):
            return Self.resize(x[0], sizes: sizes, mode: mode, transform: transform, nearest: nearest, scales: scales)
        case .layerNorm(let axis, let eps):
            let r = x[0].rank
            return Tensor.layerNorm(x[0], normalizedRank: r - (axis < 0 ? axis + r : axis),
                                    weight: x.count > 1 ? x[1] : nil, bias: x.count > 2 ? x[2] : nil, eps: eps)
        }
    }

    /// The indices Python's `range` over `x[start:end:step]` visits for a dimension of `size`:
    /// negative bounds count from the end, bounds are clamped (ONNX `Slice` semantics).
    public static func sliceIndices(size: Int, start: Int, end: Int, step: Int) -> [Int] {
        precondition(step != 0, "slice: step must not be 0")
        func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(v, lo), hi) }
        var s = start < 0 ? start &+ size : start
        var e = end < 0 ? end &+ size : end
        if step > 0 {
            s = clamp(s, 0, size)
            e = clamp(e, 0, size)
            return s < e ? Array(stride(from: s, to: e, by: step)) : []
        }
        s = clamp(s, -1, size - 1)
        e = clamp(e, -1, size - 1)
        return s > e ? Array(stride(from: s, to: e, by: step)) : []
    }

    /// Constant padding: `begins[d]` values before and `ends[d]` after dimension `d`; a negative
    /// amount crops.
    static func pad(_ x: Tensor, begins: [Int], ends: [Int], value: Float) -> Tensor {
        var y = x
        for d in 0..<y.rank {
            let (b, e) = (begins[d], ends[d])
            if b < 0 || e < 0 {
                let start = Swift.max(-b, 0), stop = y.shape[d] - Swift.max(-e, 0)
                y = y.narrow(dim: d, start: start, length: Swift.max(stop - start, 0))
            }
            if b > 0 || e > 0 {
                var parts: [Tensor] = []
                var side = y.shape
                if b > 0 { side[d] = b; parts.append(Tensor.full(side, value)) }
                parts.append(y)
                if e > 0 { side[d] = e; parts.append(Tensor.full(side, value)) }
                y = Tensor.cat(parts, dim: d)
            }
        }
        return y
    }

    /// ONNX `Resize` of every dimension whose size changes, one dimension at a time.
    static func resize(_ x: Tensor, sizes: [Int], mode: ResizeMode, transform: ResizeTransform, nearest: NearestMode,
                       scales: [Float]?) -> Tensor {
        var y = x
        for d in 0..<x.rank where sizes[d] != x.shape[d] {
            let n = x.shape[d], m = sizes[d]
            let scale = scales.map { Double($0[d]) } ?? Double(m) / Double(n)
            func source(_ i: Int) -> Double {
                switch transform {
                case .halfPixel: return (Double(i) + 0.5) / scale - 0.5
                case .pytorchHalfPixel: return m > 1 ? (Double(i) + 0.5) / scale - 0.5 : 0
                case .alignCorners: return m > 1 ? Double(i) * Double(n - 1) / Double(m - 1) : 0
                case .asymmetric: return Double(i) / scale
                }
            }
            switch mode {
            case .nearest:
                let indices = (0..<m).map { i -> Int in
                    let s = source(i)
                    let r: Double
                    switch nearest {
                    case .roundPreferFloor: r = s == s.rounded(.down) + 0.5 ? s.rounded(.down) : s.rounded()
                    case .roundPreferCeil: r = s.rounded()
                    case .floor: r = s.rounded(.down)
                    case .ceil: r = s.rounded(.up)
                    }
                    return Swift.min(Swift.max(Int(r), 0), n - 1)
                }
                y = y.indexSelect(dim: d, indices)
            case .linear:
                var lo: [Int] = [], hi: [Int] = [], w: [Float] = []
                for i in 0..<m {
                    let s = Swift.min(Swift.max(source(i), 0), Double(n - 1))
                    let l = Int(s.rounded(.down))
                    lo.append(l)
                    hi.append(Swift.min(l + 1, n - 1))
                    w.append(Float(s - Double(l)))
                }
                var wShape = [Int](repeating: 1, count: x.rank)
                wShape[d] = m
                let weight = Tensor(shape: wShape, w)
                let a = y.indexSelect(dim: d, lo), b = y.indexSelect(dim: d, hi)
                y = a + (b - a) * weight
            }
        }
        return y
    }
}
