import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine

/// Trains one layer's rounding offsets (Brevitas `LearnedRoundTrainer._training_loop` on one
/// block) and stores the hardened result in its weight. See ``learnedRoundMode(_:batches:options:progress:)``.
struct LearnedRoundTrainer {
    let layer: QuantWeightBiasLayer
    let name: String
    let options: LearnedRoundOptions
    /// The weight quantizer's fixed scale, zero point and bit width (broadcastable to the weight).
    let scale: Tensor, zeroPoint: Tensor, bitWidth: Tensor
    let signed: Bool
    let range: IntRange
    /// `floor(w/s + z)` of the float weight.
    let floorCodes: Tensor
    /// The trained parameter `v`, one per weight.
    let value: Tensor
    private(set) var initialLoss = 0.0, finalLoss = 0.0

    init(layer: QuantWeightBiasLayer, quantizer: RescalingIntQuant, name: String, options: LearnedRoundOptions) throws {
        guard let q = Autograd.noGrad({ layer.quantWeight() }).quantTensor else {
            throw PTQError.unsupportedLayer(layer: name, reason: "its weight quantizer returned no quantized weight")
        }
        self.layer = layer
        self.name = name
        self.options = options
        scale = q.scale.detach()
        zeroPoint = q.zeroPoint.detach()
        bitWidth = q.bitWidth.detach()
        signed = q.signed
        range = quantizer.intRange
        let (codes, fraction) = LearnedRound.floorCodes(layer.weight.detach(), scale: scale, zeroPoint: zeroPoint)
        floorCodes = codes
        value = options.hardSigmoid.initialValue(fraction: fraction)
        value.requiresGrad = true
    }

    /// The squared error of `out` against `target`: summed over dimension 1 and averaged over
    /// the others (`regularised_mse`'s `mse_loss(reduction='none').sum(1).mean()`), or averaged
    /// over every element (`mse`).
    static func outputLoss(_ out: Tensor, _ target: Tensor, _ loss: LearnedRoundOptions.Loss) -> Tensor {
        precondition(out.shape == target.shape && out.rank >= 2, "LearnedRoundTrainer: output \(out.shape) vs target \(target.shape)")
        let d = out - target
        let sq = (d * d).sum()
        switch loss {
        case .regularisedMSE: return sq * (Float(out.shape[1]) / Float(out.count))
        case .mse: return sq / Float(out.count)
        }
    }

    /// `options.iterations` Adam steps; `report(iteration, loss)` is called every 50 steps and at
    /// the end, and may throw to stop.
    mutating func train(_ cache: LearnedRoundCache, report: (Int, Double) throws -> Void) throws {
        let rng = RandomGenerator(seed: options.seed)
        let adam = Adam([value], learningRate: options.learningRate)
        var regulariser = RoundRegularisation(weight: options.regularisationWeight)
        let n = options.iterations
        try Autograd.withGradEnabled(true) {
            for i in 0..<n {
                adam.learningRate = options.learningRate(at: i)
                let (x, target) = cache.batch((0..<options.batchSize).map { _ in rng.nextInt(cache.count) })
                let h = options.hardSigmoid(value)
                let w = LearnedRound.fakeQuantize(floorCodes: floorCodes, rounding: h, scale: scale, zeroPoint: zeroPoint, range: range)
                let qw = QuantValue.quant(QuantTensor(value: w, scale: scale, zeroPoint: zeroPoint, bitWidth: bitWidth, signed: signed, training: false))
                let out = try layer.forward(x) { _ in qw }.value
                var loss = Self.outputLoss(out, target, options.loss)
                if options.loss == .regularisedMSE { loss = loss + regulariser.loss(h).loss }
                let l = Double(loss.item())
                guard l.isFinite else {
                    throw PTQError.invalidOption("learned rounding of layer \(name): the loss became \(l) at iteration \(i + 1); lower --learned-round-lr")
                }
                loss.backward()
                adam.step()
                adam.zeroGrad()
                if i == 0 { initialLoss = l }
                finalLoss = l
                if (i + 1) % 50 == 0 || i + 1 == n { try report(i + 1, l) }
            }
        }
    }

    /// Hardens the offsets (`h > 0.5`), stores `(clamp(floor(w/s + z) + h) − z)·s` as the
    /// weight and checks that the layer's quantizer maps it to exactly those codes.
    func harden() throws -> LearnedRoundLayerReport {
        try Autograd.noGrad {
            let hs = options.hardSigmoid
            let soft = hs(value).scalars
            let b = range.bounds
            let codes = (floorCodes + hs.hardened(value)).clamp(min: b.min, max: b.max)
            let w = layer.weight
            let nearest = (w / scale + zeroPoint).rounded().clamp(min: b.min, max: b.max).scalars
            let rounded = (codes - zeroPoint) * scale
            let original = w.copy()
            w.assign(rounded)
            let check = layer.quantWeight().value.scalars
            let stored = rounded.scalars
            if let i = check.indices.first(where: { check[$0] != stored[$0] }) {
                w.assign(original)
                throw PTQError.unsupportedLayer(layer: name, reason: "the weight quantizer does not reproduce the learned rounding (element \(i): \(check[i]) instead of \(stored[i])); the weight was left as it was")
            }
            let c = codes.scalars
            return LearnedRoundLayerReport(layer: name, weights: c.count, flipped: zip(c, nearest).filter { $0 != $1 }.count,
                                           undecided: soft.filter { $0 > 0 && $0 < 1 }.count, initialLoss: initialLoss, finalLoss: finalLoss)
        }
    }
}
