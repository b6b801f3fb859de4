import Graph
import NN
import QuantCore
import QuantNN
import Quantizers
import TensorEngine

/// Brevitas's graph quantization (`brevitas/graph/quantize.py: quantize`, FX flow) of a float
/// graph, usually after ``preprocessForQuantize(_:options:)``. Takes over `graph`'s modules.
///
/// Steps, in Brevitas's order (`quantize_impl.py`):
/// 1. a signed requantizer after each graph input (`x_quant`, "output of x");
/// 2. each activation in `maps.quantActMap` becomes its quantized layer ("output of relu1");
/// 3. an add whose output feeds a node without an activation quantizer gets a requantizer after it;
/// 4. adds and concats whose inputs are not quantized by one quantizer get a shared one
///    (`<add>_quant`, "inputs of add1"), repeated until nothing changes: a branch ending in a
///    requantizer is replaced by it, a QuantReLU-like branch with a statistics-based scale shares
///    its scaling module and integer threshold (add; own sign and bit width) or its whole
///    quantizer (concat), any other branch is followed by a call of the shared quantizer;
/// 5. each layer of `maps.computeLayerMap`: a requantizer after it where a user has no activation
///    quantizer ("output of fc"), then (unless its entry is `nil`) the quantized layer, with a
///    signed requantizer before it when its input is not quantized ("input of fc");
/// 6. the graph returns plain tensors (`DisableLastReturnQuantTensor`).
///
/// Errors name the node whose layer could not be built (a bad map entry).
public func quantize(_ graph: GraphModule, maps: QuantizeMaps = .default) throws -> QuantGraphModule {
    try checkOverrides(graph, maps: maps, map: { cls in (maps.computeLayerMap[cls] ?? nil) ?? (maps.quantActMap[cls] ?? nil) })
    let g = QuantGraphModule(taking: graph)
    g.eval()
    var pass = QuantizePass(graph: g, maps: maps)
    try pass.inputHandler()
    try pass.actHandler()
    try pass.addOutputQuantHandler()
    try pass.residualHandler()
    try pass.layerHandler()
    g.points = pass.points
    g.returnsPlainTensors = true
    g.eval()
    return g
}

/// Throws ``GraphQuantError/unknownLayer(_:known:)`` for an override naming no node that `map`
/// quantizes; `known` lists the nodes that can be overridden.
func checkOverrides(_ graph: GraphModule, maps: QuantizeMaps, map: (String) -> LayerRecipe?) throws {
    guard !maps.layerOverrides.isEmpty else { return }
    let known = graph.moduleNodes.compactMap { node, module -> String? in
        guard let cls = torchClassName(of: module), map(cls) != nil else { return nil }
        return node.name
    }
    for name in maps.layerOverrides.keys.sorted() where !known.contains(name) {
        throw GraphQuantError.unknownLayer(name, known: known)
    }
}

/// The state of one `quantize` run.
struct QuantizePass {
    let graph: QuantGraphModule
    let maps: QuantizeMaps
    var points: [QuantPointSpec] = []
    var walks: GraphWalks { GraphWalks(graph: graph, maps: maps) }

    init(graph: QuantGraphModule, maps: QuantizeMaps) {
        self.graph = graph
        self.maps = maps
    }

    // MARK: building layers

    static func build(_ recipe: LayerRecipe, extra: [String: ConfigValue] = [:], node: String) throws -> QuantLayer {
        var kwargs = recipe.kwargs
        for (k, v) in extra { kwargs[k] = v }
        do {
            switch try LayerFactory.make(className: recipe.className, kwargs: kwargs) {
            case .single(let l): return l
            case .multi: throw GraphQuantError.layerConfig(node: node, message: "\(recipe.className) takes several inputs; a map entry must build a one-input layer")
            }
        } catch let e as QuantConfigError {
            throw GraphQuantError.layerConfig(node: node, message: e.description)
        }
    }

    func identity(signed: Bool, node: String) throws -> QuantActivationLayer {
        let l = try Self.build(signed ? maps.signedIdentity : maps.unsignedIdentity, node: node)
        guard let a = l as? QuantActivationLayer else {
            throw GraphQuantError.layerConfig(node: node, message: "the requantization map must build an activation layer (QuantIdentity), got \(l.typeName)")
        }
        return a
    }

    /// A node name not used yet: `base`, `base_1`, ...
    func freshName(_ base: String) -> String {
        var name = base, k = 0
        while graph.node(named: name) != nil || graph.inputNames.contains(name) {
            k += 1
            name = "\(base)_\(k)"
        }
        return name
    }

    /// Registers `module` at a fresh top-level path `base` (`base_1`, ... if taken).
    func register(_ module: Module, base: String) -> String {
        var path = base, k = 0
        while graph.module(at: path) != nil {
            k += 1
            path = "\(base)_\(k)"
        }
        graph.addModule(module, at: path)
        return path
    }

    /// A call of the module at `path` right after `value`, read by all of `value`'s users.
    func insertCall(_ path: String, after value: String) {
        graph.insert(GraphNode(freshName(path), .module(path), [value]), after: value)
    }

    // MARK: 1. inputs

    mutating func inputHandler() throws {
        for x in graph.inputNames {
            let q = try identity(signed: true, node: x)
            let path = register(q, base: "\(x)_quant")
            insertCall(path, after: x)
            points.append(QuantPointSpec(key: "output of \(x)", module: path, proxy: .actQuant, inserted: true))
        }
    }

    // MARK: 2. activations

    mutating func actHandler() throws {
        for (node, module) in graph.moduleNodes {
            guard let cls = torchClassName(of: module), let entry = maps.quantActMap[cls], let recipe = entry,
                let path = node.modulePath
            else { continue }
            let q = try Self.build(maps.recipe(recipe, forNode: node.name), node: node.name)
            graph.replaceModule(at: path, with: q)
            points.append(QuantPointSpec(key: "output of \(node.name)", module: path, proxy: .actQuant, inserted: false))
        }
    }

    // MARK: 3. requantize adds

    mutating func addOutputQuantHandler() throws {
        for name in graph.nodes.map(\.name) {
            guard let node = graph.node(named: name), case .add = node.op else { continue }
            try outputQuantHandler(node, signPreserving: true)
        }
    }

    /// `output_quant_handler`: a requantizer after `node` when one of its users (or the graph
    /// output) has no activation quantizer; BatchNorm users are looked through.
    mutating func outputQuantHandler(_ node: GraphNode, signPreserving: Bool) throws {
        var needs = graph.isOutput(node.name)
        for user in graph.users(of: node.name) {
            if let p = user.modulePath, let m = graph.module(at: p) {
                if walks.hasActQuant(m) { continue }
                if m is BatchNorm {
                    try outputQuantHandler(user, signPreserving: signPreserving)
                    continue
                }
            }
            needs = true
        }
        guard needs else { return }
        let unsigned = signPreserving && walks.areInputsUnsigned(node)
        let q = try identity(signed: !unsigned, node: node.name)
        let path = register(q, base: "\(node.name)_output_quant")
        insertCall(path, after: node.name)
        points.append(QuantPointSpec(key: "output of \(node.name)", module: path, proxy: .actQuant, inserted: true))
    }

    // MARK: 4. residual adds and concats

    mutating func residualHandler() throws {
        var iterations = 0
        while try !residualConverged() {
            iterations += 1
            if iterations == 9999 {
                throw GraphQuantError.unsupported("the residual handler found no way to align the scales of the adds and concats")
            }
        }
    }

    mutating func residualConverged() throws -> Bool {
        for node in graph.nodes {
            let sameSign: Bool
            switch node.op {
            case .add: sameSign = false
            case .concat: sameSign = true
            default: continue
            }
            if walks.areInputsQuantizedAndAligned(node, sameSign: sameSign) { continue }
            let q = try identity(signed: !walks.areInputsUnsigned(node), node: node.name)
            let path = register(q, base: "\(node.name)_quant")
            points.append(QuantPointSpec(key: "inputs of \(node.name)", module: path, proxy: .actQuant, inserted: true))
            var inserts: [String] = []
            try alignInputs(of: node, q, path, alignSign: sameSign, &inserts)
            for value in inserts { insertCall(path, after: value) }
            return false
        }
        return true
    }

    /// `recursive_input_handler`: aligns every input branch of `node` to the shared `q`.
    mutating func alignInputs(of node: GraphNode, _ q: QuantActivationLayer, _ qPath: String, alignSign: Bool,
                              _ inserts: inout [String]) throws {
        for value in walks.inputNodes(node) {
            guard let inp = graph.node(named: value) else {
                inserts.append(value)  // a graph input
                continue
            }
            if let path = inp.modulePath, let m = graph.module(at: path) {
                if ModuleFamily.preservesPrecision(m) && (!alignSign || ModuleFamily.preservesSign(m)) {
                    try alignInputs(of: inp, q, qPath, alignSign: alignSign, &inserts)
                } else if try !align(m, at: path, to: q, qPath, alignSign: alignSign) {
                    inserts.append(value)
                }
            } else {
                switch inp.op {
                case .flatten, .reshape: try alignInputs(of: inp, q, qPath, alignSign: alignSign, &inserts)
                case .concat: try alignInputs(of: inp, q, qPath, alignSign: true, &inserts)
                default: inserts.append(value)
                }
            }
        }
    }

    /// `align_input_quant`: makes module `m` produce values on `q`'s scale; `false` when `q`
    /// must be called after it instead.
    mutating func align(_ m: Module, at path: String, to q: QuantActivationLayer, _ qPath: String, alignSign: Bool) throws -> Bool {
        guard let layer = m as? QuantActivationLayer else { return false }
        if layer is QuantIdentity {
            // Brevitas compares `input_quant.is_signed` (None for a disabled input quantizer).
            if alignSign || layer.inputQuant.config?.signed == q.inputQuant.config?.signed {
                // The branch's requantizer becomes the shared one: its nodes now call `qPath`.
                let renamed = graph.nodes.map { $0.modulePath == path ? GraphNode($0.name, .module(qPath), $0.inputs) : $0 }
                graph.setNodes(renamed, outputs: graph.outputNames)
                _ = MergeBatchNorm.removeModule(path, graph)
                points.removeAll { $0.module == path }
                return true
            }
            return false
        }
        guard let own = layer.actQuant.tensorQuant as? RescalingIntQuant, let shared = q.actQuant.tensorQuant as? RescalingIntQuant,
            !(own.scaling is ParameterScaling), !(own.scaling is ConstScaling)
        else { return false }
        let replacement: RescalingIntQuant
        if alignSign {
            replacement = shared
        } else {
            replacement = RescalingIntQuant(
                scaling: SharedScaling(source: shared, bits: own.bitWidthImpl.bits), zeroPoint: own.zeroPoint,
                bitWidthImpl: own.bitWidthImpl, signed: own.signed, narrowRange: own.narrowRange, clampSte: own.clampSte,
                powerOfTwoIntScaling: own.powerOfTwoIntScaling)
        }
        let result: Result<Void, QuantConfigError> = Result { () throws(QuantConfigError) in try layer.shareTensorQuant(replacement) }
        if case .failure(let e) = result { throw GraphQuantError.layerConfig(node: path, message: e.description) }
        return true
    }

    // MARK: 5. compute layers

    mutating func layerHandler() throws {
        for name in graph.nodes.map(\.name) {
            guard let node = graph.node(named: name), let path = node.modulePath, let module = graph.module(at: path),
                let cls = torchClassName(of: module), let entry = maps.computeLayerMap[cls]
            else { continue }
            try outputQuantHandler(node, signPreserving: ModuleFamily.preservesSign(module))
            guard let recipe = entry else { continue }
            if !walks.areInputsQuantizedAndAligned(node, sameSign: false), recipe.kwargs["input_quant"] == nil, let previous = node.inputs.first {
                let q = try identity(signed: true, node: node.name)
                let qPath = register(q, base: "\(node.name)_input_quant")
                graph.insert(GraphNode(freshName(qPath), .module(qPath), [previous]), before: node.name, replacing: previous)
                points.append(QuantPointSpec(key: "input of \(node.name)", module: qPath, proxy: .actQuant, inserted: true))
            }
            let quantized = try QuantLayerBuilder.quantized(module, maps.recipe(recipe, forNode: node.name), node: node.name)
            graph.replaceModule(at: path, with: quantized)
            points += QuantLayerBuilder.points(of: quantized, name: node.name, path: path)
        }
    }
}
