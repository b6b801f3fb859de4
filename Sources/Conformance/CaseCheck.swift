import NN
import QuantNN
import TensorEngine

/// A case that asks for what the engine's preconditions forbid (a zero or negative size, a
/// weight past ``InputLimits``, an input whose shape the layer cannot take, a count that would
/// run for hours): found before the layer is built or called, so a hostile case file fails with
/// this error instead of trapping the process.
///
/// Not a ``ReplayError``: a case whose reference raised (`expected_error`) on such a value
/// expects an error of the product, and this is the product's check of that value, made early.
///
/// ```
/// spec.model.kwargs.in_channels: 0 is not a positive integer
/// QuantConv2d input: [2, 5, 7, 3] has 5 channels, the layer takes 3 (weight [8, 3, 3, 3], groups 1)
/// ```
struct CaseCheckError: Error, CustomStringConvertible, Equatable {
    /// Where in the case, or which layer's input.
    let field: String
    let message: String
    var description: String { "\(field): \(message)" }
}

/// The checks of ``CaseCheckError``: layer keywords before the layer is built, a layer's inputs
/// before each call, the program ops (`cat`, `flatten`, `add`) before they run, and counts.
enum CaseCheck {
    /// Keywords that are counts or sizes: a positive integer, or a list of them.
    static let positiveKeywords = ["in_channels", "out_channels", "in_features", "out_features", "kernel_size", "stride", "dilation",
                                   "groups", "num_embeddings", "embedding_dim", "input_size", "hidden_size", "num_layers", "embed_dim",
                                   "num_heads", "kdim", "vdim", "num_features"]
    /// Keywords that are non-negative integers (or lists of them).
    static let nonNegativeKeywords = ["padding", "output_padding"]

    /// Iterations a case may ask a loop for (`equalize_iters`): ``InputLimits``-style bound, so a
    /// case cannot make a replay run for hours.
    static let maxIterations = 10_000

    /// The integers of a keyword value (a number or a list of numbers); `nil` for other kinds
    /// (`"same"`, a quantizer), which the layer factory checks itself.
    static func integers(_ v: JSON) -> [Double]? {
        switch v {
        case .number(let d): return [d]
        case .numbers(let ds): return ds
        case .array(let a): return a.allSatisfy { $0.double != nil } ? a.compactMap(\.double) : nil
        default: return nil
        }
    }

    /// Checks the size keywords of one layer spec (`{"class", "kwargs"}` at `path`) and that its
    /// weight stays within ``InputLimits/maxElements``.
    static func keywords(_ cls: String, _ kwargs: JSON?, path: String) throws {
        guard let kwargs else { return }
        var value: [String: [Int]] = [:]
        for (key, positive) in positiveKeywords.map({ ($0, true) }) + nonNegativeKeywords.map({ ($0, false) }) {
            guard let raw = kwargs[key], let ds = integers(raw) else { continue }
            guard !ds.isEmpty, ds.allSatisfy({ $0 == $0.rounded() && $0 >= (positive ? 1 : 0) && $0 < 1e15 }) else {
                throw CaseCheckError(field: "\(path).kwargs.\(key)", message: "\(raw) is not \(positive ? "a positive" : "a non-negative") integer"
                                     + (ds.count > 1 || raw.array != nil ? " list" : ""))
            }
            value[key] = ds.map { Int($0) }
        }
        func one(_ key: String) -> Int? { value[key]?.first }
        if let g = one("groups") {
            for key in ["in_channels", "out_channels"] {
                if let c = one(key), c % g != 0 {
                    throw CaseCheckError(field: "\(path).kwargs.groups", message: "groups \(g) does not divide \(key) \(c)")
                }
            }
        }
        if let e = one("embed_dim"), let h = one("num_heads"), e % h != 0 {
            throw CaseCheckError(field: "\(path).kwargs.num_heads", message: "num_heads \(h) does not divide embed_dim \(e)")
        }
        // The largest weight the keywords make, as a shape.
        var weight: [Int]? = nil
        let spatial = cls.hasSuffix("1d") ? 1 : cls.hasSuffix("3d") ? 3 : 2
        if let i = one("in_channels"), let o = one("out_channels") {
            let k = value["kernel_size"].map { $0.count == 1 ? Array(repeating: $0[0], count: spatial) : $0 } ?? []
            weight = [o, i / (one("groups") ?? 1)] + k
        } else if let i = one("in_features"), let o = one("out_features") {
            weight = [o, i]
        } else if let n = one("num_embeddings"), let d = one("embedding_dim") {
            weight = [n, d]
        } else if let h = one("hidden_size") {
            weight = [4, h, (one("input_size") ?? 1) + h]
        } else if let e = one("embed_dim") {
            weight = [3, e, max(e, one("kdim") ?? 1, one("vdim") ?? 1)]
        }
        if let weight {
            if let problem = Self.limitProblem(weight) { throw CaseCheckError(field: "\(path).kwargs", message: "the weight \(problem)") }
        }
    }

    /// Why `shape` exceeds ``InputLimits`` (`nil` when it does not).
    static func limitProblem(_ shape: [Int]) -> String? {
        do {
            _ = try InputLimits.elementCount(shape)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// A loop count the case asks for (`field`): 0...``maxIterations``.
    static func iterations(_ n: Int, field: String) throws {
        guard (0...maxIterations).contains(n) else {
            throw CaseCheckError(field: field, message: "\(n) exceeds the limit on iterations (\(maxIterations))")
        }
    }

    /// Checks the inputs of one call of `layer` against what it takes: no empty tensor (the
    /// statistics of a quantizer need one element), a convolution's rank, channels and spatial
    /// size, a linear layer's features, an embedding's indices, and a per-channel activation
    /// quantizer's channels.
    static func inputs(_ layer: Module, _ args: [QuantValue]) throws {
        let name = "\(layer.typeName) input"
        for a in args where a.value.shape.contains(0) {
            throw CaseCheckError(field: name, message: "\(a.value.shape) holds no elements")
        }
        guard let x = args.first?.value.shape else { return }
        if let c = layer as? QuantCat {
            try cat(args.map(\.value.shape), dim: c.dim, field: name)
            return
        }
        if layer is QuantEltwiseAdd, args.count == 2 {
            try broadcast(x, args[1].value.shape, field: name)
            return
        }
        if let l = layer as? QuantWeightBiasLayer {
            let w = l.weight.shape
            if l is QuantLinear {
                guard let last = x.last, last == w[1] else {
                    throw CaseCheckError(field: name, message: "\(x) does not end in the layer's \(w[1]) in_features (weight \(w))")
                }
                return
            }
            let transposed = l is QuantConvTranspose1d || l is QuantConvTranspose2d
            let groups = (l as? QuantConv2d)?.groups ?? (l as? QuantConv1d)?.groups ?? (l as? QuantConv3d)?.groups
                ?? (l as? QuantConvTranspose2d)?.groups ?? (l as? QuantConvTranspose1d)?.groups ?? 1
            guard w.count >= 3 else { return }
            let channels = transposed ? w[0] : w[1] * groups
            guard x.count == w.count else {
                throw CaseCheckError(field: name, message: "\(x) is not a batch of \(w.count - 2)-D inputs [N, C, ...] (weight \(w))")
            }
            guard x[1] == channels else {
                throw CaseCheckError(field: name, message: "\(x) has \(x[1]) channels, the layer takes \(channels) (weight \(w), groups \(groups))")
            }
            let geometry: (kernel: [Int], padding: [Int], dilation: [Int])?
            if let g = (l as? QuantConv2d)?.geometry ?? (l as? QuantConv1d)?.geometry {
                geometry = (g.kernelSize, g.padding, g.dilation)
            } else if let c = l as? QuantConv3d {
                geometry = (c.kernelSize, c.padding, c.dilation)
            } else {
                geometry = nil
            }
            if let (k, p, dl) = geometry, k.count == x.count - 2 {
                // The zero-padded input (padding keywords are below 10^15: no overflow) within the limits.
                let padded = x.prefix(2) + (0..<k.count).map { x[2 + $0] + 2 * p[$0] }
                if let problem = limitProblem(Array(padded)) {
                    throw CaseCheckError(field: name, message: "\(x) zero-padded by \(p) \(problem)")
                }
                for d in 0..<k.count {
                    let (span, overflow) = dl[d].multipliedReportingOverflow(by: k[d] - 1)
                    guard overflow || padded[2 + d] <= span else { continue }
                    throw CaseCheckError(field: name, message: "\(x) is smaller than the kernel \(k) (padding \(p), dilation \(dl))")
                }
            }
            return
        }
        if let e = layer as? QuantEmbedding {
            for v in args[0].value.scalars where !(v >= 0 && v < Float(e.numEmbeddings) && v == v.rounded()) {
                throw CaseCheckError(field: name, message: "index \(v) is not in 0..<\(e.numEmbeddings) (num_embeddings)")
            }
            return
        }
        // A per-channel activation quantizer: its scale or statistics of rank ≥ 2 ([1, C, 1, 1])
        // must have the input's rank and broadcast with it.
        guard layer is QuantLayer, !(layer is QuantMultiInputLayer) else { return }
        for (key, t) in layer.namedParameters().map({ ($0.name, $0.tensor) }) + layer.namedBuffers().map({ ($0.name, $0.tensor) })
        where t.rank >= 2 && key.contains("act_quant") {
            guard t.rank == x.count, zip(t.shape, x).allSatisfy({ $0 == $1 || $0 == 1 || $1 == 1 }) else {
                throw CaseCheckError(field: name, message: "\(x) does not fit the per-channel quantizer's \(key) \(t.shape)")
            }
        }
    }

    /// `torch.cat(xs, dim)`: a dimension within the rank, the same rank and the same sizes outside `dim`.
    static func cat(_ shapes: [[Int]], dim: Int, field: String) throws {
        guard let first = shapes.first else { throw CaseCheckError(field: field, message: "cat of no tensors") }
        let d = dim < 0 ? dim + first.count : dim
        guard (0..<first.count).contains(d) else {
            throw CaseCheckError(field: field, message: "dim \(dim) is out of range for inputs of rank \(first.count)")
        }
        for s in shapes.dropFirst() where s.count != first.count || (0..<s.count).contains(where: { $0 != d && s[$0] != first[$0] }) {
            throw CaseCheckError(field: field, message: "cat of \(shapes) along dim \(dim): the shapes differ outside it")
        }
    }

    /// `flatten(start_dim, end_dim)`: both within the rank (a scalar flattens as rank 1), start ≤ end.
    static func flatten(_ shape: [Int], start: Int, end: Int, field: String) throws {
        let r = max(shape.count, 1)
        let s = start < 0 ? start + r : start, e = end < 0 ? end + r : end
        guard (0..<r).contains(s), (0..<r).contains(e), s <= e else {
            throw CaseCheckError(field: field, message: "start_dim \(start), end_dim \(end) do not fit an input \(shape)")
        }
    }

    /// Two shapes that broadcast together (NumPy's rule).
    static func broadcast(_ a: [Int], _ b: [Int], field: String) throws {
        for (x, y) in zip(a.reversed(), b.reversed()) where x != y && x != 1 && y != 1 {
            throw CaseCheckError(field: field, message: "shapes \(a) and \(b) do not broadcast together")
        }
    }
}
