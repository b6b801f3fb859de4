import Graph
import NN
import TensorEngine

/// Conv (1-D and 2-D, grouped, dilated, symmetric padding) as `Conv1d`/`Conv2d` modules, and
/// ConvTranspose (2-D) as `ConvTranspose2d`.
extension GraphImporter {
    /// Geometry attributes shared by Conv, ConvTranspose and the pools: `pads` must be
    /// symmetric (begin == end) and `auto_pad` NOTSET or VALID.
    func spatialAttributes(_ c: NodeContext, spatial: Int, kernel: [Int]) throws -> (strides: [Int], pads: [Int], dilations: [Int]) {
        let autoPad = try c.string("auto_pad", "NOTSET")
        guard autoPad == "NOTSET" || autoPad == "VALID" else {
            throw c.attributeError("auto_pad", "'\(autoPad)' is not supported (NOTSET, VALID are); export with explicit pads")
        }
        let strides = try c.ints("strides") ?? [Int](repeating: 1, count: spatial)
        let dilations = try c.ints("dilations") ?? [Int](repeating: 1, count: spatial)
        let pads = try c.ints("pads") ?? [Int](repeating: 0, count: 2 * spatial)
        guard strides.count == spatial, strides.allSatisfy({ $0 > 0 && $0 < 1 << 20 }) else { throw c.attributeError("strides", "\(strides) must be \(spatial) positive values") }
        guard dilations.count == spatial, dilations.allSatisfy({ $0 > 0 && $0 < 1 << 20 }) else { throw c.attributeError("dilations", "\(dilations) must be \(spatial) positive values") }
        guard pads.count == 2 * spatial, pads.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) else { throw c.attributeError("pads", "\(pads) must be \(2 * spatial) non-negative values") }
        guard Array(pads[..<spatial]) == Array(pads[spatial...]) else {
            throw c.attributeError("pads", "\(pads) are asymmetric; only equal padding at both ends is supported")
        }
        guard kernel.count == spatial, kernel.allSatisfy({ $0 > 0 && $0 < 1 << 20 }) else { throw c.attributeError("kernel_shape", "\(kernel) must be \(spatial) positive values") }
        return (strides, autoPad == "VALID" ? [Int](repeating: 0, count: spatial) : Array(pads[..<spatial]), dilations)
    }

    /// `⌊(n + 2p - d(k - 1) - 1) / s⌋ + 1`, at least 1 or a shape error.
    func convOutput(_ c: NodeContext, _ n: Int, k: Int, s: Int, p: Int, d: Int, ceil: Bool = false) throws -> Int {
        let span = n + 2 * p - d * (k - 1) - 1
        guard span >= 0 else { throw c.shapeError("the window (kernel \(k), dilation \(d)) is larger than the padded input (\(n) + 2·\(p))") }
        return (ceil ? (span + s - 1) / s : span / s) + 1
    }

    mutating func conv(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        try c.expectInputs(2...3)
        let (vx, xs) = try runtime(c, 0)
        let w = try constant(c, 1, "weight")
        guard case .float = w.data else { throw c.error("the weight must be floating point") }
        guard xs.count == 4 || xs.count == 3 else { throw c.shapeError("input \(xs) must be [N, C, H, W] or [N, C, L]; \(xs.count - 2)-D convolution is not supported") }
        let spatial = xs.count - 2
        guard w.shape.count == xs.count else { throw c.shapeError("weight \(w.shape) and input \(xs) differ in rank") }
        let groups = try c.int("group", 1)
        let kernel = try c.ints("kernel_shape") ?? Array(w.shape[2...])
        guard kernel == Array(w.shape[2...]) else { throw c.shapeError("kernel_shape \(kernel) differs from the weight's \(w.shape)") }
        let (strides, pads, dilations) = try spatialAttributes(c, spatial: spatial, kernel: kernel)
        let outC = w.shape[0], inC = xs[1]
        guard groups > 0, outC > 0, inC % groups == 0, outC % groups == 0, w.shape[1] * groups == inC else {
            throw c.shapeError("input \(xs) with \(groups) group(s) does not fit weight \(w.shape)")
        }
        var bias: ConstValue?
        if c.inputName(2) != nil {
            bias = try constant(c, 2, "bias")
            guard bias!.shape == [outC], bias!.isFloat else { throw c.shapeError("bias \(bias!.shape) must be [\(outC)]") }
        }
        var outShape = [xs[0], outC]
        for i in 0..<spatial {
            outShape.append(try convOutput(c, xs[2 + i], k: kernel[i], s: strides[i], p: pads[i], d: dilations[i]))
        }
        let layer: any Layer
        let weightTensor: Tensor, biasTensor: Tensor?
        if spatial == 2 {
            let m = Conv2d(inChannels: inC, outChannels: outC, kernelSize: IntOrPair(kernel[0], kernel[1]),
                           stride: IntOrPair(strides[0], strides[1]), padding: IntOrPair(pads[0], pads[1]),
                           dilation: IntOrPair(dilations[0], dilations[1]), groups: groups, bias: bias != nil)
            (layer, weightTensor, biasTensor) = (m, m.weight, m.bias)
        } else {
            let m = Conv1d(inChannels: inC, outChannels: outC, kernelSize: kernel[0], stride: strides[0], padding: pads[0],
                           dilation: dilations[0], groups: groups, bias: bias != nil)
            (layer, weightTensor, biasTensor) = (m, m.weight, m.bias)
        }
        weightTensor.assign(w.tensor)
        if let bias { biasTensor!.assign(bias.tensor) }
        let path = modulePath(c, weight: c.inputName(1), opName: "conv")
        return [call(path, layer, vx, shape: outShape)]
    }

    mutating func convTranspose(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["auto_pad", "dilations", "group", "kernel_shape", "output_padding", "pads", "strides"])
        try c.expectInputs(2...3)
        let (vx, xs) = try runtime(c, 0)
        let w = try constant(c, 1, "weight")
        guard xs.count == 4, w.shape.count == 4 else { throw c.shapeError("input \(xs) and weight \(w.shape) must be 4-D (2-D transposed convolution)") }
        guard try c.ints("output_shape") == nil else { throw c.attributeError("output_shape", "not supported; export with pads") }
        let groups = try c.int("group", 1)
        let kernel = try c.ints("kernel_shape") ?? Array(w.shape[2...])
        guard kernel == Array(w.shape[2...]) else { throw c.shapeError("kernel_shape \(kernel) differs from the weight's \(w.shape)") }
        let (strides, pads, dilations) = try spatialAttributes(c, spatial: 2, kernel: kernel)
        let outputPadding = try c.ints("output_padding") ?? [0, 0]
        guard outputPadding.count == 2, zip(outputPadding, strides).allSatisfy({ $0 >= 0 && $0 < $1 }) else {
            throw c.attributeError("output_padding", "\(outputPadding) must be 2 values below the strides \(strides)")
        }
        let inC = xs[1]
        guard groups > 0, w.shape[0] == inC, inC % groups == 0 else { throw c.shapeError("input \(xs) with \(groups) group(s) does not fit weight \(w.shape)") }
        let outC = w.shape[1] * groups
        var bias: ConstValue?
        if c.inputName(2) != nil {
            bias = try constant(c, 2, "bias")
            guard bias!.shape == [outC], bias!.isFloat else { throw c.shapeError("bias \(bias!.shape) must be [\(outC)]") }
        }
        var outShape = [xs[0], outC]
        for i in 0..<2 {
            let n = (xs[2 + i] - 1) * strides[i] - 2 * pads[i] + dilations[i] * (kernel[i] - 1) + outputPadding[i] + 1
            guard n > 0 else { throw c.shapeError("the output would be empty along spatial dimension \(i)") }
            outShape.append(n)
        }
        let m = ConvTranspose2d(
            inChannels: inC, outChannels: outC, kernelSize: IntOrPair(kernel[0], kernel[1]),
            stride: IntOrPair(strides[0], strides[1]), padding: IntOrPair(pads[0], pads[1]),
            outputPadding: IntOrPair(outputPadding[0], outputPadding[1]), dilation: IntOrPair(dilations[0], dilations[1]),
            groups: groups, bias: bias != nil)
        m.weight.assign(w.tensor)
        if let bias { m.bias!.assign(bias.tensor) }
        let path = modulePath(c, weight: c.inputName(1), opName: "conv_transpose")
        return [call(path, m, vx, shape: outShape)]
    }
}
