import NN
import QuantCore
import Quantizers
import TensorEngine

/// The factory's builders for the layers beyond the CNN set: transposed and 3-d convolutions,
/// embeddings, scale-bias, upsampling, recurrent and attention layers.
extension LayerFactory {
    /// Class names built by `moreLayers`.
    static let moreLayerClassNames = ["QuantConvTranspose1d", "QuantConvTranspose2d", "QuantConv3d"]

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
        default:
            throw QuantConfigError(context: name, problems: [.init(key: "class", message: "not a layer of this builder")])
        }
    }
}

extension LayerFactory.Args {
    /// An integer (repeated three times) or a list of three integers.
    mutating func triple(_ key: String, _ def: [Int]) -> [Int] {
        guard let v = take(key) else { return def }
        if let i = v.intValue { return [i, i, i] }
        if let l = v.intList, l.count == 3 { return l }
        problems.append(.init(key: key, message: "expects an integer or three integers (depth, height, width), got \(v)"))
        return def
    }
}
