import Foundation
import TensorEngine

/// The annealed exponent of the rounding regulariser (Brevitas `LinearTempDecay`,
/// `brevitas_examples/common/learned_round/learned_round_method.py`): `startB` until
/// `relStartDecay · tMax`, then linear down to `endB` at `tMax`, and `endB` after it.
///
///     b(t) = startB                                               t < d = relStartDecay·tMax
///     b(t) = endB + (startB − endB) · max(0, 1 − (t − d)/(tMax − d))   otherwise
///
/// With Brevitas's defaults (`tMax` 1000, decay from 0.2·1000, b from 20 to 2): b(199) = 20,
/// b(200) = 20, b(600) = 11, b(1000) = 2, b(1500) = 2.
public struct LinearTempDecay: Equatable, Sendable {
    public var tMax: Int
    public var relStartDecay: Double
    public var startB: Double
    public var endB: Double

    public init(tMax: Int, relStartDecay: Double = 0.2, startB: Double = 10, endB: Double = 2) {
        precondition(tMax > 0 && (0..<1).contains(relStartDecay), "LinearTempDecay: need tMax > 0 and relStartDecay in [0, 1), got \(tMax), \(relStartDecay)")
        self.tMax = tMax
        self.relStartDecay = relStartDecay
        self.startB = startB
        self.endB = endB
    }

    /// The exponent at iteration `t` (1-based, as Brevitas counts).
    public func callAsFunction(_ t: Int) -> Double {
        let start = relStartDecay * Double(tMax)
        if Double(t) < start { return startB }
        let rel = (Double(t) - start) / (Double(tMax) - start)
        return endB + (startB - endB) * Swift.max(0, 1 - rel)
    }
}

/// The rounding regulariser of AdaRound (Brevitas `RoundRegularisationLoss`, registered as
/// `round_reg`): pushes every soft offset `h` (``QuantCore/LearnedRoundHardSigmoid``) to 0 or 1.
///
///     loss(t) = 0                                        t < warmup · maxCount
///     loss(t) = weight · Σᵢ (1 − |2(hᵢ − 0.5)|^b(t))       otherwise
///
/// `t` counts the calls from 1; `b(t)` is ``LinearTempDecay`` from `bRange.0` to `bRange.1`,
/// decaying from `(warmup + (1 − warmup)·decayStart) · maxCount`. A large `b` leaves the term
/// near 1 for every `h` away from 0 and 1 (a flat penalty); as `b` falls to 2 it becomes
/// `1 − (2h − 1)²`, which only 0 and 1 make vanish.
///
/// Brevitas's example (`ptq_evaluate.py` via `learned_round_utils.py`) builds it with no
/// keywords, so `maxCount` stays 1000 whatever the number of iterations: with 100 iterations
/// the regulariser never starts (it starts at t = 200), with 5000 it reaches b = 2 at
/// iteration 1000 and stays there. This type reproduces that; pass `maxCount` to scale the
/// schedule instead.
///
/// ```swift
/// var reg = RoundRegularisation()
/// let l = reg.loss(h)   // call once per iteration, after the forward
/// ```
public struct RoundRegularisation: Equatable, Sendable {
    public var weight: Double
    public var maxCount: Int
    public var warmup: Double
    public let decay: LinearTempDecay
    /// Calls so far (Brevitas's `self.iter`).
    public private(set) var iteration = 0

    public init(weight: Double = 0.01, maxCount: Int = 1000, bRange: (Double, Double) = (20, 2), warmup: Double = 0.2, decayStart: Double = 0) {
        precondition(weight >= 0 && maxCount > 0 && (0..<1).contains(warmup) && (0..<1).contains(decayStart),
                     "RoundRegularisation: need weight >= 0, maxCount > 0, warmup and decayStart in [0, 1), got \(weight), \(maxCount), \(warmup), \(decayStart)")
        self.weight = weight
        self.maxCount = maxCount
        self.warmup = warmup
        decay = LinearTempDecay(tMax: maxCount, relStartDecay: warmup + (1 - warmup) * decayStart, startB: bRange.0, endB: bRange.1)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.weight == b.weight && a.maxCount == b.maxCount && a.warmup == b.warmup && a.decay == b.decay && a.iteration == b.iteration
    }

    /// Whether the call numbered `t` adds the penalty (`t ≥ warmup · maxCount`).
    public func isActive(at t: Int) -> Bool { Double(t) >= Double(maxCount) * warmup }

    /// Counts one call and returns its loss (a scalar tensor, differentiable in `h`; 0 without a
    /// graph during warm-up) and the exponent `b` it used.
    public mutating func loss(_ h: Tensor) -> (loss: Tensor, b: Double) {
        iteration += 1
        let b = decay(iteration)
        guard isActive(at: iteration) else { return (Tensor(Float(0)), b) }
        return (Self.penalty(h, b: Float(b), weight: Float(weight)), b)
    }

    /// `weight · Σ (1 − |2(h − 0.5)|^b)`, one fused pass, with the gradient
    /// `−weight · b · |2(h − 0.5)|^(b−1) · 2 · sign(h − 0.5)` (0 at h = 0.5, as torch's `abs`).
    public static func penalty(_ h: Tensor, b: Float, weight: Float) -> Tensor {
        let hd = h.detach()
        let n = hd.count
        let hp = hd.storage.pointer
        var sum: Double = 0
        for i in 0..<n {
            let u = Swift.abs(hp[i] - 0.5) * 2
            sum += Double(1 - Foundation.pow(u, b))
        }
        let out = Tensor(Float(Double(weight) * sum))
        return Autograd.record("round_regularisation", output: out, inputs: [h]) { g in
            let scale = g.item() * weight
            let grad = Tensor.zeros(hd.shape)
            let gp = grad.storage.pointer
            for i in 0..<n {
                let d = hp[i] - 0.5
                guard d != 0 else { continue }
                let u = Swift.abs(d) * 2
                gp[i] = -scale * b * Foundation.pow(u, b - 1) * 2 * (d > 0 ? 1 : -1)
            }
            return [grad]
        }
    }
}
