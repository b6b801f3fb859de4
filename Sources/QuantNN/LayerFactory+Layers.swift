import NN
import QuantCore
import Quantizers
import TensorEngine

/// The factory's builders for the layers beyond the CNN set: transposed and 3-d convolutions,
/// embeddings, scale-bias, upsampling, recurrent and attention layers.
extension LayerFactory {
    /// Class names built by `moreLayers`.
    static let moreLayerClassNames = [
        "QuantConvTranspose1d", "QuantConvTranspose2d", "QuantConv3d", "QuantEmbedding", "QuantScaleBias",
        "BatchNorm2dToQuantScaleBias", "QuantUpsample", "QuantUpsamplingNearest2d", "QuantUpsamplingBilinear2d",
        "HadamardClassifier", "QuantScaledDotProductAttention", "TruncQuantAccumulator", "ClampQuantAccumulator",
    ]

    static func moreLayers(_ a: inout Args) throws(QuantConfigError) -> Built {
        let name = a.className
        switch name {
        case "QuantConvTranspose1d", "QuantConvTranspose2d", "QuantConv3d":
            // output_padding first: the output_ prefix belongs to output_quant.
            let outputPadding = a.take("output_padding")
            let rqt = a.bool("return_quant_tensor", false)
            let hasBias = a.bool("bias", true)
            let weight = try a.weightQuantizer()
            let bias = try a.biasQuantizer()
            let input = try a.actQuantizer("input_quant", default: nil, prefix: "input_")
            let output = try a.actQuantizer("output_quant", default: nil, prefix: "output_")
            guard let i = a.int("in_channels", nil), let o = a.int("out_channels", nil), a.remaining["kernel_size"] != nil else {
                throw QuantConfigError(context: name, problems: [.init(key: "kernel_size", message: "in_channels, out_channels and kernel_size are required")])
            }
            let g = a.int("groups", 1) ?? 1
            if let outputPadding { a.remaining["output_padding"] = outputPadding }
            if name == "QuantConv3d" {
                let k = a.triple("kernel_size", [1, 1, 1]), s = a.triple("stride", [1, 1, 1])
                let p = a.triple("padding", [0, 0, 0]), d = a.triple("dilation", [1, 1, 1])
                return .single(try a.wrap { () throws(QuantConfigError) in
                    try QuantConv3d(i, o, kernelSize: k, stride: s, padding: p, dilation: d, groups: g, bias: hasBias, weightQuant: weight,
                                    biasQuant: bias, inputQuant: input, outputQuant: output, returnQuantTensor: rqt)
                })
            }
            if name == "QuantConvTranspose1d" {
                let k = a.int("kernel_size", 1) ?? 1, s = a.int("stride", 1) ?? 1, p = a.int("padding", 0) ?? 0
                let op = a.int("output_padding", 0) ?? 0, d = a.int("dilation", 1) ?? 1
                return .single(try a.wrap { () throws(QuantConfigError) in
                    try QuantConvTranspose1d(i, o, kernelSize: k, stride: s, padding: p, outputPadding: op, dilation: d, groups: g,
                                             bias: hasBias, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output,
                                             returnQuantTensor: rqt)
                })
            }
            let k = a.pair("kernel_size", 1) ?? 1, s = a.pair("stride", 1) ?? 1, p = a.pair("padding", 0) ?? 0
            let op = a.pair("output_padding", 0) ?? 0, d = a.pair("dilation", 1) ?? 1
            return .single(try a.wrap { () throws(QuantConfigError) in
                try QuantConvTranspose2d(i, o, kernelSize: k, stride: s, padding: p, outputPadding: op, dilation: d, groups: g,
                                         bias: hasBias, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output,
                                         returnQuantTensor: rqt)
            })
        case "QuantEmbedding":
            let rqt = a.bool("return_quant_tensor", false)
            let weight = try a.weightQuantizer()
            guard let n = a.int("num_embeddings", nil), let d = a.int("embedding_dim", nil) else {
                throw QuantConfigError(context: name, problems: [.init(key: "num_embeddings", message: "num_embeddings and embedding_dim are required")])
            }
            let pad = a.optionalInt("padding_idx")
            return .single(try a.wrap { () throws(QuantConfigError) in
                try QuantEmbedding(n, d, paddingIdx: pad, weightQuant: weight, returnQuantTensor: rqt)
            })
        case "QuantScaleBias", "BatchNorm2dToQuantScaleBias":
            let rqt = a.bool("return_quant_tensor", false)
            let hasBias = name == "QuantScaleBias" ? a.bool("bias", true) : true
            let eps = name == "QuantScaleBias" ? 0 : a.float("eps", 1e-5)
            let weight = try a.weightQuantizer()
            let bias = try a.biasQuantizer()
            let input = try a.actQuantizer("input_quant", default: nil, prefix: "input_")
            let output = try a.actQuantizer("output_quant", default: nil, prefix: "output_")
            guard let c = a.int("num_features", nil) else {
                throw QuantConfigError(context: name, problems: [.init(key: "num_features", message: "num_features is required")])
            }
            return .single(try a.wrap { () throws(QuantConfigError) in
                name == "QuantScaleBias"
                    ? try QuantScaleBias(c, bias: hasBias, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output, returnQuantTensor: rqt)
                    : try BatchNorm2dToQuantScaleBias(c, eps: eps, weightQuant: weight, biasQuant: bias, inputQuant: input, outputQuant: output, returnQuantTensor: rqt)
            })
        case "QuantUpsample", "QuantUpsamplingNearest2d", "QuantUpsamplingBilinear2d":
            let rqt = a.bool("return_quant_tensor", true)
            let size = a.pair("size", nil).map { ($0.first, $0.second) }
            let factor = a.optionalFloat("scale_factor").map(Double.init)
            if name == "QuantUpsamplingNearest2d" {
                return .single(try QuantUpsample.nearest2d(size: size, scaleFactor: factor, returnQuantTensor: rqt))
            }
            if name == "QuantUpsamplingBilinear2d" {
                return .single(try QuantUpsample.bilinear2d(size: size, scaleFactor: factor, returnQuantTensor: rqt))
            }
            let modeName = a.string("mode", "nearest")
            let align = a.optionalBool("align_corners") ?? false
            guard let mode = Tensor.InterpolationMode(rawValue: modeName) else {
                throw QuantConfigError(context: name, problems: [.init(key: "mode", message: "unsupported mode '\(modeName)'; supported: nearest, bilinear")])
            }
            return .single(try QuantUpsample(size: size, scaleFactor: factor, mode: mode, alignCorners: align, returnQuantTensor: rqt))
        case "HadamardClassifier":
            let rqt = a.bool("return_quant_tensor", false)
            let fixed = a.bool("fixed_scale", false)
            guard let i = a.int("in_channels", nil), let o = a.int("out_channels", nil) else {
                throw QuantConfigError(context: name, problems: [.init(key: "in_channels", message: "in_channels and out_channels are required")])
            }
            return .single(try HadamardClassifier(inChannels: i, outChannels: o, fixedScale: fixed, returnQuantTensor: rqt))
        case "QuantScaledDotProductAttention":
            var quant: [String: ActQuant?] = [:]
            for (key, def) in [("q_scaled", ActQuant.int8ActPerTensorFloat), ("k_transposed", .int8ActPerTensorFloat), ("v", .int8ActPerTensorFloat),
                               ("softmax_input", nil), ("attn_output_weights", .uint8ActPerTensorFloat), ("sdpa_output", nil)] {
                quant[key] = try a.actQuantizer("\(key)_quant", default: def, prefix: "\(key)_")
            }
            return .multi(try QuantScaledDotProductAttention(
                softmaxInputQuant: quant["softmax_input"]!, attnOutputWeightsQuant: quant["attn_output_weights"]!,
                qScaledQuant: quant["q_scaled"]!, kTransposedQuant: quant["k_transposed"]!, vQuant: quant["v"]!,
                sdpaOutputQuant: quant["sdpa_output"]!))
        case "TruncQuantAccumulator":
            let trunc = a.truncQuantizer(default: nil)
            return .single(TruncQuantAccumulator(truncQuant: trunc, returnQuantTensor: a.bool("return_quant_tensor", true)))
        case "ClampQuantAccumulator":
            if let v = a.take("clamp_quant"), v != .null {
                throw QuantConfigError(context: name, problems: [.init(key: "clamp_quant", message: "Brevitas 0.13.4 has no clamp quantizer (only NoneClampQuant); pass None or leave it out, got \(v)")])
            }
            return .single(ClampQuantAccumulator(returnQuantTensor: a.bool("return_quant_tensor", true)))
        default:
            throw QuantConfigError(context: name, problems: [.init(key: "class", message: "not a layer of this builder")])
        }
    }
}

/// A recurrent layer built by the factory: returns the output sequence and its states.
public protocol RecurrentLayer: Module {
    func callAsFunction(_ input: QuantValue) throws -> RecurrentOutput
    /// With initial states (`[hx]` for a QuantRNN, `[hx, cx]` for a QuantLSTM; fewer: zeros).
    func callAsFunction(_ input: QuantValue, states: [Tensor]) throws -> RecurrentOutput
}

extension QuantRNN: RecurrentLayer {}
extension QuantLSTM: RecurrentLayer {}

extension LayerFactory {
    /// Class names built by `makeRecurrent`.
    public static let recurrentClassNames = ["QuantRNN", "QuantLSTM"]

    /// Builds a `QuantRNN` or `QuantLSTM` from Brevitas keywords (`weight_*`, `bias_*`, `io_*`,
    /// `gate_acc_quant_*` (RNN) / `gate_acc_*` (LSTM), `sigmoid_*`, `tanh_*`, `cell_state_*`).
    public static func makeRecurrent(className: String, kwargs: [String: ConfigValue]) throws(QuantConfigError) -> RecurrentLayer {
        var a = Args(className: className, kwargs: kwargs)
        guard recurrentClassNames.contains(className) else {
            throw QuantConfigError(context: className, problems: [.init(key: "class", message: "not a recurrent layer; valid: \(recurrentClassNames.joined(separator: ", "))")])
        }
        guard let inSize = a.int("input_size", nil), let hidden = a.int("hidden_size", nil) else {
            throw QuantConfigError(context: className, problems: [.init(key: "input_size", message: "input_size and hidden_size are required")])
        }
        let layers = a.int("num_layers", 1) ?? 1
        let hasBias = a.bool("bias", true)
        let batchFirst = a.bool("batch_first", false)
        let bidir = a.bool("bidirectional", false)
        let rqt = a.bool("return_quant_tensor", false)
        let shared = a.bool("shared_input_hidden_weights", false)
        let weight = try a.weightQuantizer()
        var bias: BiasQuant? = .int32Bias
        if a.remaining["bias_quant"] != nil || a.remaining.keys.contains(where: { $0.hasPrefix("bias_") }) {
            bias = try a.biasQuantizer()
        }
        let io = try a.actQuantizer("io_quant", default: .int8ActPerTensorFloat, prefix: "io_")
        let built: RecurrentLayer
        if className == "QuantRNN" {
            let nl = a.string("nonlinearity", "tanh")
            let acc = try a.actQuantizer("gate_acc_quant", default: .int8ActPerTensorFloat, prefix: "gate_acc_quant_")
            built = try QuantRNN(inputSize: inSize, hiddenSize: hidden, numLayers: layers, nonlinearity: nl, bias: hasBias,
                                 batchFirst: batchFirst, bidirectional: bidir, weightQuant: weight, biasQuant: bias, ioQuant: io,
                                 gateAccQuant: acc, sharedInputHiddenWeights: shared, returnQuantTensor: rqt)
        } else {
            let acc = try a.actQuantizer("gate_acc_quant", default: .int8ActPerTensorFloat, prefix: "gate_acc_")
            let sig = try a.actQuantizer("sigmoid_quant", default: .uint8ActPerTensorFloat, prefix: "sigmoid_")
            let tanh = try a.actQuantizer("tanh_quant", default: .int8ActPerTensorFloat, prefix: "tanh_")
            let cs = try a.actQuantizer("cell_state_quant", default: .int8ActPerTensorFloat, prefix: "cell_state_")
            let intraWeight = a.bool("shared_intra_layer_weight_quant", false)
            let intraAcc = a.bool("shared_intra_layer_gate_acc_quant", false)
            built = try QuantLSTM(inputSize: inSize, hiddenSize: hidden, numLayers: layers, bias: hasBias, batchFirst: batchFirst,
                                  bidirectional: bidir, weightQuant: weight, biasQuant: bias, ioQuant: io, gateAccQuant: acc,
                                  sigmoidQuant: sig, tanhQuant: tanh, cellStateQuant: cs, sharedInputHiddenWeights: shared,
                                  sharedIntraLayerWeightQuant: intraWeight, sharedIntraLayerGateAccQuant: intraAcc,
                                  returnQuantTensor: rqt)
        }
        try a.finish()
        return built
    }
}

extension LayerFactory.Args {
    /// An integer or `None` (absent: `nil`).
    mutating func optionalInt(_ key: String) -> Int? {
        guard let v = take(key) else { return nil }
        if case .null = v { return nil }
        if let i = v.intValue { return i }
        problems.append(.init(key: key, message: "expects an integer or None, got \(v)"))
        return nil
    }

    /// A number or `None` (absent: `nil`).
    mutating func optionalFloat(_ key: String) -> Float? {
        guard let v = take(key) else { return nil }
        if case .null = v { return nil }
        if let f = v.floatValue { return f }
        problems.append(.init(key: key, message: "expects a number or None, got \(v)"))
        return nil
    }

    mutating func float(_ key: String, _ def: Float) -> Float { optionalFloat(key) ?? def }

    /// True, False or `None` (absent: `nil`).
    mutating func optionalBool(_ key: String) -> Bool? {
        guard let v = take(key) else { return nil }
        switch v {
        case .null: return nil
        case .bool(let b): return b
        default:
            problems.append(.init(key: key, message: "expects True, False or None, got \(v)"))
            return nil
        }
    }

    mutating func string(_ key: String, _ def: String) -> String {
        guard let v = take(key) else { return def }
        if case .string(let s) = v { return s }
        problems.append(.init(key: key, message: "expects a string, got \(v)"))
        return def
    }

    /// An integer (repeated three times) or a list of three integers.
    mutating func triple(_ key: String, _ def: [Int]) -> [Int] {
        guard let v = take(key) else { return def }
        if let i = v.intValue { return [i, i, i] }
        if let l = v.intList, l.count == 3 { return l }
        problems.append(.init(key: key, message: "expects an integer or three integers (depth, height, width), got \(v)"))
        return def
    }
}
