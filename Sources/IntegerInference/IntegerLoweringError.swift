/// Why a model has no integer program: each case names the layer (its state-dict path and
/// type), what cannot be expressed with integers, and what to change.
public enum IntegerLoweringError: Error, CustomStringConvertible, Equatable {
    /// The layer computes something an integer program cannot reproduce exactly.
    case notExpressible(layer: String, reason: String, fix: String)
    /// No integer translation exists for this layer type.
    case unsupportedLayer(layer: String, type: String, fix: String)

    public var description: String {
        switch self {
        case .notExpressible(let l, let r, let f):
            return "layer '\(l)' has no integer form: \(r). To fix: \(f)."
        case .unsupportedLayer(let l, let t, let f):
            return "layer '\(l)' (\(t)) has no integer translation. To fix: \(f)."
        }
    }
}
