import NN

/// A quantizer proxy attached to a layer (Brevitas's `*QuantProxyFromInjector`): the activation,
/// weight, bias and truncation proxies.
///
/// Every proxy can report its outputs, in call order, to an ``observer``. It is `nil` (off) by
/// default and costs one optional check per call; the conformance runner sets it to compare the
/// output of every enabled quantizer with Brevitas's (the `intermediates` of a case), as a
/// PyTorch forward hook on the proxy module would:
///
/// ```swift
/// var seen: [String: [QuantValue]] = [:]
/// for (path, m) in layer.namedModules() {
///     guard let proxy = m as? QuantProxy, proxy.isQuantEnabled else { continue }
///     proxy.observer = { seen[path, default: []].append($0) }
/// }
/// _ = try layer.forward(x)          // seen["weight_quant"] holds the quantized weight
/// ```
public protocol QuantProxy: Module {
    /// Whether the proxy quantizes (Brevitas `is_quant_enabled`); a disabled proxy passes its
    /// input through.
    var isQuantEnabled: Bool { get }
    /// Called with every output of the proxy, in call order; `nil` (the default) reports nothing.
    var observer: ((QuantValue) -> Void)? { get set }
}

extension QuantProxy {
    /// Hands `v` to the observer, if any, and returns it.
    @inline(__always) func observed(_ v: QuantValue) -> QuantValue {
        if let observer { observer(v) }
        return v
    }
}
