import NN
import TensorEngine

/// The float model of a PTQ case (README-ptq.md, "The float graph"), built with NN's layers:
/// named PyTorch modules (`{"class": "torch.nn.C", "kwargs"}` with PyTorch's argument names and
/// defaults) and a program of nodes (`apply`, `add`, `cat`, `flatten`) evaluated in order.
///
/// `module` owns the layers under their names, so its state keys are the case's
/// (`conv1.weight`, `bn1.running_var`). The model runs in eval mode.
final class FloatGraph {
    let inputs: [String]
    let output: String
    let nodes: [JSON]
    /// The layers by name, in the order the spec lists them.
    let layers: [(name: String, layer: Layer)]
    let module: SpecContainer

    init(_ g: JSON) throws {
        guard let inputs = g["inputs"]?.array?.compactMap(\.string), let nodes = g["nodes"]?.array,
            let output = g["output"]?.string, let modules = g["modules"]?.object
        else { throw ReplayError.malformed("float_model.graph needs inputs, modules, nodes and output") }
        self.inputs = inputs
        self.nodes = nodes
        self.output = output
        module = SpecContainer("FloatGraph")
        var layers: [(String, Layer)] = []
        for (name, spec) in modules.pairs {
            let layer = try Self.layer(spec, name)
            module.registerModule(name, layer)
            layers.append((name, layer))
        }
        self.layers = layers
        module.train(false)
    }

    /// The PyTorch layer classes a float graph may hold, each built from its keyword arguments.
    static func layer(_ spec: JSON, _ name: String) throws -> Layer {
        guard let cls = spec["class"]?.string else { throw ReplayError.malformed("float module \(name) has no class") }
        var kw = FloatKwargs(cls: cls, pairs: spec["kwargs"]?.object)
        let layer: Layer
        switch cls {
        case "torch.nn.Conv2d":
            let i = try kw.int("in_channels"), o = try kw.int("out_channels"), k = try kw.pair("kernel_size")
            let s = try kw.pair("stride", 1), p = try kw.pair("padding", 0), d = try kw.pair("dilation", 1)
            let g = try kw.int("groups", 1), b = try kw.bool("bias", true)
            guard i > 0, o > 0, g > 0, i % g == 0, o % g == 0, k.first > 0, k.second > 0, s.first > 0, s.second > 0,
                p.first >= 0, p.second >= 0, d.first > 0, d.second > 0
            else { throw ReplayError.malformed("\(name): Conv2d geometry \(spec["kwargs"] ?? .null)") }
            layer = Conv2d(i, o, kernelSize: k, stride: s, padding: p, dilation: d, groups: g, bias: b)
        case "torch.nn.Linear":
            let i = try kw.int("in_features"), o = try kw.int("out_features")
            guard i > 0, o > 0 else { throw ReplayError.malformed("\(name): Linear sizes \(i) -> \(o)") }
            layer = Linear(i, o, bias: try kw.bool("bias", true))
        case "torch.nn.BatchNorm2d":
            let n = try kw.int("num_features")
            guard n > 0 else { throw ReplayError.malformed("\(name): BatchNorm2d num_features \(n)") }
            layer = BatchNorm2d(numFeatures: n, eps: Float(try kw.double("eps", 1e-5)))
        case "torch.nn.ReLU": layer = ReLU()
        case "torch.nn.ReLU6": layer = HardTanh(minValue: 0, maxValue: 6)
        case "torch.nn.Sigmoid": layer = Sigmoid()
        case "torch.nn.Identity": layer = FloatIdentity()
        case "torch.nn.Dropout":
            let p = try kw.double("p", 0.5)
            guard p >= 0 && p <= 1 else { throw ReplayError.malformed("\(name): Dropout p \(p)") }
            layer = Dropout(p: Float(p))
        case "torch.nn.Flatten": layer = Flatten(startDim: try kw.int("start_dim", 1), endDim: try kw.int("end_dim", -1))
        case "torch.nn.MaxPool2d":
            let k = try kw.pair("kernel_size")
            layer = MaxPool2d(kernelSize: k, stride: try kw.optionalPair("stride") ?? k, padding: try kw.pair("padding", 0))
        case "torch.nn.AvgPool2d":
            let k = try kw.pair("kernel_size")
            layer = AvgPool2d(kernelSize: k, stride: try kw.optionalPair("stride") ?? k, padding: try kw.pair("padding", 0))
        case "torch.nn.AdaptiveAvgPool2d": layer = AdaptiveAvgPool2d(outputSize: try kw.pair("output_size"))
        default: throw ReplayError.unsupported("float layer class \(cls)")
        }
        try kw.finish()
        return layer
    }

    /// The model's output on `x` (eval mode, no gradients).
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard inputs.count == 1 else { throw ReplayError.unsupported("float graphs with \(inputs.count) inputs") }
        var env: [String: Tensor] = [inputs[0]: x]
        let byName = Dictionary(layers.map { ($0.name, $0.layer) }, uniquingKeysWith: { a, _ in a })
        func arg(_ n: JSON) throws -> Tensor {
            guard let s = n.string, let v = env[s] else { throw ReplayError.malformed("float graph node input \(n) is not bound") }
            return v
        }
        return try Autograd.noGrad {
            for n in nodes {
                guard let out = n["output"]?.string else { throw ReplayError.malformed("float graph node without output") }
                if let apply = n["apply"]?.array {
                    var v = try arg(n["input"] ?? .null)
                    for m in apply {
                        guard let name = m.string, let l = byName[name] else { throw ReplayError.malformed("float graph applies unknown module \(m)") }
                        v = l(v)
                    }
                    env[out] = v
                    continue
                }
                let args = try (n["inputs"]?.array ?? []).map(arg)
                switch n["op"]?.string {
                case "add":
                    guard args.count == 2, args[0].shape == args[1].shape else { throw ReplayError.malformed("add of \(args.map(\.shape))") }
                    env[out] = args[0] + args[1]
                case "cat":
                    guard let dim = n["dim"]?.int, !args.isEmpty else { throw ReplayError.malformed("cat without dim or inputs") }
                    env[out] = Tensor.cat(args, dim: dim)
                case "flatten":
                    guard args.count == 1 else { throw ReplayError.malformed("flatten takes one input") }
                    env[out] = args[0].flatten(startDim: n["start_dim"]?.int ?? 1, endDim: n["end_dim"]?.int ?? -1)
                default:
                    throw ReplayError.unsupported("float graph node op \(n["op"] ?? .null)")
                }
            }
            guard let y = env[output] else { throw ReplayError.malformed("float graph output '\(output)' is not bound") }
            return y
        }
    }

    /// The float weights of every conv and linear layer as a stage records them
    /// (`{name: {"weight", "bias"}}`, `bias` null when absent).
    func weightRecords() -> JSON {
        let o = JSONObject()
        for (name, l) in layers {
            if let c = l as? Conv2d {
                o[name] = .object(JSONObject([("weight", Records.record(c.weight)), ("bias", Records.record(c.bias))]))
            } else if let f = l as? Linear {
                o[name] = .object(JSONObject([("weight", Records.record(f.weight)), ("bias", Records.record(f.bias))]))
            }
        }
        return .object(o)
    }
}

/// `torch.nn.Identity`.
final class FloatIdentity: Module, Layer {
    override var typeName: String { "Identity" }
    func callAsFunction(_ x: Tensor) -> Tensor { x }
}

/// The keyword arguments of a float layer, consumed one by one; a leftover one is an error.
struct FloatKwargs {
    let cls: String
    var remaining: [String: JSON]

    init(cls: String, pairs: JSONObject?) {
        self.cls = cls
        remaining = pairs?.values ?? [:]
    }

    mutating func take(_ key: String) -> JSON? { remaining.removeValue(forKey: key) }

    mutating func int(_ key: String, _ def: Int? = nil) throws -> Int {
        guard let v = take(key) else {
            guard let def else { throw ReplayError.malformed("\(cls) needs \(key)") }
            return def
        }
        guard let i = v.int else { throw ReplayError.malformed("\(cls).\(key) is not an integer: \(v)") }
        return i
    }

    mutating func double(_ key: String, _ def: Double) throws -> Double {
        guard let v = take(key) else { return def }
        guard let d = v.double else { throw ReplayError.malformed("\(cls).\(key) is not a number: \(v)") }
        return d
    }

    mutating func bool(_ key: String, _ def: Bool) throws -> Bool {
        guard let v = take(key) else { return def }
        guard let b = v.bool else { throw ReplayError.malformed("\(cls).\(key) is not a boolean: \(v)") }
        return b
    }

    mutating func optionalPair(_ key: String) throws -> IntOrPair? {
        guard let v = take(key), !v.isNull else { return nil }
        if let i = v.int { return IntOrPair(i) }
        if let d = v.doubles, d.count == 2, d.allSatisfy({ $0 == $0.rounded() }) { return IntOrPair(Int(d[0]), Int(d[1])) }
        throw ReplayError.malformed("\(cls).\(key) is not an integer or a pair: \(v)")
    }

    mutating func pair(_ key: String, _ def: Int? = nil) throws -> IntOrPair {
        if let p = try optionalPair(key) { return p }
        guard let def else { throw ReplayError.malformed("\(cls) needs \(key)") }
        return IntOrPair(def)
    }

    func finish() throws {
        if let k = remaining.keys.sorted().first { throw ReplayError.unsupported("\(cls) keyword \(k)") }
    }
}
