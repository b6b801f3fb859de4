import TensorEngine

/// What a ``GraphNode`` computes: a call of a child module, a registered tensor, a literal, or a
/// functional op. Ops with axes take PyTorch/ONNX conventions (negative axes count from the end).
///
/// | op | inputs | value |
/// |---|---|---|
/// | `module(path)` | 1 | the child ``Layer`` at the dotted `path` applied to the input |
/// | `parameter(key)` | 0 | the parameter or buffer at the dotted state-dict `key` (trainable if a parameter) |
/// | `constant(t)` | 0 | the literal tensor `t` (not part of the state dict) |
/// | `add`, `sub`, `mul`, `div`, `pow`, `matmul` | 2 | broadcasting arithmetic, `a @ b` |
/// | unary ops (`relu`, `erf`, `sqrt`, ...) | 1 | elementwise |
/// | `concat(axis)` | ≥ 1 | concatenation |
/// | `reshape(shape)` | 1 | view as `shape` (one `-1` is inferred) |
/// | `slice(axis, start, end, step)` | 1 | Python slicing `x[start:end:step]` on one axis, clamped |
/// | `gather(axis, indices, indicesShape)` | 1 | ONNX `Gather` with constant indices |
/// | `pad(begins, ends, value)` | 1 | constant padding (negative amounts crop) |
/// | `resize(sizes, mode, transform, nearest)` | 1 | ONNX `Resize` to fixed `sizes` |
/// | `layerNorm(axis, eps)` | 1–3 | layer normalization of the dimensions from `axis` on (`x`, `weight`?, `bias`?) |
public enum GraphOp: CustomStringConvertible {
    case module(String)
    case parameter(String)
    case constant(Tensor)

    case add, sub, mul, div, pow, matmul
    case neg, abs, sqrt, exp, log, erf, relu, sigmoid, tanh, hardSwish, identity
    /// `x · Φ(x)`: exact `x/2 · (1 + erf(x/√2))`, or the tanh approximation
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    case gelu(tanhApproximation: Bool)
    case leakyRelu(negativeSlope: Float)
    case elu(alpha: Float)
    case hardSigmoid(alpha: Float, beta: Float)
    case clamp(min: Float?, max: Float?)
    case softmax(axis: Int)
    case logSoftmax(axis: Int)
    case mean(axes: [Int], keepDims: Bool)
    case amax(axes: [Int], keepDims: Bool)
    case sum(axes: [Int], keepDims: Bool)

    case concat(axis: Int)
    case flatten(startDim: Int, endDim: Int)
    case reshape([Int])
    case permute([Int])
    case squeeze([Int])
    case unsqueeze([Int])
    case expand([Int])
    case slice(axis: Int, start: Int, end: Int, step: Int)
    case gather(axis: Int, indices: [Int], indicesShape: [Int])
    case pad(begins: [Int], ends: [Int], value: Float)
    /// `scales`: ONNX's per-dimension scale factors when the model gave them (the coordinate
    /// transform divides by them, even when `size / input` differs, e.g. 13 × 0.5 → 6); `nil`:
    /// `size / input`.
    case resize(sizes: [Int], mode: ResizeMode, transform: ResizeTransform, nearest: NearestMode, scales: [Float]? = nil)
    case layerNorm(axis: Int, eps: Float)

    /// ONNX `Resize` interpolation.
    public enum ResizeMode: String, Sendable { case nearest, linear }
    /// ONNX `coordinate_transformation_mode`: how an output coordinate maps to an input one.
    public enum ResizeTransform: String, Sendable {
        case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel", alignCorners = "align_corners"
        case asymmetric
    }
    /// ONNX `nearest_mode`: how a fractional input coordinate is rounded.
    public enum NearestMode: String, Sendable {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    }

    /// The base name of nodes of this op (`add`, `relu`, `cat`, ...), as FX names its nodes.
    public var baseName: String {
        switch self {
        case .module: "module"
        case .parameter: "param"
        case .constant: "const"
        case .add: "add"
        case .sub: "sub"
        case .mul: "mul"
        case .div: "truediv"
        case .pow: "pow"
        case .matmul: "matmul"
        case .neg: "neg"
        case .abs: "abs"
        case .sqrt: "sqrt"
        case .exp: "exp"
        case .log: "log"
        case .erf: "erf"
        case .relu: "relu"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        case .hardSwish: "hardswish"
        case .gelu: "gelu"
        case .identity: "identity"
        case .leakyRelu: "leaky_relu"
        case .elu: "elu"
        case .hardSigmoid: "hardsigmoid"
        case .clamp: "clamp"
        case .softmax: "softmax"
        case .logSoftmax: "log_softmax"
        case .mean: "mean"
        case .amax: "amax"
        case .sum: "sum"
        case .concat: "cat"
        case .flatten: "flatten"
        case .reshape: "reshape"
        case .permute: "permute"
        case .squeeze: "squeeze"
        case .unsqueeze: "unsqueeze"
        case .expand: "expand"
        case .slice: "getitem"
        case .gather: "gather"
        case .pad: "pad"
        case .resize: "interpolate"
        case .layerNorm: "layer_norm"
        }
    }

    /// How many inputs the op takes (`nil`: any number ≥ 1).
    public var arity: ClosedRange<Int>? {
        switch self {
        case .parameter, .constant: 0...0
        case .add, .sub, .mul, .div, .pow, .matmul: 2...2
        case .concat: nil
        case .layerNorm: 1...3
        default: 1...1
        }
    }

    public var description: String {
        func f(_ v: Float) -> String { "\(v)" }
        switch self {
        case .module(let path): return path
        case .parameter(let key): return "get_attr[\(key)]"
        case .constant(let t): return "constant\(t.shape)"
        case .gelu(let t): return t ? "gelu[approximate=tanh]" : "gelu"
        case .leakyRelu(let s): return "leaky_relu[negative_slope=\(f(s))]"
        case .elu(let a): return "elu[alpha=\(f(a))]"
        case .hardSigmoid(let a, let b): return "hardsigmoid[alpha=\(f(a)), beta=\(f(b))]"
        case .clamp(let lo, let hi): return "clamp[min=\(lo.map(f) ?? "None"), max=\(hi.map(f) ?? "None")]"
        case .softmax(let a), .logSoftmax(let a): return "\(baseName)[dim=\(a)]"
        case .mean(let axes, let k), .amax(let axes, let k), .sum(let axes, let k):
            return "\(baseName)[dim=\(axes), keepdim=\(k)]"
        case .concat(let a): return "cat[dim=\(a)]"
        case .flatten(let s, let e): return "flatten[start_dim=\(s), end_dim=\(e)]"
        case .reshape(let s): return "reshape\(s)"
        case .permute(let p): return "permute\(p)"
        case .squeeze(let a): return "squeeze\(a)"
        case .unsqueeze(let a): return "unsqueeze\(a)"
        case .expand(let s): return "expand\(s)"
        case .slice(let axis, let start, let end, let step): return "slice[dim=\(axis), \(start):\(end):\(step)]"
        case .gather(let axis, let indices, let shape): return "gather[dim=\(axis), indices=\(indices), shape=\(shape)]"
        case .pad(let b, let e, let v): return "pad[begins=\(b), ends=\(e), value=\(f(v))]"
        case .resize(let sizes, let mode, let t, let n, _):
            return "interpolate[size=\(sizes), mode=\(mode.rawValue), \(t.rawValue)\(mode == .nearest ? ", " + n.rawValue : "")]"
        case .layerNorm(let axis, let eps): return "layer_norm[axis=\(axis), eps=\(f(eps))]"
        default: return baseName
        }
    }
}
