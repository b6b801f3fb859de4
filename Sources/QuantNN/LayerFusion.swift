import NN
import QuantCore
import TensorEngine

/// Fusions of adjacent layers that leave values and gradients unchanged (up to float rounding)
/// and save passes over memory. A layer pair fuses only when the second is the only consumer of
/// the first's output, has no quantizer of its own and nothing observes it.
///
/// | pattern | fused op |
/// |---|---|
/// | `BatchNorm` (in a `FloatLayer`) → `QuantReLU` without quantizers | `Tensor.batchNorm(relu: true)` |
/// | `BatchNorm` → `QuantReLU` with a per-tensor activation quantizer (statistics collected) | `Tensor.batchNormReLUFakeQuant` |
/// | `QuantConv2d` → `BatchNorm` in evaluation | the BatchNorm folded into the weight and bias |
/// | `BatchNorm` → a residual add's signed input quantizer | `Tensor.batchNormFakeQuant(relu: false)` (`batchNormQuant`) |
/// | the add's input quantizer on the shortcut → add → `QuantReLU` | `Tensor.quantAddReLUFakeQuant` (`quantAddReLU`) |
///
/// Fusion changes float rounding (a folded weight is rounded once more), so code that must
/// reproduce the layer-by-layer arithmetic exactly (the ONNX exporter, whose graph has the
/// unfused nodes) turns it off for its extent with `LayerFusion.$isEnabled.withValue(false) { ... }`.
public enum LayerFusion {
    /// Whether `apply` fuses; on by default, task-local.
    @TaskLocal public static var isEnabled = true

    /// `relu(bn(x))` in one op when `bn` is a `FloatLayer` around a `BatchNorm` and `relu` a
    /// plain `QuantReLU` (quantizers off, no observers, returning a float tensor); `nil` when the
    /// pair does not fuse (apply the layers one by one).
    public static func batchNormReLU(_ bn: QuantLayer, _ relu: QuantLayer, _ x: QuantValue) -> QuantValue? {
        guard let f = bn as? FloatLayer, let norm = f.layer as? BatchNorm, let r = relu as? QuantReLU, r.isPlainReLU else {
            return nil
        }
        return .float(norm.forwardReLU(x.value))
    }
}

extension LayerFusion {
    /// `relu1(bn1(x))` in one op when `bn` is a `FloatLayer` around a `BatchNorm` (training or
    /// evaluation, local statistics) and `relu` a `QuantReLU` whose activation quantizer can run
    /// in the BatchNorm's epilogue: a `RescalingIntQuant` per tensor with a constant bit width
    /// and its statistics collection over (`RescalingIntQuant.epilogueParameters`), no input
    /// quantizer, no observers. The output (a QuantTensor with the quantizer's scale, zero point
    /// and bit width, or its value) and every gradient are those of the two layers applied one by
    /// one (`Tensor.batchNormReLUFakeQuant` states to what precision); `nil` when the pair does
    /// not fuse.
    public static func batchNormQuantReLU(_ bn: QuantLayer, _ relu: QuantLayer, _ x: QuantValue) -> QuantValue? {
        guard let f = bn as? FloatLayer, let norm = f.layer as? BatchNorm, let r = relu as? QuantReLU,
              r.actQuant.activation == .relu, !r.inputQuant.isQuantEnabled, r.actQuant.observer == nil,
              r.inputQuant.observer == nil, let rq = r.actQuant.tensorQuant as? RescalingIntQuant, rq.canFuseActivation,
              rq.group == nil, !(norm.training && norm.synchronizedNormalization != nil),
              let p = rq.epilogueParameters(x.value)
        else { return nil }
        let quant = FakeQuantEpilogue(scale: p.scale, zeroPoint: p.zeroPoint, minInt: p.minInt, maxInt: p.maxInt)
        guard let y = norm.forwardReLUFakeQuant(x.value, quant: quant) else { return nil }
        guard r.returnQuantTensor else { return .float(y) }
        return .quant(QuantTensor(value: y, scale: p.scale, zeroPoint: p.zeroPoint, bitWidth: p.bitWidth, signed: rq.signed,
                                  training: r.actQuant.training))
    }
}

extension QuantReLU {
    /// A ReLU with its quantizers off, unobserved, returning a float tensor: what
    /// `LayerFusion.batchNormReLU` may fold into the BatchNorm before it.
    var isPlainReLU: Bool {
        !actQuant.isQuantEnabled && !inputQuant.isQuantEnabled && actQuant.observer == nil && inputQuant.observer == nil
            && !returnQuantTensor
    }
}

extension LayerFusion {
    /// `bn(conv(x))` with the BatchNorm folded into the convolution, when `bn` is a `FloatLayer`
    /// around a `BatchNorm` in evaluation mode with running statistics and `conv` a
    /// `QuantConv2d` whose output is a plain float tensor (no output quantizer, no QuantTensor, no
    /// accumulator simulation, no observers); `nil` otherwise. Per output channel `o`:
    ///
    ///     a = γ / √(σ² + eps),   W'[o] = W_q[o] · a,   b'[o] = (b_q[o] − μ) · a + β
    ///
    /// (`γ = 1`, `β = 0` without affine; `b_q = 0` without bias): one convolution and no pass over
    /// its output. The fold is built from differentiable tensor ops, so gradients reach the
    /// input, the weight (through its quantizer) and the BatchNorm's affine parameters.
    public static func convBatchNorm(_ conv: QuantLayer, _ bn: QuantLayer, _ x: QuantValue) throws -> QuantValue? {
        guard let c = conv as? QuantConv2d, let f = bn as? FloatLayer, let norm = f.layer as? BatchNorm,
              !norm.training, norm.trackRunningStats, let rm = norm.runningMean, let rv = norm.runningVar,
              !c.returnQuantTensor, !c.outputQuant.isQuantEnabled, c.accumulatorSimulation == nil,
              c.inputQuant.observer == nil, c.weightQuant.observer == nil, c.biasQuant.observer == nil,
              c.outputQuant.observer == nil
        else { return nil }
        let qi = c.inputQuant(x)
        let qw = try c.weightQuant(c.weight, input: qi, layer: c.layerName)
        let qb = try c.bias.map { try c.biasQuant($0, input: qi, weight: qw, layer: c.layerName) }
        let channels = norm.numFeatures
        let inv = Tensor(shape: [channels], (0..<channels).map { 1 / (rv.storage.pointer[$0] + norm.eps).squareRoot() })
        let a = norm.weight.map { $0 * inv } ?? inv
        var shift = ((qb?.value ?? Tensor.zeros([channels])) - rm.detach()) * a
        if let beta = norm.bias { shift = shift + beta }
        var view = [Int](repeating: 1, count: c.weight.rank)
        view[0] = channels
        return .float(c.op(qi.value, qw.value * a.reshape(view), shift))
    }

    /// Applies `layers` in order to `x`, running adjacent layers that fuse (convolution +
    /// BatchNorm in evaluation, BatchNorm + plain ReLU, BatchNorm + quantized ReLU) as one op.
    public static func apply(_ layers: [QuantLayer], to x: QuantValue) throws -> QuantValue {
        var x = x
        var i = 0
        while i < layers.count {
            if isEnabled, i + 1 < layers.count {
                if let y = try convBatchNorm(layers[i], layers[i + 1], x) ?? batchNormReLU(layers[i], layers[i + 1], x)
                    ?? batchNormQuantReLU(layers[i], layers[i + 1], x) {
                    x = y
                    i += 2
                    continue
                }
            }
            x = try layers[i].forward(x)
            i += 1
        }
        return x
    }
}
