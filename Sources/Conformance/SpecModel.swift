import NN
import QuantNN
import Quantizers
import TensorEngine

/// A model built from a case's `spec` (replay.py's `build`): a layer, a sequential model or a
/// graph of named child modules with a node program.
///
/// `module` is the root whose state keys the case records: the layer itself, or a container
/// whose children carry the element names (`conv.weight`).
final class SpecModel {
    enum Kind {
        case single(QuantLayer)
        case multi(QuantMultiInputLayer)
        case flatten(startDim: Int, endDim: Int)
        case sequential([SpecModel])
        case graph(inputs: [String], modules: [String: SpecModel], nodes: [JSON], output: String)
        /// QuantRNN, QuantLSTM: the output sequence and the final states (`spec.outputs`).
        case recurrent(RecurrentLayer)
        /// QuantMultiheadAttention: the attention output and weights (`spec.outputs`).
        case attention(QuantMultiheadAttention)
    }

    let kind: Kind
    /// The module owning this model's state (`nil` for a stateless op).
    let module: Module?

    init(kind: Kind, module: Module?) {
        self.kind = kind
        self.module = module
    }

    /// Builds a model spec: `{"class", "kwargs"}`, `{"sequential": [...]}`, `{"graph": {...}}` or a
    /// stateless op `{"op": "flatten", ...}`.
    static func build(_ spec: JSON) throws -> SpecModel {
        if let cls = spec["class"]?.string {
            guard LayerFactory.classNames.contains(cls) || LayerFactory.recurrentClassNames.contains(cls)
                || LayerFactory.attentionClassNames.contains(cls)
            else {
                throw ReplayError.unsupported("layer class \(cls)")
            }
            try CaseCheck.keywords(cls, spec["kwargs"], path: "spec.model")
            var kwargs: [String: ConfigValue] = [:]
            for (k, v) in spec["kwargs"]?.object?.pairs ?? [] { kwargs[k] = try configValue(v) }
            if LayerFactory.attentionClassNames.contains(cls) {
                let l = try LayerFactory.makeAttention(className: cls, kwargs: kwargs)
                return SpecModel(kind: .attention(l), module: l)
            }
            if LayerFactory.recurrentClassNames.contains(cls) {
                let l = try LayerFactory.makeRecurrent(className: cls, kwargs: kwargs)
                return SpecModel(kind: .recurrent(l), module: l)
            }
            let built = try LayerFactory.make(className: cls, kwargs: kwargs)
            switch built {
            case .single(let l): return SpecModel(kind: .single(l), module: l)
            case .multi(let l): return SpecModel(kind: .multi(l), module: l)
            }
        }
        if let elements = spec["sequential"]?.array {
            let container = SpecContainer("Sequential")
            var children: [SpecModel] = []
            for e in elements {
                guard let name = e["name"]?.string else { throw ReplayError.malformed("sequential element without a name") }
                let child = e["op"] != nil ? try buildOp(e) : try build(e)
                if let m = child.module { container.registerModule(name, m) }
                children.append(child)
            }
            return SpecModel(kind: .sequential(children), module: container)
        }
        if let g = spec["graph"] {
            let container = SpecContainer("Graph")
            var modules: [String: SpecModel] = [:]
            for (name, ms) in g["modules"]?.object?.pairs ?? [] {
                let child = try build(ms)
                if let m = child.module { container.registerModule(name, m) }
                modules[name] = child
            }
            guard let inputs = g["inputs"]?.array?.compactMap(\.string), let nodes = g["nodes"]?.array,
                let output = g["output"]?.string
            else { throw ReplayError.malformed("graph needs inputs, nodes and output") }
            return SpecModel(kind: .graph(inputs: inputs, modules: modules, nodes: nodes, output: output), module: container)
        }
        if spec["op"] != nil { return try buildOp(spec) }
        throw ReplayError.unsupported("model spec with keys \(spec.object?.keys.sorted() ?? [])")
    }

    static func buildOp(_ e: JSON) throws -> SpecModel {
        guard e["op"]?.string == "flatten" else { throw ReplayError.unsupported("sequential op \(e["op"] ?? .null)") }
        return SpecModel(kind: .flatten(startDim: e["start_dim"]?.int ?? 1, endDim: e["end_dim"]?.int ?? -1), module: nil)
    }

    /// Every quantizer preset the product builds, by Brevitas class name. A name outside it is
    /// reported as not built yet (a runner limitation), never passed on to fail as a
    /// configuration error that an `expected_error` case could mistake for its own. A new
    /// family of presets adds its `presetNames` here.
    static let knownQuantizers = Set(ActQuant.presetNames + WeightQuant.presetNames + BiasQuant.presetNames + TruncQuant.presetNames)

    /// A spec keyword value: numbers, booleans, `null`, arrays (tuples) and `{"quantizer": N}`.
    static func configValue(_ v: JSON) throws -> ConfigValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .numbers(let d): return .array(d.map(ConfigValue.number))
        case .array(let a): return .array(try a.map(configValue))
        case .object(let o):
            guard o.keys == ["quantizer"], let name = o["quantizer"]?.string else {
                throw ReplayError.unsupported("keyword value \(v)")
            }
            guard knownQuantizers.contains(name) else { throw ReplayError.unsupported("quantizer \(name)") }
            return .quantizer(name)
        }
    }

    /// Sets training or evaluation mode on the whole model.
    func train(_ on: Bool) { module?.train(on) }

    /// Runs the model on `args` (`call.kwargs` may give QuantCat's `dim`).
    func callAsFunction(_ args: [QuantValue], dim: Int? = nil) throws -> QuantValue {
        switch kind {
        case .single(let l):
            guard args.count == 1 else { throw ReplayError.unsupported("\(l.typeName) takes one input, got \(args.count)") }
            try CaseCheck.inputs(l, args)
            return try l.forward(args[0])
        case .multi(let l):
            if let dim {
                guard let cat = l as? QuantCat else { throw ReplayError.unsupported("call keyword dim on \(l.typeName)") }
                try CaseCheck.inputs(cat, args)
                try CaseCheck.cat(args.map(\.value.shape), dim: dim, field: "QuantCat input")
                return try cat.forward(args, dim: dim)
            }
            try CaseCheck.inputs(l, args)
            return try l.forward(args)
        case .flatten(let s, let e):
            guard args.count == 1 else { throw ReplayError.unsupported("flatten takes one input") }
            try CaseCheck.flatten(args[0].value.shape, start: s, end: e, field: "flatten input")
            return Ops.flatten(args[0], startDim: s, endDim: e)
        case .sequential(let children):
            guard args.count == 1 else { throw ReplayError.unsupported("a sequential model takes one input, got \(args.count)") }
            var v = args[0]
            for c in children { v = try c([v]) }
            return v
        case .recurrent(let l as Module), .attention(let l as Module):
            throw ReplayError.malformed("\(l.typeName) returns several outputs: the spec must name them (spec.outputs)")
        case .graph(let inputs, let modules, let nodes, let output):
            guard args.count == inputs.count else { throw ReplayError.unsupported("graph takes \(inputs.count) inputs, got \(args.count)") }
            var env: [String: Value] = [:]
            for (n, a) in zip(inputs, args) { env[n] = .value(a) }
            try Ops.runNodes(nodes, env: &env, modules: modules, given: [:])
            guard case .value(let out)? = env[output] else { throw ReplayError.malformed("graph output '\(output)' is not bound to a tensor") }
            return out
        }
    }
}

extension SpecModel {
    /// What a model returns when the spec names several outputs: a value, `None`, or a tuple.
    indirect enum Output {
        case value(QuantValue)
        case none
        case tuple([Output])
    }

    /// Runs a model that returns a tuple (QuantRNN/QuantLSTM: `(out, h_n)` / `(out, (h_n, c_n))`;
    /// QuantMultiheadAttention: `(attn_output, attn_weights | None)`).
    func callTuple(_ call: ModelCall) throws -> Output {
        switch kind {
        case .recurrent(let l):
            // forward(inp, hx=None[, cx=None]): the input, then the initial states.
            let maxArgs = l is QuantLSTM ? 3 : 2
            guard (1...maxArgs).contains(call.args.count) else {
                throw ReplayError.unsupported("\(l.typeName) takes the input and at most \(maxArgs - 1) initial state(s), got \(call.args.count) inputs")
            }
            if let k = (Array(call.kwargs.keys) + Array(call.tensorKwargs.keys)).sorted().first {
                throw ReplayError.unsupported("call keyword \(k) of \(l.typeName)")
            }
            let o = try l(call.args[0], states: call.args.dropFirst().map(\.value))
            let state: Output = o.cell.map { .tuple([.value(o.hidden), .value($0)]) } ?? .value(o.hidden)
            return .tuple([.value(o.output), state])
        case .attention(let l):
            guard call.args.count == 3 else { throw ReplayError.unsupported("\(l.typeName) takes query, key and value, got \(call.args.count) inputs") }
            var needWeights = true, average = true
            for (k, v) in call.kwargs {
                switch (k, v.bool) {
                case ("need_weights", let b?): needWeights = b
                case ("average_attn_weights", let b?): average = b
                default: throw ReplayError.unsupported("call keyword \(k)=\(v) of \(l.typeName)")
                }
            }
            var masks: [String: AttentionMask] = [:]
            for (k, v) in call.tensorKwargs {
                guard k == "attn_mask" || k == "key_padding_mask" else { throw ReplayError.unsupported("call tensor keyword \(k) of \(l.typeName)") }
                masks[k] = v.boolean ? .boolean(v.value.value) : .additive(v.value.value)
            }
            let o = try l(query: call.args[0], key: call.args[1], value: call.args[2], attnMask: masks["attn_mask"],
                          keyPaddingMask: masks["key_padding_mask"], needWeights: needWeights, averageAttnWeights: average)
            return .tuple([.value(o.output), o.weights.map { .value(.float($0)) } ?? .none])
        default:
            throw ReplayError.unsupported("several outputs (spec.outputs) of a model other than QuantRNN, QuantLSTM and QuantMultiheadAttention")
        }
    }

    /// The named values of `output` laid out as `structure` (a nested list of names, e.g.
    /// `["out", ["h_n", "c_n"]]`), in order; `nil` for a `None` output.
    static func flatten(_ output: Output, _ structure: JSON) throws -> [(String, QuantValue?)] {
        if let name = structure.string {
            switch output {
            case .value(let v): return [(name, v)]
            case .none: return [(name, nil)]
            case .tuple: throw ReplayError.unsupported("output \(name): a tuple where the spec names one value")
            }
        }
        guard let parts = structure.array, case .tuple(let items) = output, items.count == parts.count else {
            throw ReplayError.malformed("the model's outputs do not have the structure of spec.outputs \(structure)")
        }
        return try zip(items, parts).flatMap { try flatten($0, $1) }
    }
}

/// A container for sequential and graph models: only names the children, so their state keys
/// get the element names as prefixes.
final class SpecContainer: Module {
    let name: String
    init(_ name: String) {
        self.name = name
        super.init()
    }
    override var typeName: String { name }
}

/// A value bound in a program's environment or produced by a printed expression.
enum Value {
    case value(QuantValue)
    case bool(Bool)
    case number(Double)
    case list([Value])

    var tensor: Tensor? {
        switch self {
        case .value(let v): return v.value
        case .number(let d): return Tensor(Float(d))
        default: return nil
        }
    }
}

/// The node program ops and printed expressions of the spec.
enum Ops {
    static func flatten(_ v: QuantValue, startDim: Int, endDim: Int) -> QuantValue {
        switch v {
        case .quant(let q): return .quant(q.flatten(startDim: startDim, endDim: endDim))
        case .float(let t): return .float(t.flatten(startDim: startDim, endDim: endDim))
        }
    }

    /// Evaluates program nodes in order, binding each node's `output` in `env` (`run_nodes`).
    static func runNodes(_ nodes: [JSON], env: inout [String: Value], modules: [String: SpecModel], given: [String: QuantValue]) throws {
        func arg(_ name: String) throws -> QuantValue {
            guard case .value(let v)? = env[name] else { throw ReplayError.malformed("node input '\(name)' is not bound") }
            return v
        }
        for n in nodes {
            guard let out = n["output"]?.string else { throw ReplayError.malformed("node without output") }
            if let apply = n["apply"]?.array {
                guard let input = n["input"]?.string else { throw ReplayError.malformed("apply node without input") }
                var v = try arg(input)
                for m in apply {
                    guard let name = m.string, let model = modules[name] else { throw ReplayError.malformed("unknown module \(m)") }
                    v = try model([v])
                }
                env[out] = .value(v)
                continue
            }
            guard let op = n["op"]?.string else { throw ReplayError.malformed("node without apply or op") }
            let args = try (n["inputs"]?.array ?? []).map { j -> QuantValue in
                guard let s = j.string else { throw ReplayError.malformed("node input \(j)") }
                return try arg(s)
            }
            let v: QuantValue
            switch op {
            case "add":
                guard args.count == 2 else { throw ReplayError.malformed("add takes two inputs") }
                try CaseCheck.broadcast(args[0].value.shape, args[1].value.shape, field: "node \(out) (add)")
                v = try add(args[0], args[1])
            case "cat":
                guard let dim = n["dim"]?.int else { throw ReplayError.malformed("cat without dim") }
                try CaseCheck.cat(args.map(\.value.shape), dim: dim, field: "node \(out) (cat)")
                let qs = args.compactMap(\.quantTensor)
                if qs.count == args.count {
                    v = .quant(try QuantTensor.cat(qs, dim: dim))
                } else {
                    v = .float(Tensor.cat(args.map(\.value), dim: dim))
                }
            case "torch.relu":
                guard args.count == 1 else { throw ReplayError.malformed("torch.relu takes one input") }
                v = .float(args[0].value.relu())
            case "flatten":
                guard args.count == 1 else { throw ReplayError.malformed("flatten takes one input") }
                let (start, end) = (n["start_dim"]?.int ?? 1, n["end_dim"]?.int ?? -1)
                try CaseCheck.flatten(args[0].value.shape, start: start, end: end, field: "node \(out) (flatten)")
                v = flatten(args[0], startDim: start, endDim: end)
            case "given":
                guard let g = given[out] else { throw ReplayError.malformed("no recorded value for given '\(out)'") }
                v = g
            default:
                throw ReplayError.unsupported("node op \(op)")
            }
            env[out] = .value(v)
        }
    }

    /// `A + B`: QuantTensor addition on two QuantTensors, a shift folded into the zero point with
    /// one plain tensor, plain addition otherwise.
    static func add(_ a: QuantValue, _ b: QuantValue) throws -> QuantValue {
        switch (a, b) {
        case (.quant(let x), .quant(let y)): return .quant(try x + y)
        case (.quant(let x), .float(let y)): return .quant(x + y)
        case (.float(let x), .quant(let y)): return .quant(y + x)
        case (.float(let x), .float(let y)): return .float(x + y)
        }
    }

    /// Evaluates a printed expression (`eval_expr`): a list, a number, a name or `name.field`, or
    /// `{"op", "args"}` with `isclose_all`, `equal_all`, `is_valid`, `not`, `mul`.
    static func eval(_ e: JSON, _ env: [String: Value]) throws -> Value {
        if case .numbers(let d) = e { return .list(d.map(Value.number)) }
        if let a = e.array, case .array = e { return .list(try a.map { try eval($0, env) }) }
        if let d = e.double { return .number(d) }
        if let s = e.string {
            let parts = s.split(separator: ".", maxSplits: 1).map(String.init)
            guard let v = env[parts[0]] else { throw ReplayError.malformed("printed expression names unbound '\(parts[0])'") }
            guard parts.count == 2 else { return v }
            guard case .value(let qv) = v else { throw ReplayError.malformed("'\(s)': not a tensor") }
            if parts[1] == "value" { return .value(.float(qv.value)) }
            guard let q = qv.quantTensor else { throw ReplayError.malformed("'\(s)': not a QuantTensor") }
            switch parts[1] {
            case "scale": return .value(.float(q.scale))
            case "zero_point": return .value(.float(q.zeroPoint))
            case "bit_width": return .value(.float(q.bitWidth))
            default: throw ReplayError.unsupported("QuantTensor field \(parts[1])")
            }
        }
        guard let op = e["op"]?.string, let rawArgs = e["args"]?.array else { throw ReplayError.malformed("printed expression \(e)") }
        let args = try rawArgs.map { try eval($0, env) }
        func tensors() throws -> (Tensor, Tensor) {
            guard args.count == 2, let a = args[0].tensor, let b = args[1].tensor else {
                throw ReplayError.malformed("\(op) takes two tensors")
            }
            return (a, b)
        }
        return try Autograd.noGrad { () throws -> Value in
            switch op {
            case "isclose_all":
                // torch.isclose defaults: |a - b| <= 1e-8 + 1e-5 * |b|, broadcasting.
                let (a, b) = try tensors()
                let within = (a - b).abs().le(b.abs() * 1e-5 + 1e-8).scalars
                let equal = a.eq(b).scalars
                return .bool(zip(within, equal).allSatisfy { $0 == 1 || $1 == 1 })
            case "equal_all":
                let (a, b) = try tensors()
                return .bool(a.eq(b).scalars.allSatisfy { $0 == 1 })
            case "is_valid":
                guard case .value(let v)? = args.first, let q = v.quantTensor else { throw ReplayError.malformed("is_valid takes a QuantTensor") }
                return .bool(q.isValid)
            case "not":
                guard case .bool(let b)? = args.first else { throw ReplayError.malformed("not takes a boolean") }
                return .bool(!b)
            case "mul":
                let (a, b) = try tensors()
                return .value(.float(a * b))
            default:
                throw ReplayError.unsupported("printed op \(op)")
            }
        }
    }

    /// A printed value as a record (`printed_record`).
    static func record(_ v: Value) -> JSON {
        switch v {
        case .value(let q): return Records.record(q.value)
        case .bool(let b): return .bool(b)
        case .number(let d): return .number(d)
        case .list(let l): return .array(l.map(record))
        }
    }
}
