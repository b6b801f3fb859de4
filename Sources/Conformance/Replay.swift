import NN
import QuantNN
import TensorEngine

/// The family of a case, which decides how it is replayed and which tolerance additions apply.
///
/// `spec_version` 1 cases are `v1` (README.md). `spec_version` 2 cases name their family in
/// `family` (`"ptq"`, `"formats"`); a v2 case without one is a `layers` case (README-layers.md:
/// `replay_layers.py` replays every v2 case that is not of another family).
public enum CaseFamily: String, Sendable, CaseIterable {
    case v1 = "cases"
    case ptq
    case formats
    case layers

    /// The family of a parsed case, or `nil` with the reason when the runner does not know it.
    static func of(_ json: JSON) throws -> CaseFamily {
        switch json["spec_version"]?.int {
        case 1:
            return .v1
        case 2:
            guard let name = json["family"] else { return .layers }
            guard let s = name.string, let f = CaseFamily(rawValue: s), f != .v1 else {
                throw ReplayError.unsupported("case family \(name)")
            }
            return f
        default:
            throw ReplayError.unsupported("spec_version \(json["spec_version"] ?? .null) (this runner reads 1 and 2)")
        }
    }
}

/// Replays one conformance case (README "Replaying a case"; replay.py `--policy --sync`): builds
/// the model(s) from `spec`, checks the fresh state, loads `initial_state`, replays every step with
/// the reference state re-synchronised before each, and compares outputs, quantizer
/// intermediates, losses, gradients (null vs zero included), states, printed values and the
/// export output. QAT cases also get a free-running run from `initial_state`. PTQ cases walk
/// their pipeline stages (`PTQReplay`).
///
/// A case lacking a field its kind requires is malformed and fails (`need`); whatever the runner
/// cannot build yet (a layer class, a quantizer, a spec feature, a stage) fails with the reason
/// (`ReplayError.unsupported`), and neither ever counts as an expected error.
struct Replay {
    let json: JSON
    let chk: Checker
    let family: CaseFamily
    /// v2 `state_aliases`: recorded name → its other names, and each other name → recorded name.
    let aliases: [String: [String]]
    let canonicalName: [String: String]

    init(json: JSON, chk: Checker) throws {
        self.chk = chk
        family = try CaseFamily.of(json)
        self.json = family == .layers ? Self.foldingFastCellKeys(json) : json
        var aliases: [String: [String]] = [:], canonical: [String: String] = [:]
        for (name, others) in json["state_aliases"]?.object?.pairs ?? [] {
            guard let list = others.array?.compactMap(\.string), list.count == others.array?.count else {
                throw ReplayError.malformed("state_aliases.\(name) is not a list of names")
            }
            aliases[name] = list
            for o in list { canonical[o] = name }
        }
        self.aliases = aliases
        canonicalName = canonical
    }

    /// The case with every `…_fast_cell.X.tensor_quant.…` key under this port's path
    /// (``RecurrentStateKeys/canonical(_:)``). Brevitas's recurrent layers build a `_fast_cell`
    /// on their first forward holding their cell's fused quantizers, so after a step the
    /// recorded states and gradients name those tensors by the shorter `_fast_cell` path; the
    /// port runs the same quantizers from the cell and has no second copy of the names.
    static func foldingFastCellKeys(_ j: JSON) -> JSON {
        switch j {
        case .object(let o):
            return .object(JSONObject(o.pairs.map { (RecurrentStateKeys.canonical($0.key), foldingFastCellKeys($0.value)) }))
        case .array(let a): return .array(a.map(foldingFastCellKeys))
        default: return j
        }
    }

    /// Our module's state under the recorded names (`state_aliases` folded).
    func moduleState(_ m: Module) -> ModuleState { ModuleState(of: m).canonicalized(canonicalName) }

    /// Loads a recorded state, finding aliased names.
    func loadState(_ st: JSON, _ m: Module) throws { try ModuleState.load(st, into: m, aliases: aliases) }

    var name: String { json["name"]?.string ?? "?" }

    /// Replays the case; returns a note when the case is not comparable (`reference_error`).
    func run() throws -> String? {
        chk.startCase()
        chk.hqo = family == .formats && name.contains("hqo")
        let spec = try need(json, "spec", "case")
        switch family {
        case .ptq:
            return try PTQReplay(json: json, spec: spec, chk: chk).run()
        case .v1, .formats, .layers:
            if spec["model"] != nil {
                chk.policyKind = family == .layers ? Checker.PolicyKind.of(spec["model"]!) : .standard
                if let re = json["reference_error"] { return try referenceError(spec, re) }
                try modelCase(spec)
            } else {
                guard family == .v1 else { throw ReplayError.malformed("a \(family.rawValue) case without spec.model") }
                try notebookCase(spec)
            }
            return nil
        }
    }

    // MARK: Required fields


    /// The step's `mode`, which must be `"train"` or `"eval"`.
    func mode(_ s: JSON, _ path: String) throws -> Bool {
        switch try need(s, "mode", path).string {
        case "train": return true
        case "eval": return false
        default: throw ReplayError.malformed("\(path): mode \(s["mode"]!) is neither \"train\" nor \"eval\"")
        }
    }

    // MARK: Shared steps

    /// `body` must raise an error of the product (a configuration, layer or shape error). The
    /// runner's own errors (`ReplayError`: a feature it cannot build or a malformed case) are
    /// rethrown: they never stand for the expected error.
    func expectError(_ path: String, _ ref: JSON, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as ReplayError {
            throw e
        } catch {
            return  // the point of failure matches; type and message are informative
        }
        chk.fail(path, "no error raised, expected \(ref["type"]?.string ?? "an error") (\(ref["message"]?.string ?? ""))")
    }

    /// Fresh module vs `initial_state`: the same keys; equal values except the RNG-drawn
    /// parameters (`skip`: conv and linear weights and biases in v1, the case's `random_init`
    /// in the layers family). A module carried over from earlier notebook cells is compared on
    /// its constant buffers only. Returns false when the keys differ.
    func checkConstruction(_ path: String, _ m: Module, _ ref: JSON, carriedOver: Bool = false) throws -> Bool {
        let fresh = moduleState(m)
        for part in ["params", "buffers", "counters"] where ref[part]?.object == nil {
            throw ReplayError.malformed("\(path): the initial state has no \(part)")
        }
        let parts: [(String, [String], JSONObject)] = [
            ("params", Array(fresh.params.keys), ref["params"]!.object!),
            ("buffers", Array(fresh.buffers.keys), ref["buffers"]!.object!),
            ("counters", Array(fresh.counters.keys), ref["counters"]!.object!),
        ]
        for (part, ours, theirs) in parts where ours.sorted() != theirs.keys.sorted() {
            chk.fail("\(path)/\(part)", "keys \(ours.sorted()) != \(theirs.keys.sorted())")
            return false
        }
        if carriedOver {
            let keep = ref["buffers"]!.object!.keys.filter { !ModuleState.isStatsBuffer($0) }
            chk.compare("\(path)/buffers", .object(JSONObject(keep.map { ($0, fresh.buffers[$0]!) })),
                        .object(JSONObject(keep.map { ($0, ref["buffers"]![$0]!) })), "state")
            return true
        }
        let skip: Set<String>
        if family == .layers {
            guard let keys = json["random_init"]?.array?.compactMap(\.string) else {
                throw ReplayError.malformed("case: no random_init (the layers family lists the RNG-drawn state keys)")
            }
            skip = Set(keys)
        } else {
            skip = ModuleState.rngDependent(m)
        }
        var ours = fresh
        ours.params = fresh.params.filter { !skip.contains($0.key) }
        ours.buffers = fresh.buffers.filter { !skip.contains($0.key) }
        let r = JSONObject()
        r["params"] = .object(JSONObject(ref["params"]!.object!.pairs.filter { !skip.contains($0.key) }))
        r["buffers"] = .object(JSONObject(ref["buffers"]!.object!.pairs.filter { !skip.contains($0.key) }))
        r["counters"] = ref["counters"]
        chk.state(path, ours, .object(r))
        return true
    }

    /// The policy's tolerance terms for one backward (`grad_extras`): the loss term and, per input
    /// or parameter name, the gradient term and (with `lr`) the updated-parameter term. A
    /// zero-valued leaf gets no gradient term in v1 and the loss term in the layers family
    /// (README-layers "Tolerances" 1).
    func gradExtras(_ upstream: JSON, _ outRef: JSON, _ leaves: [(String, JSON)], lr: Double? = nil)
        -> (loss: Double, grads: [String: Double], states: [String: Double])
    {
        // Several named outputs (v2 `spec.outputs`): S sums over them.
        let pairs: [(JSON, JSON)] = upstream.isTensor ? [(upstream, outRef)]
            : (upstream.object?.pairs ?? []).compactMap { p in outRef[p.key].map { (p.value, $0) } }
        var l1 = 0.0
        for (u, r) in pairs {
            for (x, y) in zip(Records.refValue(r), u["data"]?.doubles ?? []) { l1 += Swift.abs(x * y) }
        }
        let lossExtra = Checker.Tolerance.gradC * Checker.Tolerance.eps * l1
        var grads: [String: Double] = [:]
        for (n, d) in leaves {
            let m = Records.maxAbs(d)
            grads[n] = m > 0 ? lossExtra / m : (family == .layers ? lossExtra : 0)
        }
        let states = lr.map { lr in grads.mapValues { lr * $0 } } ?? [:]
        return (lossExtra, grads, states)
    }

    func gradRecord(_ names: [String], _ grads: [Tensor?]) -> JSON {
        .object(JSONObject(zip(names, grads).map { ($0, Records.record($1)) }))
    }

    /// Calls the model as `spec.call` says: positional `args` (input names, possibly
    /// repeated), `tensor_kwargs` and `kwargs` (QuantCat's `dim`, SDPA's `is_causal`; the
    /// attention keywords go through ``callOutputs(_:_:_:)``). `args` are the inputs in the
    /// order of `spec.inputs`.
    func callModel(_ model: SpecModel, _ spec: JSON, _ args: [QuantValue]) throws -> QuantValue {
        let call = try ModelCall(spec, args)
        if case .multi(let layer) = model.kind, let sdpa = layer as? QuantScaledDotProductAttention {
            return try callSDPA(sdpa, call)
        }
        for k in call.kwargs.keys where k != "dim" { throw ReplayError.unsupported("call keyword \(k)") }
        if let k = call.tensorKwargs.keys.sorted().first { throw ReplayError.unsupported("call tensor keyword \(k) of a single-output model") }
        return try model(call.args, dim: call.kwargs["dim"]?.int)
    }

    /// `QuantScaledDotProductAttention(q, k, v, attn_mask=, dropout_p=0, is_causal=, scale=,
    /// enable_gqa=)`: the keywords of Brevitas's forward (dropout must be 0: it is random).
    func callSDPA(_ sdpa: QuantScaledDotProductAttention, _ call: ModelCall) throws -> QuantValue {
        var causal = false, gqa = false
        var scale: Float? = nil
        for (k, v) in call.kwargs {
            switch k {
            case "is_causal": guard let b = v.bool else { throw ReplayError.malformed("call.kwargs.is_causal is not a boolean") }; causal = b
            case "enable_gqa": guard let b = v.bool else { throw ReplayError.malformed("call.kwargs.enable_gqa is not a boolean") }; gqa = b
            case "scale": if !v.isNull { guard let d = v.double else { throw ReplayError.malformed("call.kwargs.scale is not a number") }; scale = Float(d) }
            case "dropout_p": guard v.double == 0 else { throw ReplayError.unsupported("dropout_p \(v) (random)") }
            default: throw ReplayError.unsupported("call keyword \(k) of QuantScaledDotProductAttention")
            }
        }
        var mask: Tensor? = nil, boolean = true
        for (k, v) in call.tensorKwargs {
            guard k == "attn_mask" else { throw ReplayError.unsupported("call tensor keyword \(k) of QuantScaledDotProductAttention") }
            (mask, boolean) = (v.value.value, v.boolean)
        }
        return try sdpa.forward(call.args, mask: mask, maskIsBoolean: boolean, isCausal: causal, scale: scale, enableGQA: gqa)
    }

    /// Runs `body` with every enabled quantizer proxy of `root` reporting its outputs, and
    /// returns them by module path, in call order (replay.py's `capture_proxies`).
    func capturingIntermediates<T>(of root: Module, _ body: () throws -> T) rethrows -> (T, JSON) {
        let store = JSONObject()
        var proxies: [QuantProxy] = []
        for (path, m) in root.namedModules() {
            guard let proxy = m as? QuantProxy, proxy.isQuantEnabled else { continue }
            proxy.observer = { v in
                store[path] = .array((store[path]?.array ?? []) + [Records.record(v)])
            }
            proxies.append(proxy)
        }
        defer { for p in proxies { p.observer = nil } }
        let result = try body()
        return (result, .object(store))
    }
}

/// The member `key` of `j`; a missing (or null) one makes the case malformed (`path` says where).
func need(_ j: JSON?, _ key: String, _ path: String) throws -> JSON {
    guard let v = j?[key], !v.isNull else { throw ReplayError.malformed("\(path): no \(key)") }
    return v
}

/// Why a case could not be replayed at all (as opposed to a mismatch): a malformed case, or
/// something the runner or the product cannot build yet. Never an expected error of a case.
enum ReplayError: Error, CustomStringConvertible {
    case malformed(String)
    case unsupported(String)

    var description: String {
        switch self {
        case .malformed(let m): return "malformed case: \(m)"
        case .unsupported(let m): return "not supported yet: \(m)"
        }
    }
}
