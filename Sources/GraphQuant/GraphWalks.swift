import Graph
import NN
import QuantNN

/// The walks Brevitas's `quantize` uses to decide where quantizers go
/// (`brevitas/graph/quantize_impl.py`), over a graph being quantized.
struct GraphWalks {
    let graph: GraphModule
    let maps: QuantizeMaps

    /// The distinct values `node` reads, in order (FX `all_input_nodes`).
    func inputNodes(_ node: GraphNode) -> [String] {
        var seen = Set<String>()
        return node.inputs.filter { seen.insert($0).inserted }
    }

    func moduleOf(_ value: String) -> (GraphNode, Module)? {
        guard let n = graph.node(named: value), let p = n.modulePath, let m = graph.module(at: p) else { return nil }
        return (n, m)
    }

    static func isViewLike(_ op: GraphOp) -> Bool {
        switch op {
        case .flatten, .reshape: return true
        default: return false
        }
    }

    /// `are_inputs_unsigned`: every input reaches, through sign-preserving modules and
    /// reshapes/concats/adds, an unsigned float activation or a Brevitas layer whose input
    /// quantizer is not signed (Brevitas reads `input_quant.is_signed`, `None` for a disabled one,
    /// so any Brevitas layer with its input quantizer off counts as unsigned).
    func areInputsUnsigned(_ node: GraphNode) -> Bool {
        var list: [Bool] = []
        collectUnsigned(node, &list)
        return list.allSatisfy { $0 }
    }

    private func collectUnsigned(_ node: GraphNode, _ list: inout [Bool]) {
        for value in inputNodes(node) {
            guard let inp = graph.node(named: value) else { continue }
            if let path = inp.modulePath, let m = graph.module(at: path) {
                let cls = torchClassName(of: m)
                if let cls, maps.quantActMap.keys.contains(cls), maps.unsignedActClasses.contains(cls) {
                    list.append(true)
                } else if ModuleFamily.preservesSign(m) {
                    collectUnsigned(inp, &list)
                } else if let signed = inputQuantSigned(m) {
                    list.append(!(signed ?? false))
                } else {
                    list.append(false)
                }
            } else {
                switch inp.op {
                case .flatten, .reshape, .permute, .concat, .add: collectUnsigned(inp, &list)
                case .parameter, .constant: list.append(false)
                default: list.append(false)
                }
            }
        }
    }

    /// `nil` for a module without `input_quant`; else `.some(signed)` with `nil` for a disabled one.
    private func inputQuantSigned(_ m: Module) -> Bool?? {
        switch m {
        case let l as QuantActivationLayer: return .some(l.inputQuant.config?.signed)
        case let l as QuantWeightBiasLayer: return .some(l.inputQuant.config?.signed)
        default: return nil
        }
    }

    /// `are_inputs_quantized_and_aligned`: the inputs of `node` are all quantized by one
    /// quantizer (same tensor quantizer when `sameSign`, else same scaling and integer threshold),
    /// looking through precision-preserving modules and reshapes; a concat below is checked with
    /// `sameSign`, an add without.
    func areInputsQuantizedAndAligned(_ node: GraphNode, sameSign: Bool) -> Bool {
        var list: [ActQuantProxy?] = []
        collectAligned(node, &list, sameSign: sameSign)
        if list.contains(where: { $0 == nil }) { return false }
        return list.count <= 1
    }

    private func collectAligned(_ node: GraphNode, _ list: inout [ActQuantProxy?], sameSign: Bool) {
        for value in inputNodes(node) {
            guard let inp = graph.node(named: value) else { continue }
            if let path = inp.modulePath, let m = graph.module(at: path) {
                if ModuleFamily.preservesPrecision(m) && (!sameSign || ModuleFamily.preservesSign(m)) {
                    collectAligned(inp, &list, sameSign: sameSign)
                } else if let l = m as? QuantActivationLayer {
                    if contains(l.actQuant, list, sameSign: sameSign) { continue }
                    list.append(l.actQuant)
                } else {
                    list.append(nil)
                }
            } else {
                switch inp.op {
                case .flatten, .reshape: collectAligned(inp, &list, sameSign: sameSign)
                case .concat: collectAligned(inp, &list, sameSign: true)
                case .add: collectAligned(inp, &list, sameSign: false)
                default: list.append(nil)
                }
            }
        }
    }

    /// `_tensor_quant_in_list`.
    private func contains(_ aq: ActQuantProxy, _ list: [ActQuantProxy?], sameSign: Bool) -> Bool {
        let tq = aq.tensorQuant
        for case let m? in list {
            let mtq = m.tensorQuant
            if sameSign {
                if mtq === tq { return true }
            } else if ScaleIdentity.scaling(mtq) == ScaleIdentity.scaling(tq), ScaleIdentity.intScaling(mtq) == ScaleIdentity.intScaling(tq) {
                return true
            }
        }
        return false
    }

    /// Whether a user of a value needs the value requantized (`output_quant_handler`): anything
    /// but a layer with an activation quantizer; a BatchNorm is looked through.
    func hasActQuant(_ m: Module) -> Bool { m is QuantActivationLayer }
}
