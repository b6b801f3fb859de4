import GraphQuant
import NN
import QuantNN
import TensorEngine

/// One layer's training set for learned rounding (Brevitas's `CacheVision` filled by
/// `_populate_cache(capture_quant_input=True, capture_quant_output=False)`): the inputs the
/// layer receives in the quantized model and the outputs it gives in the float model, one row
/// per calibration example.
///
/// - `inputs`: `[N, ...]`, the layer's input over every batch, concatenated along the batch;
///   `inputQuant` is the QuantTensor metadata (scale, zero point, bit width) the input arrived
///   with, `nil` for a float input (a `layerwise_quantize` layer quantizes it itself).
/// - `targets`: `[N, ...]`, the layer's output with all quantization off (float weights: the
///   `floatWeights` of layers already rounded).
struct LearnedRoundCache {
    let inputs: Tensor
    let inputQuant: QuantTensor?
    let targets: Tensor
    var count: Int { inputs.shape[0] }

    /// The examples at `rows` (with repetition): the layer's input as it arrived, and the target.
    func batch(_ rows: [Int]) -> (input: QuantValue, target: Tensor) {
        let x = inputs.indexSelect(dim: 0, rows)
        let input: QuantValue = inputQuant.map { .quant($0.with(value: x)) } ?? .float(x)
        return (input, targets.indexSelect(dim: 0, rows))
    }
}

extension LearnedRoundCache {
    /// Runs every batch through `graph` twice (quantized, then float) up to the node `name`.
    init(_ graph: QuantGraphModule, layer name: String, batches: [Tensor], floatWeights: [ObjectIdentifier: Tensor]) throws {
        var xs: [Tensor] = [], ys: [Tensor] = []
        var quant: QuantTensor?
        for batch in batches {
            do {
                _ = try Autograd.noGrad {
                    try graph.forwardIntercepting([.float(batch)]) { node, _, input, _ in
                        guard node == name else { return nil }
                        if (input.quantTensor != nil) != (quant != nil) && !xs.isEmpty {
                            throw PTQError.unsupportedLayer(layer: name, reason: "learned rounding caches the layer's input over every batch, but it is quantized in some batches and not in others")
                        }
                        if let q = input.quantTensor {
                            if let first = quant, !(first.scale.shape == q.scale.shape && first.scale.scalars == q.scale.scalars
                                                    && first.zeroPoint.scalars == q.zeroPoint.scalars && first.bitWidth.scalars == q.bitWidth.scalars
                                                    && first.signed == q.signed) {
                                throw PTQError.unsupportedLayer(layer: name, reason: "learned rounding caches the layer's input over every batch, but its quantization (scale, zero point or bit width) changes between batches")
                            }
                            quant = quant ?? q
                        }
                        xs.append(input.value.contiguous())
                        throw PTQLayers.Stop()
                    }
                }
            } catch is PTQLayers.Stop {}
            do {
                _ = try Autograd.noGrad {
                    try graph.forwardIntercepting([.float(batch)], replace: PTQLayers.floatForward(weights: floatWeights, stop: name, algorithm: "learned rounding") { l, x in
                        ys.append(floatLayerOutput(l, x, weight: floatWeights[ObjectIdentifier(l)]).contiguous())
                    }) { _, _, _, _ in nil }
                }
            } catch is PTQLayers.Stop {}
        }
        precondition(xs.count == batches.count && ys.count == batches.count,
                     "LearnedRoundCache: layer '\(name)' was reached in \(xs.count) and \(ys.count) of \(batches.count) batches")
        self.init(inputs: Tensor.cat(xs, dim: 0), inputQuant: quant, targets: Tensor.cat(ys, dim: 0))
    }
}
