/// One operation of an ``IntegerProgram``: integers in, integers out. Shapes are per example
/// (the batch dimension is free).
public enum IntegerOp: Equatable, Sendable {
    /// `acc[o, y, x] = bias[o] + Σ_{c,i,j} w[o, c, i, j] · in[g(o)·C/G + c, y·s + i·d − p, x·s + j·d − p]`
    /// (zero outside the input); weights `[O, C/G, kh, kw]`.
    case conv2d(Conv2d)
    /// `acc[o, z, y, x] = bias[o] + Σ_{c,l,i,j} w[o, c, l, i, j] · in[g(o)·C/G + c, z·s + l·d − p, y·s + i·d − p, x·s + j·d − p]`
    /// (zero outside the input); weights `[O, C/G, kd, kh, kw]`, per-example shapes `[C, D, H, W]`.
    case conv3d(Conv3d)
    /// `acc[o, y, x] = bias[o] + Σ w[c, o mod O/G, i, j] · in[c, iy, ix]` over the input pixels
    /// that land on `(y, x)`: `y + p − i·d = iy·s` (and likewise for `x`), `c` in `o`'s group;
    /// weights `[C, O/G, kh, kw]` (PyTorch's `conv_transpose2d`).
    case convTranspose2d(ConvTranspose2d)
    /// `acc[o] = bias[o] + Σ_i w[o, i] · in[i]`; weights `[O, I]`.
    case linear(Linear)
    /// Per-channel requantization onto the next quantizer's grid (see ``Requantization``).
    case requantize(Requantization)
    /// Max over each window (padding never wins).
    case maxPool2d(Pool2d)
    /// Brevitas's truncated average pooling: the window sum `S` (an integer on the grid
    /// `s / k`), then `q = clamp(r(S / 2^shift), min, max)` with `r` half-to-even rounding
    /// (`RoundTo8bit`) or floor (`TruncTo8bit`); a negative shift multiplies. `shift` is the
    /// window sum's bit width minus the output's, as Brevitas `TruncMsbScaling`.
    case truncAvgPool2d(Pool2d, shift: Int, floor: Bool, min: Int64, max: Int64)
    /// Window sums: a plain average pool of codes, exact on the grid `s / k`.
    case sumPool2d(Pool2d)
    /// Elementwise sum of two tensors on the same grid (the inputs were aligned by requantizing
    /// both to one scale).
    case add
    /// Concatenation along the channel dimension (inputs on one grid).
    case concat
    /// `max(x, zeroPoint)`: a ReLU on codes with no quantizer after it.
    case clampMin(Int64)
    /// A new shape of the same elements (flatten).
    case reshape

    /// A 2-D convolution with integer weights and a bias in the accumulator's scale.
    public struct Conv2d: Equatable, Sendable {
        public var weight: [Int64]
        public var weightShape: [Int]
        public var bias: [Int64]?
        public var strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int
        public var groups: Int
        /// A proven bound on `|acc|`: `max_o (|bias[o]| + Σ |w[o,·]| · max|in|)`.
        public var accumulatorBound: Int64

        public init(weight: [Int64], weightShape: [Int], bias: [Int64]?, stride: (Int, Int), padding: (Int, Int),
                    dilation: (Int, Int), groups: Int, accumulatorBound: Int64) {
            self.weight = weight
            self.weightShape = weightShape
            self.bias = bias
            (strideH, strideW) = stride
            (padH, padW) = padding
            (dilationH, dilationW) = dilation
            self.groups = groups
            self.accumulatorBound = accumulatorBound
        }

        /// Output side for an input side, PyTorch's formula.
        public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
            ((h + 2 * padH - dilationH * (weightShape[2] - 1) - 1) / strideH + 1,
             (w + 2 * padW - dilationW * (weightShape[3] - 1) - 1) / strideW + 1)
        }
    }

    /// A 3-D convolution with integer weights and a bias in the accumulator's scale; `stride`,
    /// `padding` and `dilation` per spatial dimension (depth, height, width).
    public struct Conv3d: Equatable, Sendable {
        public var weight: [Int64]
        /// `[O, C/G, kd, kh, kw]`.
        public var weightShape: [Int]
        public var bias: [Int64]?
        public var stride: [Int], padding: [Int], dilation: [Int]
        public var groups: Int
        /// A proven bound on `|acc|`: `max_o (|bias[o]| + Σ |w[o,·]| · max|in|)`.
        public var accumulatorBound: Int64

        public init(weight: [Int64], weightShape: [Int], bias: [Int64]?, stride: [Int], padding: [Int], dilation: [Int], groups: Int,
                    accumulatorBound: Int64) {
            precondition(weightShape.count == 5 && [stride, padding, dilation].allSatisfy { $0.count == 3 },
                         "IntegerOp.Conv3d: weight shape \(weightShape) and stride \(stride), padding \(padding), dilation \(dilation) must be 3-D")
            self.weight = weight
            self.weightShape = weightShape
            self.bias = bias
            (self.stride, self.padding, self.dilation) = (stride, padding, dilation)
            self.groups = groups
            self.accumulatorBound = accumulatorBound
        }

        /// Output sizes `[D', H', W']` for input sizes `[D, H, W]`, PyTorch's formula.
        public func outputSize(_ input: [Int]) -> [Int] {
            (0..<3).map { (input[$0] + 2 * padding[$0] - dilation[$0] * (weightShape[2 + $0] - 1) - 1) / stride[$0] + 1 }
        }
    }

    /// A 2-D transposed convolution with integer weights and a bias in the accumulator's scale.
    public struct ConvTranspose2d: Equatable, Sendable {
        public var weight: [Int64]
        /// `[C, O/G, kh, kw]`.
        public var weightShape: [Int]
        public var bias: [Int64]?
        public var strideH: Int, strideW: Int, padH: Int, padW: Int, outputPaddingH: Int, outputPaddingW: Int
        public var dilationH: Int, dilationW: Int
        public var groups: Int
        /// A proven bound on `|acc|`: `max_o (|bias[o]| + Σ_{c,i,j} |w[c, o, i, j]| · max|in|)`.
        public var accumulatorBound: Int64

        public init(weight: [Int64], weightShape: [Int], bias: [Int64]?, stride: (Int, Int), padding: (Int, Int),
                    outputPadding: (Int, Int), dilation: (Int, Int), groups: Int, accumulatorBound: Int64) {
            self.weight = weight
            self.weightShape = weightShape
            self.bias = bias
            (strideH, strideW) = stride
            (padH, padW) = padding
            (outputPaddingH, outputPaddingW) = outputPadding
            (dilationH, dilationW) = dilation
            self.groups = groups
            self.accumulatorBound = accumulatorBound
        }

        /// Output channels `O`.
        public var outChannels: Int { weightShape[1] * groups }

        /// Output side for an input side, PyTorch's formula `(h − 1)·s − 2p + d·(k − 1) + op + 1`.
        public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
            ((h - 1) * strideH - 2 * padH + dilationH * (weightShape[2] - 1) + outputPaddingH + 1,
             (w - 1) * strideW - 2 * padW + dilationW * (weightShape[3] - 1) + outputPaddingW + 1)
        }
    }

    /// A fully connected layer with integer weights and a bias in the accumulator's scale.
    public struct Linear: Equatable, Sendable {
        public var weight: [Int64]
        public var inFeatures: Int, outFeatures: Int
        public var bias: [Int64]?
        public var accumulatorBound: Int64

        public init(weight: [Int64], inFeatures: Int, outFeatures: Int, bias: [Int64]?, accumulatorBound: Int64) {
            self.weight = weight
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
            self.bias = bias
            self.accumulatorBound = accumulatorBound
        }
    }

    /// Pooling windows (no dilation), NCHW.
    public struct Pool2d: Equatable, Sendable {
        public var kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int

        public init(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0)) {
            (kernelH, kernelW) = kernel
            (strideH, strideW) = stride
            (padH, padW) = padding
        }

        public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
            ((h + 2 * padH - kernelH) / strideH + 1, (w + 2 * padW - kernelW) / strideW + 1)
        }
    }

    /// A short name for reports: `conv2d`, `requantize`, ...
    public var kind: String {
        switch self {
        case .conv2d: return "conv2d"
        case .convTranspose2d: return "convtranspose2d"
        case .conv3d: return "conv3d"
        case .linear: return "linear"
        case .requantize: return "requantize"
        case .maxPool2d: return "maxpool2d"
        case .truncAvgPool2d: return "truncavgpool2d"
        case .sumPool2d: return "sumpool2d"
        case .add: return "add"
        case .concat: return "concat"
        case .clampMin: return "relu"
        case .reshape: return "reshape"
        }
    }
}
