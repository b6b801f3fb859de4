import NN
import QuantNN
import Quantizers
import TensorEngine

/// The architectures `brevitas train` can build.
public enum Architecture: String, CaseIterable, Codable, Sendable {
    case lenet, mlp, resnet8, lstm

    /// The smallest input side (height and width) the architecture accepts.
    public var minimumInputSide: Int {
        switch self {
        case .lenet: return 4
        case .mlp: return 1
        case .resnet8: return 4
        case .lstm: return 1
        }
    }
}

/// Everything needed to rebuild a model: the architecture, the input it was built for and the
/// bit widths. Saved as the `model` section of `config.json`, so `eval`, `inspect` and `export`
/// rebuild exactly the trained network before loading its checkpoint.
public struct ModelSpec: Codable, Equatable {
    public var arch: Architecture
    /// One input example, `[C, H, W]`.
    public var inputShape: [Int]
    public var classes: Int
    public var weightBits: Int
    public var actBits: Int
    /// Bits of the quantizer on the network input (`QuantIdentity` at the front).
    public var inputBits: Int
    /// `collect_stats_steps` of the activation quantizers.
    public var collectStatsSteps: Int
    /// A simulated accumulator width for every quantized convolution and linear layer (`nil`:
    /// exact), and what it does on overflow (see `AccumulatorSimulation`).
    public var accumulatorBits: Int?
    public var overflow: AccumulatorSimulation.Overflow?
    /// The quantizers' number format (`nil`: integers at the bit widths above), and the group
    /// size of the group-wise (MX) formats (`nil`: 32).
    public var format: QuantFormat?
    public var groupSize: Int?

    public init(arch: Architecture, inputShape: [Int], classes: Int, weightBits: Int, actBits: Int, inputBits: Int,
                collectStatsSteps: Int, accumulatorBits: Int? = nil, overflow: AccumulatorSimulation.Overflow? = nil,
                format: QuantFormat? = nil, groupSize: Int? = nil) {
        self.format = format
        self.groupSize = groupSize
        self.arch = arch
        self.inputShape = inputShape
        self.classes = classes
        self.weightBits = weightBits
        self.actBits = actBits
        self.inputBits = inputBits
        self.collectStatsSteps = collectStatsSteps
        self.accumulatorBits = accumulatorBits
        self.overflow = overflow
    }

    /// The largest input a spec may ask for (a hostile `config.json` cannot make a model allocate
    /// without bound): channels, side, and classes.
    public static let maxInputChannels = 64
    public static let maxInputSide = 1024
    public static let maxClasses = 100_000

    /// Checks the bit widths and the input size against the architecture and the limits above;
    /// every problem at once.
    public func problems() -> [String] {
        var out: [String] = []
        for (name, bits) in [("--weight-bits", weightBits), ("--act-bits", actBits), ("--input-bits", inputBits)]
        where !(2...16).contains(bits) {
            out.append("\(name) must be in 2...16, got \(bits)")
        }
        if collectStatsSteps < 1 { out.append("--collect-stats-steps must be >= 1, got \(collectStatsSteps)") }
        if inputShape.count != 3 || inputShape.contains(where: { $0 < 1 }) {
            out.append("the input shape must be [C, H, W], got \(inputShape)")
        } else if min(inputShape[1], inputShape[2]) < arch.minimumInputSide {
            out.append("\(arch.rawValue) needs inputs of at least \(arch.minimumInputSide)x\(arch.minimumInputSide), the data has \(inputShape[1])x\(inputShape[2])")
        }
        if inputShape.count == 3, inputShape.allSatisfy({ $0 >= 1 }) {
            for (name, value, limit) in [("channels", inputShape[0], Self.maxInputChannels), ("height", inputShape[1], Self.maxInputSide),
                                         ("width", inputShape[2], Self.maxInputSide)] where value > limit {
                out.append("the input \(name) \(value) exceeds the limit of \(limit)")
            }
        }
        if classes < 2 { out.append("need at least 2 classes, got \(classes)") }
        if classes > Self.maxClasses { out.append("\(classes) classes exceeds the limit of \(Self.maxClasses)") }
        if let b = accumulatorBits, !(2...62).contains(b) { out.append("the accumulator width must be in 2...62, got \(b)") }
        let formatName = (format ?? .int).description
        for p in (format ?? .int).problems(groupSize: groupSize) {
            out.append("\(p.key == "group_size" ? "--group-size" : "--format \(formatName)"): \(p.key): \(p.message)")
        }
        if out.isEmpty, format?.isGroupwise == true { out += groupShapeProblems() }
        return out
    }

    /// The quantizers of the model; `nil` everywhere for the float twin.
    public struct Quantizers {
        public var input: ActQuant?
        public var act: ActQuant?
        public var weight: WeightQuant?
        /// Biases in the accumulator's scale (Brevitas `Int32Bias`), so the trained model has an
        /// exact integer program (`brevitas verify`, `brevitas deploy`).
        public var bias: BiasQuant?

        public init(input: ActQuant?, act: ActQuant?, weight: WeightQuant?, bias: BiasQuant? = nil) {
            (self.input, self.act, self.weight, self.bias) = (input, act, weight, bias)
        }

        public init(_ spec: ModelSpec, quantized: Bool) {
            guard quantized else { return }
            if let f = spec.format?.quantizers(collectStatsSteps: spec.collectStatsSteps, groupSize: spec.groupSize) {
                weight = f.weight
                act = f.act
                input = f.input ?? ActQuant.int8ActPerTensorFloat.with(\.bitWidth, spec.inputBits)
                    .with(\.collectStatsSteps, spec.collectStatsSteps)
                return
            }
            input = ActQuant.int8ActPerTensorFloat.with(\.bitWidth, spec.inputBits)
                .with(\.collectStatsSteps, spec.collectStatsSteps)
            act = ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, spec.actBits)
                .with(\.collectStatsSteps, spec.collectStatsSteps)
            weight = WeightQuant.int8WeightPerTensorFloat.with(\.bitWidth, spec.weightBits)
            bias = .int32Bias
        }

        /// A signed activation quantizer at the activation bit width (residual additions).
        public var signedAct: ActQuant? {
            // Minifloat and MX activations are signed already.
            if let a = act, a.quantType != .int || a.scalingPerGroup { return a }
            return act.map { a in
                ActQuant.int8ActPerTensorFloat.with(\.bitWidth, a.bitWidth).with(\.collectStatsSteps, a.collectStatsSteps)
            }
        }
    }

    /// Builds the model: quantized, or its float twin (the same layers and state-dict keys for
    /// weights, biases and BatchNorm statistics, with every quantizer disabled). Weights are drawn
    /// from `generator`.
    public func makeModel(quantized: Bool = true, generator: RandomGenerator) throws -> QuantSequential {
        let q = Quantizers(self, quantized: quantized)
        let model: QuantSequential
        switch arch {
        case .lenet: model = try QuantLeNet.make(self, q, generator: generator)
        case .mlp: model = try QuantMLP.make(self, q, generator: generator)
        case .resnet8: model = try QuantResNet8.make(self, q, generator: generator)
        case .lstm: model = try QuantRowLSTM.make(self, q, generator: generator)
        }
        if let bits = accumulatorBits, quantized {
            for case (_, let l as QuantWeightBiasLayer) in model.namedModules() {
                l.accumulatorSimulation = AccumulatorSimulation(bits: bits, overflow: overflow ?? .wrap)
            }
        }
        return model
    }

    /// Weights and biases by bit width: `(elements, bits)` for each weight and bias tensor.
    public func parameterBits(of model: Module) -> [(count: Int, bits: Int)] {
        model.namedParameters().compactMap { key, tensor in
            if key.hasSuffix(".weight"), let layer = model.module(at: String(key.dropLast(7))) as? QuantWeightBiasLayer,
               let w = layer.weightQuant.config {
                return (tensor.count, w.bitWidth)
            }
            if key.hasSuffix(".weight"), let gate = model.module(at: String(key.dropLast(7))) as? GateWeight, let w = gate.weightQuant.config {
                return (tensor.count, w.bitWidth)
            }
            if key.hasSuffix(".value") { return nil }  // learned quantizer ranges: a handful of scalars
            return (tensor.count, 32)
        }
    }
}

extension ModelSpec {
    /// `lenet (w4 a4 in8, input 1x8x8, 10 classes)`.
    public var summary: String {
        "the \(arch.rawValue) model (\(quantLabel), input \(inputShape.map(String.init).joined(separator: "x")), \(classes) classes)"
    }
}

extension ModelSpec {
    /// The quantization in a few characters: `w4 a4 in8`, `fp8e4m3`, `mxint8 g32 in8`.
    public var quantLabel: String {
        switch format ?? .int {
        case .int: return "w\(weightBits) a\(actBits) in\(inputBits)"
        case .mxint8, .mxfp8: return "\(format!) g\(groupSize ?? 32) in\(inputBits)"
        case .minifloat: return format!.description
        }
    }
}

extension AccumulatorSimulation.Overflow: Codable {}
