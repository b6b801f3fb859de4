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
