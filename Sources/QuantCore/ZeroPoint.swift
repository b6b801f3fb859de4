import NN
import TensorEngine

/// Produces a quantizer's (integer-valued, float-typed) zero point (Brevitas `zero_point_impl`).
public protocol ZeroPointImpl: Module {
    func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor
    /// Whether the next call reads the values of `x`.
    var readsInput: Bool { get }
}

/// Zero (Brevitas `ZeroZeroPoint`): buffer `zero_point.value`.
public final class ZeroZeroPoint: Module, ZeroPointImpl {
    let zero = StatelessBuffer(0)
    public override init() {
        super.init()
        registerModule("zero_point", zero)
    }
    public func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor { zero.value }
    public var readsInput: Bool { false }
}

/// A zero point collected from the negative tail of the input, then learned (Brevitas
/// `ParameterFromRuntimeZeroPoint`; `quantize_zero_point` is `scaleShift.quantize`).
///
/// The float zero point `zf` (statistic during collection, buffer in eval before the learned
/// phase, `value` after) becomes `z = scaleShift(|zf|, s, b)` (`ScaleShiftZeroPoint`: for the
/// unsigned ranges it is used with, `clamp(round(|zf| / s), 0, maxInt(b))`, rounded with a
/// straight-through estimator and clamped with a select).
public final class ParameterFromRuntimeZeroPoint: Module, ZeroPointImpl, StatsCollecting {
    public var counter = 0
    public let collectStatsSteps: Int
    public let momentum: Float?
    public let view: StatsView
    public let value: Tensor
    public let buffer: Tensor
    let statsImpl: StatsOpModule
    let shape: [Int]
    public let scaleShift: ScaleShiftZeroPoint

    public init(collectStatsSteps: Int, stats: StatsOpModule, view: StatsView, shape: [Int],
                momentum: Float?, scaleShift: ScaleShiftZeroPoint) {
        self.collectStatsSteps = collectStatsSteps
        self.momentum = momentum
        self.view = view
        self.shape = shape
        self.scaleShift = scaleShift
        statsImpl = stats
        value = Tensor(repeating: 0, shape: shape)
        buffer = Tensor(repeating: 0, shape: shape)
        super.init()
        registerParameter("value", value)
        registerBuffer("buffer", buffer, persistent: false)
        registerModule("zero_point_stats_input_view_shape_impl", view.descriptiveNode)
        registerModule("zero_point_stats_impl", stats)
        registerModule("scale_shift_zero_point", DescriptiveNode("_ScaleShiftZeroPoint"))
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor, bitWidth: Tensor) -> Tensor {
        var out: Tensor
        if training {
            if counter < collectStatsSteps {
                let stats: Tensor
                if let aware = statsImpl as? ScaleAwareStats {
                    // A search that quantizes with the quantizer's scale (HQO).
                    stats = aware.stats(view.apply(x), scale: scale, bitWidth: bitWidth).reshape(shape)
                } else {
                    stats = statsImpl(view.apply(x)).reshape(shape)
                }
                let newCounter = counter + 1
                Autograd.noGrad {
                    if counter == 0 {
                        buffer.assign(buffer + stats.detach())
                    } else {
                        momentumUpdate(buffer, stats.detach(), momentum, counter, newCounter)
                    }
                }
                counter = newCounter
                out = stats + value * 0
            } else {
                if counter == collectStatsSteps { finishCollection() }
                out = value
            }
        } else {
            out = counter <= collectStatsSteps ? buffer : value
        }
        return scaleShift(STE.absBinarySignGrad(out), scale: scale, bitWidth: bitWidth)
    }

    public override func stateDictValue(forLocal name: String, _ tensor: Tensor) -> Tensor {
        name == "value" && counter <= collectStatsSteps ? buffer.detach() : tensor
    }

    public var readsInput: Bool { training && counter < collectStatsSteps }

    /// Loading a learned `value` ends collection (Brevitas semantics).
    public override func didLoadState(localNames: Set<String>) {
        if localNames.contains("value") { counter = collectStatsSteps + 1 }
    }

    public func finishCollection() {
        guard counter <= collectStatsSteps else { return }
        Autograd.noGrad { value.assign(value + buffer) }
        counter = collectStatsSteps + 1
    }
}
