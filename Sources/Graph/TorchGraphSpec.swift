import Foundation
import NN
import TensorEngine

/// Builds a ``GraphModule`` from a PyTorch-style description of a float model: named modules
/// given by their `torch.nn` class and constructor arguments, and nodes evaluated in order (the
/// `spec.float_model.graph` of the conformance cases, `README-ptq.md`, "The float graph"):
///
/// ```json
/// {"inputs": ["x"],
///  "modules": {"conv1": {"class": "torch.nn.Conv2d", "kwargs": {"in_channels": 1, "out_channels": 4, "kernel_size": 3}},
///              "relu1": {"class": "torch.nn.ReLU", "kwargs": {}}},
///  "nodes": [{"output": "conv1", "apply": ["conv1"], "input": "x"},
///            {"output": "relu1", "apply": ["relu1"], "input": "conv1"},
///            {"output": "add", "op": "add", "inputs": ["relu1", "conv1"]}],
///  "output": "add"}
/// ```
///
/// Classes: Conv2d, Linear, BatchNorm2d, ReLU, ReLU6, Sigmoid, Tanh, MaxPool2d, AvgPool2d,
/// AdaptiveAvgPool2d, Dropout, Flatten, Identity. Ops: `add`, `mul`, `cat` (`dim`), `flatten`
/// (`start_dim`, `end_dim`), `relu`. Anything else, and any unknown argument, is an error that
/// lists what is supported. Parameters have their default initialization; load trained values
/// with ``Module/loadStateDict(_:strict:)``.
public enum TorchGraphSpec {
    /// Why a description could not be built.
    public struct SpecError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    static let classes = ["Conv2d", "Linear", "BatchNorm2d", "ReLU", "ReLU6", "Sigmoid", "Tanh", "MaxPool2d", "AvgPool2d",
                          "AdaptiveAvgPool2d", "Dropout", "Flatten", "Identity"]

    /// Builds the graph from the parsed JSON object.
    public static func build(_ json: Any) throws -> GraphModule {
        guard let g = json as? [String: Any] else { throw SpecError("the graph must be a JSON object") }
        guard let inputs = g["inputs"] as? [String], !inputs.isEmpty else { throw SpecError("'inputs' must be a non-empty list of names") }
        guard let modules = g["modules"] as? [String: Any] else { throw SpecError("'modules' must be an object") }
        guard let nodes = g["nodes"] as? [[String: Any]] else { throw SpecError("'nodes' must be a list of objects") }
        guard let output = g["output"] as? String else { throw SpecError("'output' must be a name") }
        let b = GraphBuilder()
        var values: [String: GraphValue] = [:]
        for name in inputs { values[name] = b.input(name) }
        func value(_ name: Any?, node: String) throws -> GraphValue {
            guard let name = name as? String, let v = values[name] else {
                throw SpecError("node '\(node)' reads \(name.map { "'\($0)'" } ?? "nothing"), which no input or earlier node defines")
            }
            return v
        }
        for node in nodes {
            guard let out = node["output"] as? String else { throw SpecError("a node has no 'output' name") }
            guard values[out] == nil else { throw SpecError("the value '\(out)' is defined twice") }
            if let apply = node["apply"] {
                guard let path = (apply as? [String])?.first, (apply as? [String])?.count == 1 else {
                    throw SpecError("node '\(out)': 'apply' must name one module")
                }
                let x = try value(node["input"], node: out)
                if b.module(at: path) != nil {
                    values[out] = b.call(path, x, name: out)
                } else {
                    guard let spec = modules[path] as? [String: Any] else { throw SpecError("node '\(out)' applies '\(path)', which 'modules' does not define") }
                    values[out] = b.call(path, try layer(spec, name: path), x, name: out)
                }
            } else if let op = node["op"] as? String {
                let ins = try ((node["inputs"] as? [Any]) ?? []).map { try value($0, node: out) }
                let graphOp: GraphOp
                switch op {
                case "add": graphOp = .add
                case "mul": graphOp = .mul
                case "relu": graphOp = .relu
                case "cat": graphOp = .concat(axis: try int(node["dim"] ?? 0, "dim", out))
                case "flatten":
                    graphOp = .flatten(startDim: try int(node["start_dim"] ?? 0, "start_dim", out),
                                       endDim: try int(node["end_dim"] ?? -1, "end_dim", out))
                default: throw SpecError("node '\(out)': op '\(op)' is not supported (supported: add, mul, relu, cat, flatten)")
                }
                if let arity = graphOp.arity, !arity.contains(ins.count) {
                    throw SpecError("node '\(out)': \(op) takes \(arity.lowerBound) inputs, got \(ins.count)")
                }
                values[out] = b.op(graphOp, ins, name: out)
            } else {
                throw SpecError("node '\(out)' has neither 'apply' nor 'op'")
            }
        }
        guard let result = values[output] else { throw SpecError("the output '\(output)' is not defined") }
        do { return try b.build(outputs: [result]) } catch { throw SpecError(error.description) }
    }

    static func int(_ v: Any, _ key: String, _ owner: String) throws -> Int {
        guard let n = v as? NSNumber, !isBoolean(n), n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else {
            throw SpecError("'\(owner)': '\(key)' must be an integer, got \(v)")
        }
        return n.intValue
    }

    /// Whether a JSON number is `true`/`false` (Foundation boxes both as `NSNumber`).
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func intOrPair(_ v: Any, _ key: String, _ owner: String) throws -> IntOrPair {
        if let list = v as? [Any] {
            guard list.count == 2 else { throw SpecError("'\(owner)': '\(key)' must be an integer or a pair, got \(list)") }
            return IntOrPair(try int(list[0], key, owner), try int(list[1], key, owner))
        }
        return IntOrPair(try int(v, key, owner))
    }

    /// One module from `{"class": "torch.nn.C", "kwargs": {...}}`.
    static func layer(_ spec: [String: Any], name: String) throws -> any Layer {
        guard let cls = spec["class"] as? String else { throw SpecError("module '\(name)' has no 'class'") }
        let short = cls.hasPrefix("torch.nn.") ? String(cls.dropFirst("torch.nn.".count)) : cls
        let kwargs = spec["kwargs"] as? [String: Any] ?? [:]
        var consumed = Set<String>()
        func arg(_ key: String) -> Any? { consumed.insert(key); return kwargs[key] }
        func required(_ key: String) throws -> Any {
            guard let v = arg(key) else { throw SpecError("module '\(name)' (\(short)): missing argument '\(key)'") }
            return v
        }
        func bool(_ key: String, _ def: Bool) throws -> Bool {
            guard let v = arg(key) else { return def }
            guard let n = v as? NSNumber, isBoolean(n) else { throw SpecError("module '\(name)': '\(key)' must be true or false") }
            return n.boolValue
        }
        func float(_ key: String, _ def: Float) throws -> Float {
            guard let v = arg(key) else { return def }
            guard let n = v as? NSNumber, !isBoolean(n) else { throw SpecError("module '\(name)': '\(key)' must be a number") }
            return n.floatValue
        }
        let layer: any Layer
        switch short {
        case "Conv2d":
            let cin = try int(try required("in_channels"), "in_channels", name)
            let cout = try int(try required("out_channels"), "out_channels", name)
            let k = try intOrPair(try required("kernel_size"), "kernel_size", name)
            let stride = try arg("stride").map { try intOrPair($0, "stride", name) } ?? 1
            let padding = try arg("padding").map { try intOrPair($0, "padding", name) } ?? 0
            let dilation = try arg("dilation").map { try intOrPair($0, "dilation", name) } ?? 1
            let groups = try arg("groups").map { try int($0, "groups", name) } ?? 1
            guard cin > 0, cout > 0, groups > 0, cin % groups == 0, cout % groups == 0, k.first > 0, k.second > 0 else {
                throw SpecError("module '\(name)': invalid Conv2d arguments \(kwargs)")
            }
            layer = Conv2d(cin, cout, kernelSize: k, stride: stride, padding: padding, dilation: dilation, groups: groups,
                           bias: try bool("bias", true))
        case "Linear":
            let i = try int(try required("in_features"), "in_features", name)
            let o = try int(try required("out_features"), "out_features", name)
            guard i > 0, o > 0 else { throw SpecError("module '\(name)': invalid Linear arguments \(kwargs)") }
            layer = Linear(i, o, bias: try bool("bias", true))
        case "BatchNorm2d":
            let n = try int(try required("num_features"), "num_features", name)
            guard n > 0 else { throw SpecError("module '\(name)': num_features must be positive") }
            layer = BatchNorm2d(numFeatures: n, eps: try float("eps", 1e-5), momentum: try float("momentum", 0.1))
        case "ReLU": _ = arg("inplace"); layer = ReLU()
        case "ReLU6": _ = arg("inplace"); layer = ReLU6()
        case "Sigmoid": layer = Sigmoid()
        case "Tanh": layer = Tanh()
        case "Identity": layer = Identity()
        case "Flatten":
            layer = Flatten(startDim: try arg("start_dim").map { try int($0, "start_dim", name) } ?? 1,
                            endDim: try arg("end_dim").map { try int($0, "end_dim", name) } ?? -1)
        case "MaxPool2d", "AvgPool2d":
            let k = try intOrPair(try required("kernel_size"), "kernel_size", name)
            let stride = try arg("stride").map { try intOrPair($0, "stride", name) }
            let padding = try arg("padding").map { try intOrPair($0, "padding", name) } ?? 0
            layer = short == "MaxPool2d" ? MaxPool2d(kernelSize: k, stride: stride, padding: padding)
                : AvgPool2d(kernelSize: k, stride: stride, padding: padding)
        case "AdaptiveAvgPool2d":
            layer = AdaptiveAvgPool2d(outputSize: try intOrPair(try required("output_size"), "output_size", name))
        case "Dropout":
            let p = try float("p", 0.5)
            _ = arg("inplace")
            guard p >= 0, p <= 1 else { throw SpecError("module '\(name)': Dropout p must be in [0, 1], got \(p)") }
            layer = Dropout(p: p)
        default:
            throw SpecError("module '\(name)': class '\(cls)' is not supported (supported: \(classes.map { "torch.nn." + $0 }.joined(separator: ", ")))")
        }
        if let extra = kwargs.keys.sorted().first(where: { !consumed.contains($0) }) {
            throw SpecError("module '\(name)' (\(short)): argument '\(extra)' is not supported")
        }
        return layer
    }
}
