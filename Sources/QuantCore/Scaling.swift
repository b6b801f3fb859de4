import NN
import TensorEngine

/// Produces a quantizer's scale from the input and the integer threshold (Brevitas
/// `scaling_impl`): `scale = range / threshold`.
public protocol ScalingImpl: Module {
    func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor
    /// Whether the next call reads the values of `x` (statistics); when not, a caller may fuse
    /// the activation into the quantization kernel.
    var readsInput: Bool { get }
}

extension ScalingImpl {
    public var readsInput: Bool { true }
}

/// Statistics for `collectStatsSteps` training calls, then a learned parameter (Brevitas
/// `ParameterFromRuntimeStatsScaling`).
///
/// - Training call k ≤ N: `s = clampMin(stat(x) + 0·value) / threshold`; the buffer becomes the
///   statistic (k = 1) or `buffer·(1−m) + m·stat`.
/// - Training call N + 1: `value ← pre(buffer)` (|·| or log2), then the learned phase.
/// - Learned: `s = clampMin(restrict(value)) / restrict(pre(threshold))`.
/// - Eval before the learned phase uses the buffer: `clampMin(restrict(pre(buffer)) / threshold)`.
public final class ParameterFromRuntimeStatsScaling: Module, ScalingImpl, StatsCollecting {
    public var counter = 0
    /// Training calls that collect statistics (calibration makes it unbounded).
    public var collectStatsSteps: Int
    /// The moving-average momentum; `nil` is a running mean (what calibration uses).
    public var momentum: Float?
    public let restrict: Restrict
    public let scalingMinVal: Float?
    public let view: StatsView
    /// The learned range (in `restrict`'s space), shape `scalingShape`.
    public let value: Tensor
    /// The collected statistic.
    public let buffer: Tensor
    let statsWrapper: Module
    let statsImpl: StatsOpModule
    let scalingShape: [Int]

    public init(collectStatsSteps: Int, stats: StatsOpModule, view: StatsView, scalingShape: [Int],
                restrict: Restrict, momentum: Float?, scalingMinVal: Float?) {
        precondition(collectStatsSteps > 0, "ParameterFromRuntimeStatsScaling: collect_stats_steps must be > 0, got \(collectStatsSteps)")
        self.collectStatsSteps = collectStatsSteps
        self.momentum = momentum
        self.restrict = restrict
        self.scalingMinVal = scalingMinVal
        self.view = view
        self.scalingShape = scalingShape
        value = Tensor(repeating: 1, shape: scalingShape)
        buffer = Tensor(repeating: 1, shape: scalingShape)
        statsImpl = stats
        statsWrapper = DescriptiveNode("_Stats")
        super.init()
        registerModule("stats_input_view_shape_impl", view.descriptiveNode)
        registerModule("stats", statsWrapper)
        statsWrapper.registerModule("stats_impl", stats)
        // As in Brevitas, the statistic is not saved itself: while collecting, `value` carries it.
        registerBuffer("buffer", buffer, persistent: false)
        registerParameter("value", value)
        registerRestrictNodes(self, restrict, minVal: scalingMinVal)
    }

    public override func stateDictValue(forLocal name: String, _ tensor: Tensor) -> Tensor {
        guard name == "value", counter <= collectStatsSteps else { return tensor }
        return Autograd.noGrad { restrict.pre(buffer) }
    }

    /// Loading a learned `value` ends collection (Brevitas semantics).
    public override func didLoadState(localNames: Set<String>) {
        if localNames.contains("value") { counter = collectStatsSteps + 1 }
    }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        if training {
            if counter < collectStatsSteps {
                let stats = statsImpl(view.apply(x)).reshape(scalingShape) + value * 0
                let clamped = signedClampMin(stats, scalingMinVal)
                let newCounter = counter + 1
                Autograd.noGrad {
                    if counter == 0 {
                        buffer.assign(buffer * clamped.detach())
                    } else {
                        momentumUpdate(buffer, clamped.detach(), momentum, counter, newCounter)
                    }
                }
                counter = newCounter
                return clamped / threshold
            }
            if counter == collectStatsSteps { finishCollection() }
            let v = signedClampMin(restrict.restrict(value), scalingMinVal)
            return v / restrict.restrict(restrict.pre(threshold))
        }
        let out = counter <= collectStatsSteps ? restrict.pre(buffer) : value
        let t = restrict.restrict(restrict.pre(threshold))
        return signedClampMin(restrict.restrict(out) / t, scalingMinVal)
    }

    public var readsInput: Bool { training && counter < collectStatsSteps }

    /// The scale a local-loss forward of the whole quantizer sees right after this call's
    /// collection step (Brevitas's MSE/HQO searches run the quantizer again): `current`, except
    /// on the last collection step, where that forward initialises the learned value from the
    /// collected statistic (a side effect Brevitas has) and quantizes with it.
    public func localLossScale(current: Tensor, threshold: Tensor) -> Tensor {
        guard training, counter == collectStatsSteps else { return current }
        finishCollection()
        let v = signedClampMin(restrict.restrict(value), scalingMinVal)
        return v / restrict.restrict(restrict.pre(threshold))
    }

    public func finishCollection() {
        guard counter <= collectStatsSteps else { return }
        Autograd.noGrad {
            buffer.assign(restrict.pre(buffer))
            value.assign(value * buffer)
        }
        counter = collectStatsSteps + 1
    }

    public override var typeName: String { "ParameterFromRuntimeStatsScaling" }
}

/// Brevitas `inplace_momentum_update`: `t·(1−m) + m·u`, or a running mean when `m` is nil.
func momentumUpdate(_ t: Tensor, _ update: Tensor, _ momentum: Float?, _ counter: Int, _ newCounter: Int) {
    if let m = momentum {
        t.assign(t * (1 - m) + update * m)
    } else {
        t.assign(t * (Float(counter) / Float(newCounter)) + update / Float(newCounter))
    }
}

/// A scale from runtime statistics, never learned (Brevitas `RuntimeStatsScaling`): training
/// calls use the batch statistic and update `runtime_stats.running_stats` (set by the first
/// call, then a moving average with `momentum`, or a running mean when it is nil); eval calls use
/// the running statistic. `s = restrict(pre(clampMin(stat))) / restrict(pre(threshold))`.
public final class RuntimeStatsScaling: Module, ScalingImpl {
    /// Training calls seen.
    public private(set) var counter = 0
    public let momentum: Float?
    public let restrict: Restrict
    public let scalingMinVal: Float?
    public let view: StatsView
    /// The running statistic (`runtime_stats.running_stats`, persistent as in Brevitas).
    public let runningStats: Tensor
    let statsImpl: StatsOpModule
    let scalingShape: [Int]

    public init(stats: StatsOpModule, view: StatsView, scalingShape: [Int], restrict: Restrict, momentum: Float?,
                scalingMinVal: Float?) {
        statsImpl = stats
        self.view = view
        self.scalingShape = scalingShape
        self.restrict = restrict
        self.momentum = momentum
        self.scalingMinVal = scalingMinVal
        runningStats = Tensor(repeating: 1, shape: scalingShape)
        super.init()
        let runtime = DescriptiveNode.statsTree("_RuntimeStats", stats: stats, view: view.descriptiveNode)
        runtime.registerBuffer("running_stats", runningStats)
        registerModule("runtime_stats", runtime)
        registerRestrictNodes(self, restrict, minVal: scalingMinVal)
    }

    public var readsInput: Bool { training }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        let stats: Tensor
        if training {
            stats = statsImpl(view.apply(x)).reshape(scalingShape)
            Autograd.noGrad {
                if counter == 0 {
                    runningStats.assign(runningStats * stats.detach())
                } else {
                    momentumUpdate(runningStats, stats.detach(), momentum, counter, counter + 1)
                }
            }
            counter += 1
        } else {
            stats = runningStats.detach()
        }
        let t = restrict.restrict(restrict.pre(threshold))
        return restrict.restrict(restrict.pre(signedClampMin(stats, scalingMinVal))) / t
    }
}

/// A learned range initialised from a value (Brevitas `ParameterScaling`):
/// `s = clampMin(restrict(value)) / restrict(pre(threshold))`.
public final class ParameterScaling: Module, ScalingImpl {
    public let value: Tensor
    public let restrict: Restrict
    public let scalingMinVal: Float?

    /// `initial` is the range (e.g. `max(|min_val|, |max_val|)`), stored in `restrict`'s space.
    public init(initial: Float, shape: [Int] = [], restrict: Restrict, scalingMinVal: Float?) {
        self.restrict = restrict
        self.scalingMinVal = scalingMinVal
        let stored = Autograd.noGrad { restrict.pre(Tensor(initial)).item() }
        value = Tensor(repeating: stored, shape: shape)
        super.init()
        registerParameter("value", value)
        registerRestrictNodes(self, restrict, minVal: scalingMinVal)
    }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        let t = restrict.restrict(restrict.pre(threshold))
        return signedClampMin(restrict.restrict(value), scalingMinVal) / t
    }

    public var readsInput: Bool { false }
}

/// A constant range (Brevitas `ConstScaling`): `s = restrict(range) / threshold`.
public final class ConstScaling: Module, ScalingImpl {
    let valueBuffer: StatelessBuffer
    public let restrict: Restrict

    public init(range: Float, restrict: Restrict) {
        self.restrict = restrict
        valueBuffer = StatelessBuffer(Autograd.noGrad { restrict.restrict(restrict.pre(Tensor(range))).item() })
        super.init()
        registerModule("value", valueBuffer)
    }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        valueBuffer.value / restrict.restrict(restrict.pre(threshold))
    }

    public var readsInput: Bool { false }
}

/// A scale recomputed from the tensor at every call, with gradient through the statistic
/// (Brevitas `StatsFromParameterScaling`, weights): `s = restrict(pre(clampMin(stat(W)))) / t`.
public final class StatsFromParameterScaling: Module, ScalingImpl {
    let statsImpl: StatsOpModule
    public let view: StatsView
    public let restrict: Restrict
    public let scalingMinVal: Float?
    let scalingShape: [Int]

    public init(stats: StatsOpModule, view: StatsView, scalingShape: [Int], restrict: Restrict, scalingMinVal: Float?) {
        statsImpl = stats
        self.view = view
        self.restrict = restrict
        self.scalingMinVal = scalingMinVal
        self.scalingShape = scalingShape
        super.init()
        // Brevitas 0.13.4's layout: parameter_list_stats.stats.stats_impl (AbsMinMax's `zero`
        // buffer shows it in the state).
        registerModule("parameter_list_stats", DescriptiveNode.statsTree("_ParameterListStats", stats: stats, view: view.descriptiveNode))
        registerRestrictNodes(self, restrict, minVal: scalingMinVal)
    }

    public func callAsFunction(_ x: Tensor, threshold: Tensor) -> Tensor {
        let t = restrict.restrict(restrict.pre(threshold))
        var s = statsImpl(view.apply(x)).reshape(scalingShape)
        s = signedClampMin(s, scalingMinVal)
        s = restrict.restrict(restrict.pre(s))
        return s / t
    }
}

/// Registers the stateless restrict/clamp pieces so the printed tree mirrors Brevitas.
func registerRestrictNodes(_ m: Module, _ restrict: Restrict, minVal: Float?) {
    let rs = DescriptiveNode("_RestrictValue")
    rs.registerModule("restrict_value_impl", DescriptiveNode(restrict.typeName))
    m.registerModule("restrict_scaling", rs)
    let cl = DescriptiveNode("_ClampValue")
    if let v = minVal, v != 0 { cl.registerModule("clamp_min_ste", DescriptiveNode("ScalarSignedClampMinSte", "min_val=\(v)")) }
    m.registerModule("clamp_scaling", cl)
}

extension StatsView {
    var descriptiveNode: Module {
        switch self {
        case .overTensor: return DescriptiveNode("OverTensorView")
        case .overOutputChannel(let dims):
            return DescriptiveNode("OverOutputChannelView", dims.map { "permute_dims=\($0)" } ?? "")
        }
    }
}
