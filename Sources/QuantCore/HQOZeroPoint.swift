import Foundation
import NN
import TensorEngine

/// A statistic that also needs the quantizer's scale and bit width (the zero-point searches).
public protocol ScaleAwareStats: StatsOpModule {
    /// The statistic of `xView` (`[N]` or `[rows, N]`) quantized with `scale` (scalar or
    /// `[rows, 1]`) at `bitWidth`.
    func stats(_ xView: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor
}

/// The half-quadratic optimizer of a zero point (Brevitas `HalfQuadraticOptimizerZeroPoint`,
/// the shifted `*HQO` presets), per tensor (`[N]`) or per row (`[rows, N]`):
///
///     c ← min(min(x), 0) (per row)
///     repeat up to 1000 times:
///         z = shift(c) / s + minInt;  q = (clamp(round(x/s + z), minInt, maxInt) − z) · s
///         loss = mean|q − x| over the whole tensor; stop when loss ≥ best
///         W_e = shrink_lp(x − q, β, 0.5)
///         c ← mean over the row of (x − W_e) − (q/s + z) · s;  β ← 1.01 β
///
/// `shift(c)` is how the quantizer turns a candidate into its zero point while the search runs
/// (Brevitas's local-loss mode): `|c|` for activations (`ParameterFromRuntimeZeroPoint` returns
/// the candidate, then takes `abs_binary_sign_grad`), `−c` for weights
/// (`ParameterFromStatsFromParameterZeroPoint` returns `scale_shift(−stats)`). They differ only
/// once a candidate turns positive (rows of positive values, whose search starts at 0).
///
/// The zero point is not rounded (`quantize_zero_point = False`). As in Brevitas, `β` is a
/// property of the module that keeps growing across calls (it starts at 1 and is never reset).
/// `searchScale` gives the scale the search quantizes with (Brevitas's local-loss forward of the
/// whole quantizer; see `ParameterFromRuntimeStatsScaling.localLossScale`).
public final class HQOZeroPointStats: Module, ScaleAwareStats {
    /// How a candidate `c` becomes the zero point the search quantizes with.
    public enum CandidateShift: Sendable {
        /// `|c|` (activations).
        case absolute
        /// `−c` (weights).
        case negated
    }

    let initOp = NegativeMinOrZero()
    public let shift: CandidateShift
    /// The shrinkage weight; grows by `kappa` per improving iteration, across calls.
    public var beta: Double
    public let kappa: Double, lpNorm: Float, iterations: Int
    public let minInt: Float, maxInt: Float
    /// Maps the quantizer's scale to the one the search uses; identity when nil.
    public var searchScale: ((Tensor) -> Tensor)?

    public init(minInt: Float, maxInt: Float, shift: CandidateShift, beta: Double = 1, kappa: Double = 1.01,
                lpNorm: Float = 0.5, iterations: Int = 1000) {
        self.shift = shift
        self.minInt = minInt
        self.maxInt = maxInt
        self.beta = beta
        self.kappa = kappa
        self.lpNorm = lpNorm
        self.iterations = iterations
        super.init()
        registerModule("hqo_init_op_zp", initOp)
    }

    public override var typeName: String { "HalfQuadraticOptimizerZeroPoint" }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        preconditionFailure("HQOZeroPointStats needs the quantizer's scale: call stats(_:scale:bitWidth:)")
    }

    public func stats(_ xView: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        Autograd.noGrad {
            let s = searchScale?(scale) ?? scale
            let rows = xView.rank >= 2 ? xView.shape[0] : 1
            let n = rows == 0 ? 0 : xView.count / rows
            let px = xView.reshape([rows, n]).scalars
            let ps = s.scalars
            precondition(ps.count == 1 || ps.count == rows, "HQO zero point: scale of \(ps.count) values for \(rows) rows")
            var c = (0..<rows).map { r in Swift.min(px[(r * n)..<((r + 1) * n)].min() ?? 0, 0) }
            var best = c
            var bestLoss = Float.infinity
            var q = [Float](repeating: 0, count: px.count)
            var err = [Float](repeating: 0, count: px.count)
            var vals = [Float](repeating: 0, count: n)
            let negated = shift == .negated
            for _ in 0..<iterations {
                for r in 0..<rows {
                    let sr = ps.count == 1 ? ps[0] : ps[r]
                    let z = (negated ? -c[r] : Swift.abs(c[r])) / sr + minInt
                    for i in (r * n)..<((r + 1) * n) {
                        let code = Swift.min(Swift.max((px[i] / sr + z).rounded(.toNearestOrEven), minInt), maxInt)
                        q[i] = (code - z) * sr
                        err[i] = Swift.abs(q[i] - px[i])
                    }
                }
                // torch: abs(q - x).mean() = sum (float32, its order) / N.
                let loss = TorchSum.sum(err) / Float(Swift.max(1, px.count))
                if !(loss < bestLoss) { break }
                best = c
                bestLoss = loss
                let invBeta = Float(1.0 / beta)
                for r in 0..<rows {
                    let sr = ps.count == 1 ? ps[0] : ps[r]
                    let z = (negated ? -c[r] : Swift.abs(c[r])) / sr + minInt
                    for i in (r * n)..<((r + 1) * n) {
                        let we = shrinkLp(px[i] - q[i], invBeta, lpNorm)
                        let qtInt = q[i] / sr + z
                        vals[i - r * n] = (px[i] - we) - qtInt * sr
                    }
                    c[r] = TorchSum.sum(vals) / Float(Swift.max(1, n))
                }
                beta *= kappa
            }
            return xView.rank >= 2 ? Tensor(shape: [rows], best) : Tensor(best[0])
        }
    }
}
