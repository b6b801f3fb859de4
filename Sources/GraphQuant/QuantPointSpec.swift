/// One quantizer created by the graph passes, named with the float graph's names
/// (README-ptq "Quantization points and names").
///
/// | key | quantizer |
/// |---|---|
/// | `weight of L`, `bias of L` | layer L's weight / bias quantizer |
/// | `input of L` | L's own input quantizer (layerwise), or a QuantIdentity inserted before L |
/// | `output of N` | a QuantReLU's quantizer (N = the ReLU), or a QuantIdentity inserted after node or input N |
/// | `inputs of N` | the shared quantizer of add/cat node N |
public struct QuantPointSpec: Equatable, Sendable {
    /// Which proxy of the module holds the quantizer.
    public enum Proxy: String, Sendable {
        case actQuant = "act_quant", inputQuant = "input_quant", outputQuant = "output_quant"
        case weightQuant = "weight_quant", biasQuant = "bias_quant"

        public var kind: String {
            switch self {
            case .weightQuant: "weight"
            case .biasQuant: "bias"
            default: "activation"
            }
        }
    }

    public var key: String
    /// The module's dotted path in the quantized graph.
    public var module: String
    public var proxy: Proxy
    /// Whether the module is a requantizer the passes inserted (it then reports `applied_to`).
    public var inserted: Bool

    public init(key: String, module: String, proxy: Proxy, inserted: Bool) {
        self.key = key
        self.module = module
        self.proxy = proxy
        self.inserted = inserted
    }
}
