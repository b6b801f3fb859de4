import NN
import QuantCore
import Quantizers
import TensorEngine

/// Builds quantized layers from Brevitas class names and keyword arguments, the string-keyed
/// boundary used by config files and conformance specs (`QuantReLU(bit_width=4,
/// return_quant_tensor=True)`).
///
/// Keywords are routed as Brevitas routes them: on activation layers an unprefixed quantizer
/// keyword configures `act_quant` and `input_*` configures `input_quant`; on weight layers
/// `weight_*`, `bias_*`, `input_*` and `output_*` configure those quantizers. Unlike Brevitas,
/// a keyword that nothing uses (an unknown name, or an override of a disabled quantizer) is an
/// error, and every problem is reported at once.
public enum LayerFactory {
    /// A built layer: single-input or multi-input.
    public enum Built {
        case single(QuantLayer)
        case multi(QuantMultiInputLayer)

        public var module: Module {
            switch self {
            case .single(let l): return l
            case .multi(let l): return l
            }
        }
    }

    /// The layer classes this factory builds.
    public static let classNames = [
        "QuantIdentity", "QuantReLU", "QuantSigmoid", "QuantTanh", "QuantHardTanh", "QuantLinear", "QuantConv1d",
        "QuantConv2d", "QuantEltwiseAdd", "QuantCat", "QuantMaxPool2d", "TruncAvgPool2d", "TruncAdaptiveAvgPool2d",
        "torch.nn.MaxPool2d", "torch.nn.AvgPool2d",
    ] + moreLayerClassNames

    public static func make(className: String, kwargs: [String: ConfigValue]) throws(QuantConfigError) -> Built {
        var args = Args(className: className, kwargs: kwargs)
        let built: Built
        switch className {
        case "QuantIdentity", "QuantReLU", "QuantSigmoid", "QuantTanh", "QuantHardTanh":
            built = .single(try activation(&args))
        case "QuantLinear", "QuantConv1d", "QuantConv2d":
            built = .single(try weightLayer(&args))
        case _ where moreLayerClassNames.contains(className):
            built = try moreLayers(&args)
        case "QuantEltwiseAdd", "QuantCat":
            let input = try args.actQuantizer("input_quant", default: .int8ActPerTensorFloat, prefix: "input_")
            let output = try args.actQuantizer("output_quant", default: .int8ActPerTensorFloat, prefix: "output_")
            let rqt = args.bool("return_quant_tensor", false)
            if className == "QuantEltwiseAdd" {
                built = .multi(try args.wrap { () throws(QuantConfigError) in try QuantEltwiseAdd(inputQuant: input, outputQuant: output, returnQuantTensor: rqt) })
            } else {
                let dim = args.int("dim", 1) ?? 1
                built = .multi(try args.wrap { () throws(QuantConfigError) in try QuantCat(dim: dim, inputQuant: input, outputQuant: output, returnQuantTensor: rqt) })
            }
        case "QuantMaxPool2d", "torch.nn.MaxPool2d":
            let k = args.requiredPair("kernel_size"), s = args.pair("stride", nil), p = args.pair("padding", 0)
            guard let k else { try args.failWithProblems() }
            built = .single(QuantMaxPool2d(kernelSize: k, stride: s, padding: p ?? 0))
        case "torch.nn.AvgPool2d":
            let k = args.requiredPair("kernel_size"), s = args.pair("stride", nil), p = args.pair("padding", 0)
            guard let k else { try args.failWithProblems() }
            built = .single(QuantAvgPool2d(kernelSize: k, stride: s, padding: p ?? 0))
        case "TruncAvgPool2d":
            let k = args.requiredPair("kernel_size")
            let trunc = args.truncQuantizer()
            let s = args.pair("stride", nil), rqt = args.bool("return_quant_tensor", true)
            guard let k else { try args.failWithProblems() }
            built = .single(TruncAvgPool2d(kernelSize: k, stride: s, truncQuant: trunc, returnQuantTensor: rqt))
        case "TruncAdaptiveAvgPool2d":
            let o = args.requiredPair("output_size")
            let trunc = args.truncQuantizer()
            let rqt = args.bool("return_quant_tensor", true)
            guard let o else { try args.failWithProblems() }
            built = .single(TruncAdaptiveAvgPool2d(outputSize: o, truncQuant: trunc, returnQuantTensor: rqt))
        default:
            throw QuantConfigError(context: className, problems: [.init(key: "class", message: "unknown layer class; valid classes: \(classNames.joined(separator: ", "))")])
        }
        try args.finish()
        return built
    }

    static func activation(_ a: inout Args) throws(QuantConfigError) -> QuantLayer {
        let name = a.className
        let rqt = a.bool("return_quant_tensor", false)
        let input = try a.actQuantizer("input_quant", default: nil, prefix: "input_")
        switch name {
        case "QuantHardTanh":
            let minVal = a.peekFloat("min_val"), maxVal = a.peekFloat("max_val")
            var missing: [QuantConfigError.Problem] = []
            if maxVal == nil { missing.append(.init(key: "max_val", message: "required: QuantHardTanh's range (and the Int8ActPerTensorFloatMinMaxInit quantizer's initial range) cannot be resolved without it")) }
            if minVal == nil { missing.append(.init(key: "min_val", message: "required: QuantHardTanh's range cannot be resolved without it")) }
            if !missing.isEmpty { throw QuantConfigError(context: name, problems: missing) }
            let act = try a.actQuantizer("act_quant", default: .int8ActPerTensorFloatMinMaxInit, prefix: "", consumeRange: true)
            return try a.wrap { () throws(QuantConfigError) in try QuantHardTanh(minVal: minVal!, maxVal: maxVal!, actQuant: act, inputQuant: input, returnQuantTensor: rqt) }
        case "QuantReLU":
            let act = try a.actQuantizer("act_quant", default: .uint8ActPerTensorFloat, prefix: "")
            return try a.wrap { () throws(QuantConfigError) in try QuantReLU(actQuant: act, inputQuant: input, returnQuantTensor: rqt) }
        case "QuantSigmoid":
            let act = try a.actQuantizer("act_quant", default: .uint8ActPerTensorFloat, prefix: "")
            return try a.wrap { () throws(QuantConfigError) in try QuantSigmoid(actQuant: act, inputQuant: input, returnQuantTensor: rqt) }
        case "QuantTanh":
            let act = try a.actQuantizer("act_quant", default: .int8ActPerTensorFloat, prefix: "")
            return try a.wrap { () throws(QuantConfigError) in try QuantTanh(actQuant: act, inputQuant: input, returnQuantTensor: rqt) }
        default:
            let act = try a.actQuantizer("act_quant", default: .int8ActPerTensorFloat, prefix: "")
            return try a.wrap { () throws(QuantConfigError) in try QuantIdentity(actQuant: act, inputQuant: input, returnQuantTensor: rqt) }
        }
    }

    static func weightLayer(_ a: inout Args) throws(QuantConfigError) -> QuantLayer {
        let rqt = a.bool("return_quant_tensor", false)
        let hasBias = a.bool("bias", true)
        let weight = try a.weightQuantizer()
        let bias = try a.biasQuantizer()
        let input = try a.actQuantizer("input_quant", default: nil, prefix: "input_")
        let output = try a.actQuantizer("output_quant", default: nil, prefix: "output_")
        switch a.className {
        case "QuantLinear":
            guard let i = a.int("in_features", nil), let o = a.int("out_features", nil) else {
                throw QuantConfigError(context: "QuantLinear", problems: [.init(key: "in_features", message: "in_features and out_features are required")])
            }
            return try a.wrap { () throws(QuantConfigError) in try QuantLinear(i, o, bias: hasBias, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output, returnQuantTensor: rqt) }
        case "QuantConv1d":
            guard let i = a.int("in_channels", nil), let o = a.int("out_channels", nil), let k = a.int("kernel_size", nil) else {
                throw QuantConfigError(context: "QuantConv1d", problems: [.init(key: "kernel_size", message: "in_channels, out_channels and kernel_size are required")])
            }
            let s = a.int("stride", 1) ?? 1, p = a.int("padding", 0) ?? 0, d = a.int("dilation", 1) ?? 1, g = a.int("groups", 1) ?? 1
            return try a.wrap { () throws(QuantConfigError) in try QuantConv1d(i, o, kernelSize: k, stride: s, padding: p, dilation: d, groups: g, bias: hasBias, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output, returnQuantTensor: rqt) }
        default:
            guard let i = a.int("in_channels", nil), let o = a.int("out_channels", nil), let k = a.pair("kernel_size", nil) else {
                throw QuantConfigError(context: "QuantConv2d", problems: [.init(key: "kernel_size", message: "in_channels, out_channels and kernel_size are required")])
            }
            let s = a.pair("stride", 1) ?? 1, p = a.pair("padding", 0) ?? 0, d = a.pair("dilation", 1) ?? 1, g = a.int("groups", 1) ?? 1
            return try a.wrap { () throws(QuantConfigError) in try QuantConv2d(i, o, kernelSize: k, stride: s, padding: p, dilation: d, groups: g, bias: hasBias, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output, returnQuantTensor: rqt) }
        }
    }

    /// Keyword arguments being consumed; whatever is left at the end is an error.
    struct Args {
        let className: String
        var remaining: [String: ConfigValue]
        var problems: [QuantConfigError.Problem] = []

        init(className: String, kwargs: [String: ConfigValue]) {
            self.className = className
            remaining = kwargs
        }

        mutating func take(_ key: String) -> ConfigValue? { remaining.removeValue(forKey: key) }

        func peekFloat(_ key: String) -> Float? { remaining[key]?.floatValue }

        mutating func bool(_ key: String, _ def: Bool) -> Bool {
            guard let v = take(key) else { return def }
            if case .bool(let b) = v { return b }
            problems.append(.init(key: key, message: "expects True or False, got \(v)"))
            return def
        }

        mutating func int(_ key: String, _ def: Int?) -> Int? {
            guard let v = take(key) else { return def }
            if let i = v.intValue { return i }
            if case .array(let a) = v, a.count == 1, let i = a[0].intValue { return i }
            problems.append(.init(key: key, message: "expects an integer, got \(v)"))
            return def
        }

        /// A keyword without a default (PyTorch's `kernel_size`, `output_size`): its absence is a
        /// problem, reported with the others.
        mutating func requiredPair(_ key: String) -> IntOrPair? {
            guard remaining[key] != nil else {
                problems.append(.init(key: key, message: "is required by \(className) (an integer or a pair of integers); it has no default"))
                return nil
            }
            return pair(key, nil)
        }

        mutating func pair(_ key: String, _ def: IntOrPair?) -> IntOrPair? {
            guard let v = take(key) else { return def }
            if let i = v.intValue { return IntOrPair(i) }
            if let l = v.intList, l.count == 2 { return IntOrPair(l[0], l[1]) }
            problems.append(.init(key: key, message: "expects an integer or a pair of integers, got \(v)"))
            return def
        }

        /// Keywords with `prefix` (all unclaimed quantizer keywords when the prefix is empty).
        mutating func prefixed(_ prefix: String, valid: [String]) -> [String: ConfigValue] {
            var out: [String: ConfigValue] = [:]
            for (k, v) in remaining where k.hasPrefix(prefix) {
                let stripped = String(k.dropFirst(prefix.count))
                if prefix.isEmpty && !valid.contains(stripped) { continue }
                out[stripped] = v
                remaining.removeValue(forKey: k)
            }
            return out
        }

        mutating func actQuantizer(_ key: String, default def: ActQuant?, prefix: String, consumeRange: Bool = false) throws(QuantConfigError) -> ActQuant? {
            var base = def
            if let v = take(key) {
                switch v {
                case .null: base = nil
                case .quantizer(let name):
                    guard let p = ActQuant.preset(named: name) else {
                        throw QuantConfigError(context: "\(className).\(key)", problems: [.init(key: key, message: "unknown activation quantizer '\(name)'; valid: \(ActQuant.presetNames.joined(separator: ", "))")])
                    }
                    base = p
                default:
                    problems.append(.init(key: key, message: "expects a quantizer class or None, got \(v)"))
                }
            }
            var overrides = prefixed(prefix, valid: ActQuant.keywords)
            if !consumeRange && prefix.isEmpty { /* min_val/max_val stay quantizer keywords */ }
            if consumeRange {
                // HardTanh's min_val/max_val define the activation; they also seed a range-based quantizer.
                if base?.scalingImplType != .parameter && base?.scalingImplType != .const {
                    overrides.removeValue(forKey: "min_val")
                    overrides.removeValue(forKey: "max_val")
                }
            }
            guard let q = base else {
                if !overrides.isEmpty {
                    throw QuantConfigError(context: "\(className).\(key)", problems: overrides.keys.sorted().map {
                        .init(key: prefix + $0, message: "has no effect because \(key) is disabled (None); pass \(key)=<quantizer> to enable it")
                    })
                }
                return nil
            }
            return try q.applying(overrides, context: "\(className).\(key)")
        }

        mutating func weightQuantizer() throws(QuantConfigError) -> WeightQuant? {
            var base: WeightQuant? = .int8WeightPerTensorFloat
            if let v = take("weight_quant") {
                switch v {
                case .null: base = nil
                case .quantizer(let name):
                    guard let p = WeightQuant.preset(named: name) else {
                        throw QuantConfigError(context: "\(className).weight_quant", problems: [.init(key: "weight_quant", message: "unknown weight quantizer '\(name)'; valid: \(WeightQuant.presetNames.joined(separator: ", "))")])
                    }
                    base = p
                default: problems.append(.init(key: "weight_quant", message: "expects a quantizer class or None, got \(v)"))
                }
            }
            let overrides = prefixed("weight_", valid: [])
            guard let q = base else {
                if !overrides.isEmpty { throw QuantConfigError(context: "\(className).weight_quant", problems: overrides.keys.sorted().map { .init(key: "weight_" + $0, message: "has no effect because weight_quant is disabled (None)") }) }
                return nil
            }
            return try q.applying(overrides, context: "\(className).weight_quant")
        }

        mutating func biasQuantizer() throws(QuantConfigError) -> BiasQuant? {
            var base: BiasQuant? = nil
            if let v = take("bias_quant") {
                switch v {
                case .null: base = nil
                case .quantizer(let name):
                    guard let p = BiasQuant.preset(named: name) else {
                        throw QuantConfigError(context: "\(className).bias_quant", problems: [.init(key: "bias_quant", message: "unknown bias quantizer '\(name)'; valid: \(BiasQuant.presetNames.joined(separator: ", "))")])
                    }
                    base = p
                default: problems.append(.init(key: "bias_quant", message: "expects a quantizer class or None, got \(v)"))
                }
            }
            let overrides = prefixed("bias_", valid: [])
            guard let q = base else {
                if !overrides.isEmpty { throw QuantConfigError(context: "\(className).bias_quant", problems: overrides.keys.sorted().map { .init(key: "bias_" + $0, message: "has no effect because bias_quant is disabled (None)") }) }
                return nil
            }
            return try q.applying(overrides, context: "\(className).bias_quant")
        }

        mutating func truncQuantizer(default def: TruncQuant? = .roundTo8bit) -> TruncQuant? {
            guard let v = take("trunc_quant") else { return def }
            switch v {
            case .null: return nil
            case .quantizer(let name):
                if let p = TruncQuant.preset(named: name) { return p }
                problems.append(.init(key: "trunc_quant", message: "unknown truncation quantizer '\(name)'; valid: \(TruncQuant.presetNames.joined(separator: ", "))"))
            default: problems.append(.init(key: "trunc_quant", message: "expects a quantizer class or None, got \(v)"))
            }
            return .roundTo8bit
        }

        func wrap<T>(_ body: () throws(QuantConfigError) -> T) throws(QuantConfigError) -> T { try body() }

        /// Throws every problem found (a required keyword is missing or malformed), with the
        /// unused keywords.
        mutating func failWithProblems() throws(QuantConfigError) -> Never {
            try finish()
            preconditionFailure("LayerFactory: \(className) lacks a required keyword but no problem was recorded")
        }

        mutating func finish() throws(QuantConfigError) {
            for k in remaining.keys.sorted() {
                problems.append(.init(key: k, message: LayerFactory.unknownKeywordMessage + className))
            }
            if !problems.isEmpty { throw QuantConfigError(context: className, problems: problems) }
        }
    }
}

extension LayerFactory {
    /// The message of a keyword the factory does not build (followed by the class name).
    static let unknownKeywordMessage = "unknown or unused keyword for "

    /// Whether `error` names a keyword the factory does not build (a gap of this port, not a
    /// refusal of the configuration).
    public static func namesUnbuiltKeyword(_ error: QuantConfigError) -> Bool {
        error.problems.contains { $0.message.hasPrefix(unknownKeywordMessage) }
    }
}
