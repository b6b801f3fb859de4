extension CEmitter {
    /// The C loop nest of a direct or transposed convolution, 2-D or 3-D: one emitter for
    /// `conv2d`, `conv3d` and `convTranspose2d`, which differ only in how a kernel tap finds its
    /// input pixel and how weights are laid out.
    ///
    /// Per-example shapes `[C, spatial...]`; the loops run over output channels `o`, output
    /// positions (`z, y, x`), the channels `c` of `o`'s group and kernel taps (`l, i, j`):
    ///
    /// | kind       | tap's input coordinate, per axis              | skipped when                      | weight index          |
    /// |------------|-----------------------------------------------|-----------------------------------|-----------------------|
    /// | direct     | `iy = y·s + i·d − p`                          | `iy ∉ [0, H)`                     | `[o, c − g·C/G, i, j]` |
    /// | transposed | `iy = ty / s`, `ty = y + p − i·d`             | `ty < 0`, `ty mod s ≠ 0`, `iy ≥ H` | `[c, o mod O/G, i, j]` |
    ///
    /// For a 2-D direct convolution with 3 → 4 channels, one group, kernel 3×3, stride 1,
    /// padding 1, the innermost statement reads
    /// `acc += (int32_t)w1[((o * 3 + c) * 3 + i) * 3 + j] * (int32_t)s0[((g * 3 + c) * H + iy) * W + ix];`.
    struct ConvolutionNest {
        var transposed: Bool
        /// `[O, C/G, k...]` (direct) or `[C, O/G, k...]` (transposed).
        var weightShape: [Int]
        var hasBias: Bool
        var groups: Int
        var stride: [Int], padding: [Int], dilation: [Int]

        /// The geometry of a convolution step; `nil` for the other operations.
        init?(_ op: IntegerOp) {
            switch op {
            case .conv2d(let c):
                self.init(transposed: false, weightShape: c.weightShape, hasBias: c.bias != nil, groups: c.groups,
                          stride: [c.strideH, c.strideW], padding: [c.padH, c.padW], dilation: [c.dilationH, c.dilationW])
            case .conv3d(let c):
                self.init(transposed: false, weightShape: c.weightShape, hasBias: c.bias != nil, groups: c.groups,
                          stride: c.stride, padding: c.padding, dilation: c.dilation)
            case .convTranspose2d(let c):
                self.init(transposed: true, weightShape: c.weightShape, hasBias: c.bias != nil, groups: c.groups,
                          stride: [c.strideH, c.strideW], padding: [c.padH, c.padW], dilation: [c.dilationH, c.dilationW])
            default:
                return nil
            }
        }

        init(transposed: Bool, weightShape: [Int], hasBias: Bool, groups: Int, stride: [Int], padding: [Int], dilation: [Int]) {
            (self.transposed, self.weightShape, self.hasBias, self.groups) = (transposed, weightShape, hasBias, groups)
            (self.stride, self.padding, self.dilation) = (stride, padding, dilation)
        }

        /// The statements of step `slot`: weights `w<slot>`, bias `b<slot>`, reading `input`
        /// (`inputShape`) and writing `out` (`outputShape`) with accumulators of C type `acc`.
        func lines(slot: Int, input: String, inputShape: [Int], out: String, outputShape: [Int], acc: String) -> [String] {
            let n = outputShape.count - 1
            precondition(n >= 1 && n <= 3 && inputShape.count == n + 1 && weightShape.count == n + 2
                         && [stride, padding, dilation].allSatisfy { $0.count == n },
                         "CEmitter.ConvolutionNest: input \(inputShape), output \(outputShape), weight \(weightShape), stride \(stride), padding \(padding), dilation \(dilation) disagree")
            let outVars = Array(["z", "y", "x"].suffix(n)), tapVars = Array(["l", "i", "j"].suffix(n))
            let inSizes = Array(inputShape.dropFirst()), kernel = Array(weightShape.dropFirst(2))
            let cg = inputShape[0] / groups, og = outputShape[0] / groups
            var taps: [[String]] = [], inputTerms: [(Int, String)] = []
            for k in 0..<n {
                let (v, t, h) = (outVars[k], tapVars[k], inSizes[k])
                let (s, p, d) = (stride[k], padding[k], dilation[k])
                if transposed {
                    taps.append(["const int t\(v) = \(v) + \(p) - \(t) * \(d);",
                                 "if (t\(v) < 0 || t\(v) % \(s) != 0 || t\(v) / \(s) >= \(h)) continue;"])
                    inputTerms.append((h, "t\(v) / \(s)"))
                } else {
                    taps.append(["const int i\(v) = \(v) * \(s) + \(t) * \(d) - \(p);",
                                 "if (i\(v) < 0 || i\(v) >= \(h)) continue;"])
                    inputTerms.append((h, "i\(v)"))
                }
            }
            let kernelTerms = Array(zip(kernel, tapVars))
            let weightIndex = transposed ? rowMajor("c * \(og) + ol", kernelTerms) : rowMajor("o * \(cg) + c", kernelTerms)
            let inputIndex = rowMajor(transposed ? "c" : "g * \(cg) + c", inputTerms)
            let outIndex = rowMajor("o", Array(zip(outputShape.dropFirst(), outVars)))

            func indent(_ depth: Int) -> String { String(repeating: "    ", count: depth) }
            var lines = ["int o, \(outVars.joined(separator: ", ")), c, \(tapVars.joined(separator: ", "));",
                         "for (o = 0; o < \(outputShape[0]); ++o) {",
                         indent(1) + (transposed ? "const int g = o / \(og), ol = o % \(og);" : "const int g = o / \(og);")]
            for (k, v) in outVars.enumerated() {
                lines.append(indent(1 + k) + "for (\(v) = 0; \(v) < \(outputShape[1 + k]); ++\(v)) {")
            }
            let pixel = 1 + n
            lines.append(indent(pixel) + "\(acc) acc = \(hasBias ? "b\(slot)[o]" : "0");")
            lines.append(indent(pixel) + (transposed ? "for (c = g * \(cg); c < (g + 1) * \(cg); ++c) {" : "for (c = 0; c < \(cg); ++c) {"))
            for (k, t) in tapVars.enumerated() {
                lines.append(indent(pixel + 1 + k) + "for (\(t) = 0; \(t) < \(kernel[k]); ++\(t)) {")
                lines += taps[k].map { indent(pixel + 2 + k) + $0 }
            }
            lines.append(indent(pixel + 1 + n) + "acc += (\(acc))w\(slot)[\(weightIndex)] * (\(acc))\(input)[\(inputIndex)];")
            for depth in Swift.stride(from: pixel + n, through: pixel, by: -1) { lines.append(indent(depth) + "}") }
            lines.append(indent(pixel) + "\(out)[\(outIndex)] = acc;")
            for depth in Swift.stride(from: n, through: 0, by: -1) { lines.append(indent(depth) + "}") }
            return lines
        }
    }

    /// The row-major flat index of `base` followed by `(size, index)` axes:
    /// `rowMajor("o", [(4, "y"), (5, "x")])` is `(o * 4 + y) * 5 + x`.
    static func rowMajor(_ base: String, _ axes: [(Int, String)]) -> String {
        axes.reduce(base) { e, axis in "\(e.contains(" ") ? "(\(e))" : e) * \(axis.0) + \(axis.1)" }
    }
}
