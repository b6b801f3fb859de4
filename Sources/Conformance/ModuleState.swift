import NN
import QuantCore
import QuantNN
import TensorEngine

/// A module's state as the cases record it (replay.py's `module_state`): parameters and buffers
/// of at most 65536 elements under their PyTorch state-dict keys, and the counter of every
/// statistics-collecting scale or zero-point module under its module path.
struct ModuleState {
    var params: [String: JSON] = [:]
    var buffers: [String: JSON] = [:]
    var counters: [String: Int] = [:]

    /// Tensors above this size are not recorded (the reference leaves them out).
    static let maxRecorded = 1 << 16

    init(params: [String: JSON] = [:], buffers: [String: JSON] = [:], counters: [String: Int] = [:]) {
        self.params = params
        self.buffers = buffers
        self.counters = counters
    }

    init(of m: Module) {
        for (n, p) in m.namedParameters() where p.count <= Self.maxRecorded {
            params[n] = Records.record(p)
        }
        for (n, b) in m.namedBuffers() where b.count <= Self.maxRecorded {
            buffers[n] = Records.record(b)
        }
        for (n, sub) in m.namedModules() {
            if let s = sub as? StatsCollecting { counters[n] = s.counter }
        }
    }

    /// The state with every key that is another name of a recorded tensor or module (v2
    /// `state_aliases`, alias → recorded name) under the recorded name: a tensor reachable by
    /// several paths is recorded once, under its shortest path (README-layers "State names").
    func canonicalized(_ aliases: [String: String]) -> ModuleState {
        guard !aliases.isEmpty else { return self }
        func fold<V>(_ d: [String: V]) -> [String: V] {
            var out: [String: V] = [:]
            for (k, v) in d where aliases[k] == nil { out[k] = v }
            for (k, v) in d { if let c = aliases[k], out[c] == nil { out[c] = v } }
            return out
        }
        return ModuleState(params: fold(params), buffers: fold(buffers), counters: fold(counters))
    }

    /// Statistics buffers (`*.buffer`) change with the data; all other buffers are constants.
    static func isStatsBuffer(_ name: String) -> Bool { name.hasSuffix(".buffer") || name == "buffer" }

    /// Sets parameters, buffers and statistics counters from a recorded state (`load_state`).
    /// Every recorded key must exist in the module.
    /// A recorded name also finds our tensor under one of its `aliases` (recorded name → other
    /// names).
    static func load(_ st: JSON, into m: Module, aliases: [String: [String]] = [:]) throws {
        var params = Dictionary(m.namedParameters(), uniquingKeysWith: { a, _ in a })
        var buffers = Dictionary(m.namedBuffers(), uniquingKeysWith: { a, _ in a })
        for (name, others) in aliases {
            if params[name] == nil, let t = others.lazy.compactMap({ params[$0] }).first { params[name] = t }
            if buffers[name] == nil, let t = others.lazy.compactMap({ buffers[$0] }).first { buffers[name] = t }
        }
        for (n, t) in st["params"]?.object?.pairs ?? [] {
            guard let p = params[n] else { throw ReplayError.unsupported("recorded parameter '\(n)' does not exist in our module") }
            try assign(p, t, n)
        }
        for (n, t) in st["buffers"]?.object?.pairs ?? [] {
            guard let b = buffers[n] else { throw ReplayError.unsupported("recorded buffer '\(n)' does not exist in our module") }
            try assign(b, t, n)
        }
        for (n, c) in st["counters"]?.object?.pairs ?? [] {
            let module = ([n] + (aliases[n] ?? [])).lazy.compactMap { m.module(at: $0) as? StatsCollecting }.first
            guard let s = module else {
                throw ReplayError.unsupported("recorded counter '\(n)' names no statistics-collecting module of ours")
            }
            guard let v = c.int else { throw ReplayError.malformed("counter '\(n)' is not an integer") }
            s.counter = v
        }
    }

    static func assign(_ target: Tensor, _ t: JSON, _ name: String) throws {
        let v = try Records.tensor(t)
        guard v.count == target.count else {
            throw ReplayError.unsupported("recorded '\(name)' has shape \(v.shape), ours \(target.shape)")
        }
        target.assign(v)
    }

    /// Parameter keys whose initial values come from the RNG (weight and bias of conv and linear
    /// layers), skipped by the construction check.
    static func rngDependent(_ m: Module) -> Set<String> {
        var out = Set<String>()
        for (mn, mod) in m.namedModules() where mod is QuantWeightBiasLayer {
            for (pn, _) in mod.localParameters {
                out.insert(mn.isEmpty ? pn : "\(mn).\(pn)")
            }
        }
        return out
    }
}
