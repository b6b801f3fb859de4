import Graph
import NN
import TensorEngine

/// MaxPool, AveragePool and GlobalAveragePool as `MaxPool2d`, `AvgPool2d` and
/// `AdaptiveAvgPool2d(1)` modules; ReduceMean and ReduceMax as functional nodes.
extension GraphImporter {
    func poolGeometry(_ c: NodeContext, _ xs: [Int]) throws -> (kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], out: [Int]) {
        guard xs.count == 4 else { throw c.shapeError("input \(xs) must be [N, C, H, W] (2-D pooling)") }
        guard let kernel = try c.ints("kernel_shape") else { throw c.error("the attribute kernel_shape is required") }
        guard try c.int("ceil_mode", 0) == 0 else { throw c.attributeError("ceil_mode", "only 0 (floor) is supported") }
        let (strides, pads, dilations) = try spatialAttributes(c, spatial: 2, kernel: kernel)
        for i in 0..<2 where pads[i] * 2 > kernel[i] {
            throw c.attributeError("pads", "padding \(pads[i]) is more than half the kernel \(kernel[i])")
        }
        var out = Array(xs[..<2])
        for i in 0..<2 { out.append(try convOutput(c, xs[2 + i], k: kernel[i], s: strides[i], p: pads[i], d: dilations[i])) }
        return (kernel, strides, pads, dilations, out)
    }

    mutating func maxPool(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"])
        try c.expectInputs(1...1)
        guard onlyFirstOutputRead(c) else { throw c.error("the Indices output is not supported") }
        let (vx, xs) = try runtime(c, 0)
        let g = try poolGeometry(c, xs)
        let m = MaxPool2d(kernelSize: IntOrPair(g.kernel[0], g.kernel[1]), stride: IntOrPair(g.strides[0], g.strides[1]),
                          padding: IntOrPair(g.pads[0], g.pads[1]), dilation: IntOrPair(g.dilations[0], g.dilations[1]))
        return [call(modulePath(c, weight: nil, opName: "max_pool"), m, vx, shape: g.out)]
    }

    mutating func averagePool(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"])
        try c.expectInputs(1...1)
        let (vx, xs) = try runtime(c, 0)
        let g = try poolGeometry(c, xs)
        guard g.dilations == [1, 1] else { throw c.attributeError("dilations", "\(g.dilations) are not supported (only 1)") }
        let m = AvgPool2d(kernelSize: IntOrPair(g.kernel[0], g.kernel[1]), stride: IntOrPair(g.strides[0], g.strides[1]),
                          padding: IntOrPair(g.pads[0], g.pads[1]), countIncludePad: try c.int("count_include_pad", 0) != 0)
        return [call(modulePath(c, weight: nil, opName: "avg_pool"), m, vx, shape: g.out)]
    }

    mutating func globalAveragePool(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(1...1)
        let (vx, xs) = try runtime(c, 0)
        guard xs.count >= 3 else { throw c.shapeError("input \(xs) must be [N, C, ...]") }
        let out = Array(xs[..<2]) + [Int](repeating: 1, count: xs.count - 2)
        if xs.count == 4 {
            return [call(modulePath(c, weight: nil, opName: "adaptive_avg_pool"), AdaptiveAvgPool2d(outputSize: 1), vx, shape: out)]
        }
        return [emit(.mean(axes: Array(2..<xs.count), keepDims: true), [vx], shape: out)]
    }

    /// ReduceMean / ReduceMax: axes from the attribute (ReduceMean before opset 18, ReduceMax
    /// before 18) or the optional second input (from 18).
    mutating func reduce(_ c: NodeContext) throws -> [ImportValue] {
        let axesAsInput = opset >= 18
        try c.allow(axesAsInput ? ["keepdims", "noop_with_empty_axes"] : ["axes", "keepdims"])
        try c.expectInputs(1...(axesAsInput ? 2 : 1))
        let (vx, xs) = try runtime(c, 0)
        var axes = axesAsInput ? (c.inputName(1) != nil ? try constant(c, 1, "axes").ints : []) : (try c.ints("axes") ?? [])
        let keep = try c.int("keepdims", 1) != 0
        if axes.isEmpty {
            if try c.int("noop_with_empty_axes", 0) != 0 { return [.runtime(vx, shape: xs)] }
            axes = Array(0..<xs.count)
        }
        axes = try axes.map { try normalizedAxis(c, $0, rank: xs.count) }
        guard Set(axes).count == axes.count else { throw c.attributeError("axes", "\(axes) repeats an axis") }
        var out: [Int] = []
        for (d, n) in xs.enumerated() {
            if axes.contains(d) { if keep { out.append(1) } } else { out.append(n) }
        }
        for d in axes where xs[d] == 0 { throw c.shapeError("cannot reduce the empty dimension \(d) of \(xs)") }
        let op: GraphOp = c.op == "ReduceMean" ? .mean(axes: axes.sorted(), keepDims: keep) : .amax(axes: axes.sorted(), keepDims: keep)
        return [emit(op, [vx], shape: out)]
    }
}
