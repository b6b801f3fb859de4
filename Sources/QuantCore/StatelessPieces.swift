import NN
import TensorEngine

/// A constant tensor held as a buffer called `value` (Brevitas `StatelessBuffer`), e.g. a bit
/// width or a fixed zero point. As in Brevitas it is a non-persistent buffer: listed by
/// `namedBuffers()`, left out of state dicts (so Brevitas checkpoints load key for key).
public final class StatelessBuffer: Module {
    /// The constant.
    public let value: Tensor

    public init(_ value: Float) {
        self.value = Tensor(value)
        super.init()
        registerBuffer("value", self.value, persistent: false)
    }

    public func callAsFunction() -> Tensor { value }
}

/// A module with no state and no computation of its own, shown in the printed tree to mirror
/// Brevitas's structure (`RoundSte()`, `TensorClamp()`, `IntScaling()`, ...).
public final class Marker: Module {
    let name: String
    let details: String

    /// A piece named `name` (printed as `name(details)`).
    public init(_ name: String, _ details: String = "") {
        self.name = name
        self.details = details
        super.init()
    }

    public override var typeName: String { name }
    public override var extraRepr: String { details }
}

/// A constant bit width (Brevitas `BitWidthConst`): buffer `bit_width.value`.
public final class BitWidthConst: Module {
    /// The bit width as a scalar tensor.
    public let bitWidth: StatelessBuffer

    public init(_ bits: Int) {
        bitWidth = StatelessBuffer(Float(bits))
        super.init()
        registerModule("bit_width", bitWidth)
    }

    /// The bit width (the stored buffer, which a loaded state may have changed).
    public var bits: Int { Int(bitWidth.value.item()) }

    public func callAsFunction() -> Tensor { bitWidth.value }
}

/// A module whose scale or zero point is collected from statistics for a number of training
/// calls before it becomes a learned parameter. `counter` is the number of training calls seen;
/// collection runs while `counter < collectStatsSteps`, the parameter is initialised when
/// `counter == collectStatsSteps`, and the counter then stays at `collectStatsSteps + 1`.
public protocol StatsCollecting: Module {
    var counter: Int { get set }
    var collectStatsSteps: Int { get }
    /// Ends collection now, initialising the learned parameter from the collected statistic.
    func finishCollection()
}
