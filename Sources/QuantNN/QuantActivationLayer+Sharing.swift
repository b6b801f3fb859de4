import QuantCore
import Quantizers

extension QuantActivationLayer {
    /// Makes this layer's activation quantizer use `tensorQuant`, a quantizer shared with other
    /// layers (Brevitas's graph quantization rebuilds a `QuantReLU` with the shared
    /// `tensor_quant` of a concat's inputs, or with a quantizer whose `scaling_impl` is another's).
    /// The float activation and the configuration (for printing) stay the layer's own.
    public func shareTensorQuant(_ tensorQuant: TensorQuantizer) throws(QuantConfigError) {
        actQuant = try ActQuantProxy(config: actQuant.config, activation: actQuant.activation,
                                     context: "\(layerName).act_quant", sharing: tensorQuant)
        registerModule("act_quant", actQuant)
    }
}
