import Graph
import NN
import QuantCore
import QuantNN
import TensorEngine

/// One quantizer of a quantized graph as it ran on a batch (README-ptq "Quantization points and
/// names"): its key in the float graph's names, how often it ran, and the QuantTensor metadata of
/// its (last) output. A quantizer that did not run (`calls == 0`, e.g. a concat's shared
/// quantizer whose users hold it) has no metadata.
public struct QuantizationPoint: CustomStringConvertible {
    public var spec: QuantPointSpec
    public var calls: Int
    public var scale: Tensor?
    public var zeroPoint: Tensor?
    public var bitWidth: Float?
    public var signed: Bool?
    /// For inserted requantizers: the float values it is called on, in graph order.
    public var appliedTo: [String]?
    /// The other activation points that use the same scaling module, sorted.
    public var scaleSharedWith: [String]

    public var key: String { spec.key }
    public var kind: String { spec.proxy.kind }

    public var description: String {
        var s = "\(key): \(kind), \(calls) call\(calls == 1 ? "" : "s")"
        if let bitWidth, let signed, let scale {
            let shown = scale.count == 1 ? "\(scale.scalars[0])" : "per-channel \(scale.shape)"
            s += ", \(Int(bitWidth)) bit \(signed ? "signed" : "unsigned"), scale \(shown)"
        }
        if let appliedTo { s += ", applied to \(appliedTo)" }
        if !scaleSharedWith.isEmpty { s += ", scale shared with \(scaleSharedWith)" }
        return s
    }
}

extension QuantGraphModule {
    /// Runs `x` in eval mode and reports every quantizer the passes created, sorted by key.
    public func quantizationPoints(on x: Tensor) throws -> [QuantizationPoint] {
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        var calls: [String: Int] = [:]
        var meta: [String: QuantTensor] = [:]
        let byModule = Dictionary(grouping: points, by: \.module)
        _ = try Autograd.noGrad {
            try run([.float(x)], mode: .quantized) { node, module, input, output in
                guard let outer = node.modulePath else { return }
                let path = self.module(at: outer) is EqualizedModule ? outer + ".layer" : outer
                guard let specs = byModule[path] else { return }
                for spec in specs {
                    calls[spec.key, default: 0] += 1
                    if let q = Self.metadata(spec, module, input, output) { meta[spec.key] = q }
                }
            }
        }
        let inserted = Set(points.filter(\.inserted).map(\.module))
        var scalingOf: [String: ObjectIdentifier] = [:]
        for spec in points where spec.proxy.kind == "activation" {
            if let proxy = actProxy(spec), let id = ScaleIdentity.scaling(proxy.tensorQuant) { scalingOf[spec.key] = id }
        }
        return points.map { spec in
            var p = QuantizationPoint(spec: spec, calls: calls[spec.key] ?? 0, scaleSharedWith: [])
            if p.calls > 0, let q = meta[spec.key] {
                p.scale = q.scale
                p.zeroPoint = q.zeroPoint
                p.bitWidth = q.bitWidth.scalars.first
                p.signed = q.signed
            }
            if spec.inserted {
                p.appliedTo = nodes.filter { $0.modulePath == spec.module }.map { floatName(of: $0.inputs[0], inserted: inserted) }
            }
            if let id = scalingOf[spec.key] {
                p.scaleSharedWith = scalingOf.filter { $0.key != spec.key && $0.value == id }.map(\.key).sorted()
            }
            return p
        }.sorted { $0.key < $1.key }
    }

    /// The float graph's name of `value`: inserted requantizer nodes are looked through.
    func floatName(of value: String, inserted: Set<String>) -> String {
        var v = value
        while let n = node(named: v), let p = n.modulePath, inserted.contains(p), let up = n.inputs.first { v = up }
        return v
    }

    func actProxy(_ spec: QuantPointSpec) -> ActQuantProxy? {
        let m = module(at: spec.module)
        if let l = m as? QuantActivationLayer {
            if spec.proxy == .actQuant { return l.actQuant }
            if spec.proxy == .inputQuant { return l.inputQuant }
        }
        if let l = m as? QuantWeightBiasLayer {
            if spec.proxy == .inputQuant { return l.inputQuant }
            if spec.proxy == .outputQuant { return l.outputQuant }
        }
        return nil
    }

    /// The QuantTensor a point's quantizer produced in one call of its module.
    static func metadata(_ spec: QuantPointSpec, _ module: Module, _ input: QuantValue, _ output: QuantValue) -> QuantTensor? {
        if let l = module as? QuantActivationLayer {
            switch spec.proxy {
            case .actQuant: return output.quantTensor ?? l.actQuant(l.inputQuant(input)).quantTensor
            case .inputQuant: return l.inputQuant(input).quantTensor
            default: return nil
            }
        }
        guard let l = module as? QuantWeightBiasLayer else { return nil }
        switch spec.proxy {
        case .inputQuant: return l.inputQuant(input).quantTensor
        case .weightQuant: return l.quantWeight().quantTensor
        case .biasQuant:
            guard let bias = l.bias else { return nil }
            let qw = l.quantWeight()
            let qi = l.inputQuant(input)
            do { return try l.biasQuant(bias, input: qi, weight: qw, layer: l.typeName).quantTensor } catch { return nil }
        case .outputQuant:
            if let q = output.quantTensor { return q }
            do { return try l.forward(input).quantTensor } catch { return nil }
        case .actQuant: return nil
        }
    }
}
