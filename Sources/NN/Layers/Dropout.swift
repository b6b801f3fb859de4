import TensorEngine

/// Inverted dropout (`torch.nn.Dropout`): in training mode each element is zeroed with
/// probability `p` and the rest are scaled by `1/(1 − p)`; in evaluation mode the identity.
///
/// The mask is drawn from `generator` (the global generator by default), so a seeded generator
/// makes a run reproducible.
///
/// ```swift
/// let drop = Dropout(p: 0.25)
/// drop.eval()
/// drop(x) === x  // true
/// ```
open class Dropout: Module, Layer {
    /// The probability of zeroing an element.
    public let p: Float
    let generator: RandomGenerator?

    /// - Parameters:
    ///   - p: the probability of zeroing an element, in `[0, 1]`.
    ///   - generator: the source of the masks; the global generator when `nil`.
    public init(p: Float = 0.5, generator: RandomGenerator? = nil) {
        precondition(p >= 0 && p <= 1, "Dropout: probability p must be in [0, 1], got \(p)")
        self.p = p
        self.generator = generator
        super.init()
    }

    open func callAsFunction(_ x: Tensor) -> Tensor {
        x.dropout(p: p, training: training, generator: generator)
    }

    open override var extraRepr: String { "p=\(PythonRepr.float(p)), inplace=False" }
}
