import GraphQuant
import NN
import QuantNN
import TensorEngine

/// Brevitas's `gptq_mode` (`brevitas/graph/gptq.py`, `gpxq.py`) on a quantized graph, with
/// `use_quant_activations=True`: layers (QuantConv2d/QuantLinear) are processed one at a time,
/// in the order the forward reaches them. For each, every batch runs through the model with
/// quantization on (stopping at that layer, so earlier layers already carry their GPTQ
/// weights); the layer's input after its own input quantizer feeds its ``GPTQHessian``; then
/// ``GPTQ/update(weight:groups:rows:columns:hessian:actOrder:percDamp:quantize:)`` rewrites the
/// float weight. The Hessian exists only while its layer is processed.
///
/// Column quantization follows Brevitas 0.13.4: for a Linear or an ungrouped conv, column i is
/// quantized alone by the layer's weight quantizer (statistics of that column, e.g. a
/// per-tensor scale `max|W[:, i]| / 127`); for a grouped conv the whole current weight is
/// quantized and column i taken from it.
///
/// A layer whose damped Hessian is not positive definite (too few samples for its columns) is
/// left as it is, apart from its dead columns set to 0, and listed in the result: Brevitas warns
/// "Failed to compute the inverse of the Hessian ... GPTQ will not be applied" and goes on.
///
/// ```swift
/// let skipped = try gptqMode(q, batches: calib, actOrder: true)   // [] when every layer was updated
/// ```
@discardableResult
public func gptqMode(_ graph: QuantGraphModule, batches: [Tensor], actOrder: Bool = false) throws -> [(layer: String, reason: String)] {
    var skipped: [(layer: String, reason: String)] = []
    let wasTraining = graph.training
    graph.eval()
    defer { graph.train(wasTraining) }
    for name in try PTQLayers.inForwardOrder(graph, batches.first) {
        var hessian: GPTQHessian?
        var layer: QuantWeightBiasLayer?
        for batch in batches {
            do {
                _ = try Autograd.noGrad {
                    try graph.forwardIntercepting([.float(batch)]) { node, m, input, _ in
                        guard node == name, let l = m as? QuantWeightBiasLayer else { return nil }
                        let x = l.inputQuant(input).value
                        let (cols, samples) = LayerColumns.of(l, input: x)
                        let groups = LayerColumns.groups(l)
                        if hessian == nil { hessian = GPTQHessian(groups: groups, columns: cols[0].count / samples) }
                        hessian!.add(cols, samples: samples)
                        layer = l
                        throw PTQLayers.Stop()
                    }
                }
            } catch is PTQLayers.Stop {}
        }
        guard let l = layer, let h = hessian else { continue }
        let groups = h.groups, columns = h.columns, rows = l.weight.shape[0] / groups
        var w = l.weight.scalars
        let slice = groups == 1
        let quantizeColumns = { (cur: [Float], cols: [Int]) -> [[Float]] in
            if slice {
                var col = [Float](repeating: 0, count: rows)
                for r in 0..<rows { col[r] = cur[r * columns + cols[0]] }
                var shape = [rows, 1]
                if l.weight.rank == 4 { shape = [rows, 1, 1, 1] }
                return [l.weightQuant(Tensor(shape: shape, col)).value.scalars]
            }
            let q = l.weightQuant(Tensor(shape: l.weight.shape, cur)).value.scalars
            return (0..<groups).map { g in (0..<rows).map { r in q[(g * rows + r) * columns + cols[g]] } }
        }
        do {
            try GPTQ.update(weight: &w, groups: groups, rows: rows, columns: columns, hessian: h.h, actOrder: actOrder, quantize: quantizeColumns)
        } catch {
            skipped.append((name, "\(error) (\(h.samples) samples for \(columns) columns); GPTQ was not applied to it"))
        }
        l.weight.assign(Tensor(shape: l.weight.shape, w))
    }
    return skipped
}

/// The weight layers of a quantized graph.
enum PTQLayers {
    struct Stop: Error {}

    /// Node names of QuantConv2d/QuantLinear layers in the order one forward reaches them.
    static func inForwardOrder(_ graph: QuantGraphModule, _ batch: Tensor?) throws -> [String] {
        guard let batch else { return [] }
        var names: [String] = []
        _ = try Autograd.noGrad {
            try graph.forwardIntercepting([.float(batch)]) { node, m, _, _ in
                if m is QuantConv2d || m is QuantLinear { names.append(node) }
                return nil
            }
        }
        return names
    }
}
