import Foundation
import NN
import TensorEngine

/// A statistic over a statistics view (Brevitas `brevitas.core.stats.stats_op`). The input is
/// either flattened (`[N]`, per tensor) or `[C, N]` (per channel, reduced over dimension 1).
/// Gradients flow back to the selected elements, as in Brevitas.
public protocol StatsOpModule: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// k-th smallest along the last dimension (1-based k), with the gradient routed to the selected
/// element (`torch.kthvalue`).
func kthSmallest(_ x: Tensor, _ k: Int) -> Tensor {
    let n = x.shape.last ?? 1
    precondition(k >= 1 && k <= n, "kthvalue: k = \(k) out of range for \(n) elements")
    return x.kthvalue(k, dim: -1).values
}

/// `k = floor(0.01 · q · N + 0.5)`, evaluated in double precision exactly as Brevitas.
func highK(_ q: Double, _ n: Int) -> Int { Swift.max(1, Swift.min(n, Int((0.01 * q * Double(n) + 0.5).rounded(.down)))) }
/// `k = ceil(0.01 · q · N)`.
func lowK(_ q: Double, _ n: Int) -> Int { Swift.max(1, Swift.min(n, Int((0.01 * q * Double(n)).rounded(.up)))) }

/// max |x| (Brevitas `AbsMax`). Per tensor the gradient is shared among tied maxima (`torch.max`),
/// per channel it goes to the first maximum of each row.
public final class AbsMax: Module, StatsOpModule {
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let a = x.abs()
        return a.rank <= 1 ? a.max() : a.max(dim: -1).values
    }
}

/// The `q`-th percentile of |x| (Brevitas `AbsPercentile`): the k-th smallest |x| with
/// `k = floor(0.01·q·N + 0.5)`; the maximum when N < 50,000 at q = 99.999.
public final class AbsPercentile: Module, StatsOpModule {
    public let q: Double
    public init(q: Double) {
        self.q = q
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        kthSmallest(x.abs(), highK(q, x.shape.last ?? 1))
    }
}

/// `|x_(high) − min(x_(low), 0)|` (Brevitas `PercentileInterval`), for shifted quantizers.
public final class PercentileInterval: Module, StatsOpModule {
    public let lowQ: Double, highQ: Double
    let zero = StatelessBuffer(0)
    public init(lowQ: Double, highQ: Double) {
        self.lowQ = lowQ
        self.highQ = highQ
        super.init()
        registerModule("zero", zero)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let n = x.shape.last ?? 1
        let low = clampMax(kthSmallest(x, lowK(lowQ, n)), zero.value)
        let high = kthSmallest(x, highK(highQ, n))
        return (high - low).abs()
    }
}

/// `min(x_(k), 0)` with `k = ceil(0.01·q·N)` (Brevitas `NegativePercentileOrZero`), the statistic
/// of a learned zero point.
public final class NegativePercentileOrZero: Module, StatsOpModule {
    public let q: Double
    let zero = StatelessBuffer(0)
    public init(q: Double) {
        self.q = q
        super.init()
        registerModule("zero", zero)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        clampMax(kthSmallest(x, lowK(q, x.shape.last ?? 1)), zero.value)
    }
}

/// `|max(x) − min(min(x), 0)|` (Brevitas `AbsMinMax`, `scaling_stats_op='min_max'`): the range of
/// a shifted (asymmetric) quantizer, whose low end is the zero point's `NegativeMinOrZero`. Per
/// tensor the gradient of max/min is shared among ties, per channel it goes to the first extremum.
public final class AbsMinMax: Module, StatsOpModule {
    let zero = StatelessBuffer(0)
    public override init() {
        super.init()
        registerModule("zero", zero)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (hi, lo) = x.rank <= 1 ? (x.max(), x.min()) : (x.max(dim: -1).values, x.min(dim: -1).values)
        return (hi - clampMax(lo, zero.value)).abs()
    }
}

/// `min(min(x), 0)` (Brevitas `NegativeMinOrZero`), the statistic of a weight zero point
/// (`StatsFromParameterZeroPoint`).
public final class NegativeMinOrZero: Module, StatsOpModule {
    let zero = StatelessBuffer(0)
    public override init() {
        super.init()
        registerModule("zero", zero)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        clampMax(x.rank <= 1 ? x.min() : x.min(dim: -1).values, zero.value)
    }
}

/// `torch.clamp(x, max=m)` with a tensor bound: the gradient goes to `x` where `x <= m`.
func clampMax(_ x: Tensor, _ m: Tensor) -> Tensor {
    let mask = x.le(m)
    return Tensor.where(mask, x, m.detach())
}

/// How the input of a statistic is viewed (Brevitas `OverTensorView`, `OverOutputChannelView`).
public enum StatsView: Equatable, Sendable {
    /// Everything flattened to `[N]`.
    case overTensor
    /// Permuted by `permuteDims` (if given) so the channel comes first, then `[C, N]`.
    case overOutputChannel(permuteDims: [Int]?)

    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .overTensor: return x.reshape([-1])
        case .overOutputChannel(let dims):
            let p = dims.map { x.permute($0) } ?? x
            return p.reshape([p.shape[0], -1])
        }
    }
}
