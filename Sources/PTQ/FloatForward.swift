import GraphQuant
import NN
import QuantNN
import TensorEngine

extension PTQLayers {
    /// A `replace` closure for ``GraphQuant/QuantGraphModule/forwardIntercepting(_:replace:_:)``
    /// that runs the quantized graph with every quantizer off (Brevitas's forward under
    /// `disable_quant`): compute layers on their float weights (`weights[ObjectIdentifier(layer)]`
    /// where given, e.g. the weights before GPFQ or learned rounding, else the layer's own) and
    /// float biases, activation layers as their float function, other modules as float layers.
    /// At the node named `stop` it calls `capture(layer, input)` and throws ``Stop``.
    static func floatForward(weights: [ObjectIdentifier: Tensor], stop: String, algorithm: String,
                             capture: @escaping (QuantWeightBiasLayer, Tensor) throws -> Void) -> (String, Module, QuantValue) throws -> QuantValue? {
        { node, mod, input in
            let x = input.value
            if node == stop, let l = mod as? QuantWeightBiasLayer {
                try capture(l, x)
                throw Stop()
            }
            switch mod {
            case let l as QuantConv2d:
                return .float(floatLayerOutput(l, x, weight: weights[ObjectIdentifier(l)]))
            case let l as QuantConv1d:
                return .float(floatLayerOutput(l, x, weight: weights[ObjectIdentifier(l)]))
            case let l as QuantLinear:
                return .float(floatLayerOutput(l, x, weight: weights[ObjectIdentifier(l)]))
            case let a as QuantActivationLayer:
                switch a.actQuant.activation {
                case .identity: return .float(x)
                case .relu: return .float(x.relu())
                case .sigmoid: return .float(x.sigmoid())
                case .tanh: return .float(x.tanh())
                case .hardtanh(let lo, let hi): return .float(x.hardtanh(min: lo, max: hi))
                }
            case is QuantLayer:
                throw PTQError.unsupportedLayer(layer: node, reason: "\(algorithm)'s float forward does not know \(mod.typeName)")
            default:
                return .float(try floatModule(mod, x))
            }
        }
    }
}
