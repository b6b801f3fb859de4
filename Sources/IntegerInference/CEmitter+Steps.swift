extension CEmitter {
    /// The loop nest of one step, reading its input slots and writing `out`.
    static func body(_ p: IntegerProgram, _ step: IntegerProgram.Step, slot s: Int, out: String) -> [String] {
        let x = step.inputs.map { "s\($0)" }
        let inShape = p.shape(of: step.inputs[0])
        let n = step.shape.reduce(1, *)
        let outType = type(of: step.value)
        switch step.op {
        case .conv2d, .conv3d, .convTranspose2d:
            return ConvolutionNest(step.op)!.lines(slot: s, input: x[0], inputShape: inShape, out: out, outputShape: step.shape, acc: outType)
        case .linear(let op):
            let acc = outType
            return [
                "int o, i;",
                "for (o = 0; o < \(op.outFeatures); ++o) {",
                "    \(acc) acc = \(op.bias == nil ? "0" : "b\(s)[o]");",
                "    for (i = 0; i < \(op.inFeatures); ++i) acc += (\(acc))w\(s)[o * \(op.inFeatures) + i] * (\(acc))\(x[0])[i];",
                "    \(out)[o] = acc;",
                "}",
            ]
        case .requantize(let r):
            let inner = step.shape.dropFirst().reduce(1, *)
            let ch = r.isPerTensor ? "0" : "k / \(inner)"
            return [
                "int k;",
                "for (k = 0; k < \(n); ++k) {",
                "    const int c = \(ch);",
                "    const int64_t t = ((int64_t)\(x[0])[k] - (\(r.inputZeroPoint))) * m\(s)[c] + o\(s)[c];",
                "    \(out)[k] = (\(outType))clamp64(rshift_round_even(t, sh\(s)[c]) + (\(r.output.zeroPoint)), \(literal(r.output.min)), \(literal(r.output.max)));",
                "}",
            ]
        case .maxPool2d(let pw), .sumPool2d(let pw), .truncAvgPool2d(let pw, _, _, _, _):
            let (c, h, w) = (inShape[0], inShape[1], inShape[2])
            let (oh, ow) = (step.shape[1], step.shape[2])
            var finish: String
            switch step.op {
            case .maxPool2d: finish = "best"
            case .sumPool2d: finish = "sum"
            case .truncAvgPool2d(_, let shift, let floor, let lo, let hi):
                let shifted = shift <= 0 ? "sum * \(Int64(1) << Int64(-shift))" : (floor ? "rshift_floor(sum, \(shift))" : "rshift_round_even(sum, \(shift))")
                finish = "clamp64(\(shifted), \(literal(lo)), \(literal(hi)))"
            default: preconditionFailure("CEmitter: pool")
            }
            return [
                "int c, y, x, i, j;",
                "for (c = 0; c < \(c); ++c) {",
                "    for (y = 0; y < \(oh); ++y) {",
                "        for (x = 0; x < \(ow); ++x) {",
                "            int64_t best = INT64_MIN, sum = 0;",
                "            for (i = 0; i < \(pw.kernelH); ++i) {",
                "                const int iy = y * \(pw.strideH) + i - \(pw.padH);",
                "                if (iy < 0 || iy >= \(h)) continue;",
                "                for (j = 0; j < \(pw.kernelW); ++j) {",
                "                    const int ix = x * \(pw.strideW) + j - \(pw.padW);",
                "                    int64_t v;",
                "                    if (ix < 0 || ix >= \(w)) continue;",
                "                    v = \(x[0])[(c * \(h) + iy) * \(w) + ix];",
                "                    if (v > best) best = v;",
                "                    sum += v;",
                "                }",
                "            }",
                "            (void)best;",
                "            (void)sum;",
                "            \(out)[(c * \(oh) + y) * \(ow) + x] = (\(outType))(\(finish));",
                "        }",
                "    }",
                "}",
            ]
        case .add:
            return ["int k;", "for (k = 0; k < \(n); ++k) \(out)[k] = (\(outType))((int64_t)\(x[0])[k] + (int64_t)\(x[1])[k]);"]
        case .concat:
            var lines = ["int k, at = 0;"]
            for (j, input) in step.inputs.enumerated() {
                let m = p.shape(of: input).reduce(1, *)
                lines.append("for (k = 0; k < \(m); ++k) \(out)[at + k] = (\(outType))\(x[j])[k];")
                lines.append("at += \(m);")
            }
            lines.append("(void)at;")
            return lines
        case .clampMin(let z):
            return ["int k;", "for (k = 0; k < \(n); ++k) \(out)[k] = \(x[0])[k] < \(literal(z)) ? (\(outType))\(literal(z)) : \(x[0])[k];"]
        case .reshape:
            return ["int k;", "for (k = 0; k < \(n); ++k) \(out)[k] = \(x[0])[k];"]
        }
    }
}
