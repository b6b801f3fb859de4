import GraphQuant
import NN
import QuantNN
import TensorEngine

/// Brevitas's `gpfq_mode` (`brevitas/graph/gpfq.py`) on a quantized graph: layers are processed
/// one at a time in forward order; per batch the model runs twice up to the layer, with
/// quantization (its input after its own input quantizer, `xq`) and with all quantization off
/// (float activations, and every layer's weight as it was before GPFQ, Brevitas's
/// `weight_orig`; the float input `x`). `H += (xq/√m)(xq/√m)ᵀ`, `G += (xq/√m)(x/√m)ᵀ`
/// (`m` samples of the batch), then ``GPFQ/update(weight:original:groups:rows:columns:h:g:actOrder:quantize:)``.
/// `H` and `G` exist only while their layer is processed.
///
/// ```swift
/// try gpfqMode(q, batches: calib, actOrder: false)
/// ```
public func gpfqMode(_ graph: QuantGraphModule, batches: [Tensor], actOrder: Bool = false) throws {
    let wasTraining = graph.training
    graph.eval()
    defer { graph.train(wasTraining) }
    var originals: [ObjectIdentifier: Tensor] = [:]
    for (_, m) in graph.namedModules() {
        if let l = m as? QuantWeightBiasLayer { originals[ObjectIdentifier(l)] = l.weight.copy() }
    }
    for name in try PTQLayers.inForwardOrder(graph, batches.first) {
        var h: [Double] = [], g: [Double] = []
        var layer: QuantWeightBiasLayer?
        var groups = 1, columns = 0
        for batch in batches {
            var xq: [[Float]] = []
            var m = 0
            do {
                _ = try Autograd.noGrad {
                    try graph.forwardIntercepting([.float(batch)]) { node, mod, input, _ in
                        guard node == name, let l = mod as? QuantWeightBiasLayer else { return nil }
                        (xq, m) = LayerColumns.of(l, input: l.inputQuant(input).value)
                        layer = l
                        throw PTQLayers.Stop()
                    }
                }
            } catch is PTQLayers.Stop {}
            var xf: [[Float]] = []
            do {
                _ = try Autograd.noGrad {
                    try graph.forwardIntercepting([.float(batch)], replace: PTQLayers.floatForward(weights: originals, stop: name, algorithm: "GPFQ") { l, x in
                        xf = LayerColumns.of(l, input: x).columns
                    }) { _, _, _, _ in nil }
                }
            } catch is PTQLayers.Stop {}
            guard layer != nil else { break }
            groups = xq.count
            columns = xq[0].count / m
            if h.isEmpty { h = [Double](repeating: 0, count: groups * columns * columns); g = h }
            // H += xq·xqᵀ / m, G += xq·xᵀ / m (BLAS, Float64).
            let n = columns
            for gr in 0..<groups {
                let a = xq[gr].map(Double.init), b = xf[gr].map(Double.init)
                a.withUnsafeBufferPointer { ab in
                    b.withUnsafeBufferPointer { bb in
                        h.withUnsafeMutableBufferPointer { hb in
                            BLAS.dsyrk(n: n, k: m, alpha: 1 / Double(m), a: ab.baseAddress!, lda: m, beta: 1, c: hb.baseAddress! + gr * n * n, ldc: n)
                        }
                        g.withUnsafeMutableBufferPointer { gb in
                            BLAS.dgemm(transA: false, transB: true, m: n, n: n, k: m, alpha: 1 / Double(m), a: ab.baseAddress!, lda: m,
                                       b: bb.baseAddress!, ldb: m, beta: 1, c: gb.baseAddress! + gr * n * n, ldc: n)
                        }
                    }
                }
            }
        }
        guard let l = layer else { continue }
        var w = l.weight.scalars
        GPFQ.update(weight: &w, original: originals[ObjectIdentifier(l)]!.scalars, groups: groups, rows: l.weight.shape[0] / groups,
                    columns: columns, h: h, g: g, actOrder: actOrder) { cur in
            l.weightQuant(Tensor(shape: l.weight.shape, cur)).value.scalars
        }
        l.weight.assign(Tensor(shape: l.weight.shape, w))
    }
}

extension PTQLayers {
    /// A float module on a float value (pools, dropout, flatten, ...).
    static func floatModule(_ m: Module, _ x: Tensor) throws -> Tensor {
        guard let l = m as? any Layer else { throw PTQError.unsupportedLayer(layer: m.typeName, reason: "not a float layer") }
        return l(x)
    }
}
