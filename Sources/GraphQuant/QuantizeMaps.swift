import Quantizers

/// How to build one quantized layer: a Brevitas class name and its keyword arguments, as in
/// Brevitas's maps (`(qnn.QuantConv2d, {'weight_quant': Int8WeightPerTensorFloat, ...})`).
/// The layer is built by `LayerFactory`, so every preset by name and every quantizer keyword
/// (`weight_bit_width`, `bit_width`, `scaling_per_output_channel`, ...) works, and an unknown
/// keyword is an error naming it.
public struct LayerRecipe: Equatable, Sendable {
    public var className: String
    public var kwargs: [String: ConfigValue]

    public init(_ className: String, _ kwargs: [String: ConfigValue] = [:]) {
        self.className = className
        self.kwargs = kwargs
    }

    /// The recipe with `kwargs[key] = value`.
    public func with(_ key: String, _ value: ConfigValue) -> LayerRecipe {
        var r = self
        r.kwargs[key] = value
        return r
    }
}

/// Brevitas's three maps for `quantize` (`brevitas/graph/quantize.py`): float class name
/// (`torch.nn.Conv2d`) -> quantized layer, `nil` to leave that class float.
///
/// | map | default |
/// |---|---|
/// | `computeLayerMap` | Conv1d/Conv2d -> QuantConv1d/2d, Linear -> QuantLinear, each `Int8WeightPerTensorFloat`, `Int32Bias`, returning QuantTensors; AvgPool2d -> `nil` (float, but its output is requantized) |
/// | `quantActMap` | ReLU -> `QuantReLU(Uint8ActPerTensorFloat)`, ReLU6 -> `QuantReLU(Uint8ActPerTensorFloatMaxInit, max_val=6)`, Sigmoid -> `QuantSigmoid(Uint8ActPerTensorFloat)` |
/// | `identityMap` | signed: `QuantIdentity(Int8ActPerTensorFloat)`, unsigned: `QuantIdentity(Uint8ActPerTensorFloat)` |
///
/// ```swift
/// var maps = QuantizeMaps.default
/// maps.setWeightBitWidth(4)                                 // every compute layer
/// maps.computeLayerMap["torch.nn.Conv2d"] = LayerRecipe("QuantConv2d",
///     ["weight_quant": .quantizer("Int8WeightPerChannelFloat"), "bias_quant": .quantizer("Int32Bias"),
///      "return_quant_tensor": .bool(true)])
/// ```
public struct QuantizeMaps: Equatable, Sendable {
    public var computeLayerMap: [String: LayerRecipe?]
    public var quantActMap: [String: LayerRecipe?]
    /// The requantization layers: `signed` and `unsigned`.
    public var signedIdentity: LayerRecipe
    public var unsignedIdentity: LayerRecipe
    /// Float activations whose output is unsigned (`UNSIGNED_ACT_TUPLE`).
    public var unsignedActClasses: Set<String> = ["torch.nn.ReLU", "torch.nn.ReLU6", "torch.nn.Sigmoid"]
    /// Per-layer keyword overrides, by the float graph's node name (`["fc": ["weight_bit_width": .number(8)]]`):
    /// merged over the map entry that quantizes that node (a compute layer or an activation).
    /// A name that no map entry quantizes is ``GraphQuantError/unknownLayer(_:known:)``.
    public var layerOverrides: [String: [String: ConfigValue]] = [:]

    public init(computeLayerMap: [String: LayerRecipe?], quantActMap: [String: LayerRecipe?],
                signedIdentity: LayerRecipe, unsignedIdentity: LayerRecipe) {
        self.computeLayerMap = computeLayerMap
        self.quantActMap = quantActMap
        self.signedIdentity = signedIdentity
        self.unsignedIdentity = unsignedIdentity
    }

    static let rqt: (String, ConfigValue) = ("return_quant_tensor", .bool(true))

    /// `COMPUTE_LAYER_MAP` (the layers this port has).
    public static let defaultComputeLayerMap: [String: LayerRecipe?] = {
        let w: [String: ConfigValue] = ["weight_quant": .quantizer("Int8WeightPerTensorFloat"), "bias_quant": .quantizer("Int32Bias"),
                                        "return_quant_tensor": .bool(true)]
        return ["torch.nn.AvgPool2d": nil, "torch.nn.Conv1d": LayerRecipe("QuantConv1d", w),
                "torch.nn.Conv2d": LayerRecipe("QuantConv2d", w), "torch.nn.Linear": LayerRecipe("QuantLinear", w)]
    }()

    /// `QUANT_ACT_MAP` (the activations this port has).
    public static let defaultQuantActMap: [String: LayerRecipe?] = [
        "torch.nn.ReLU": LayerRecipe("QuantReLU", ["act_quant": .quantizer("Uint8ActPerTensorFloat"), "return_quant_tensor": .bool(true)]),
        "torch.nn.ReLU6": LayerRecipe("QuantReLU", ["act_quant": .quantizer("Uint8ActPerTensorFloatMaxInit"), "max_val": .number(6),
                                                    "return_quant_tensor": .bool(true)]),
        "torch.nn.Sigmoid": LayerRecipe("QuantSigmoid", ["act_quant": .quantizer("Uint8ActPerTensorFloat"), "return_quant_tensor": .bool(true)]),
    ]

    /// `QUANT_IDENTITY_MAP['signed']` and `['unsigned']`.
    public static let defaultSignedIdentity = LayerRecipe("QuantIdentity", ["act_quant": .quantizer("Int8ActPerTensorFloat"), "return_quant_tensor": .bool(true)])
    public static let defaultUnsignedIdentity = LayerRecipe("QuantIdentity", ["act_quant": .quantizer("Uint8ActPerTensorFloat"), "return_quant_tensor": .bool(true)])

    /// Brevitas's default maps.
    public static let `default` = QuantizeMaps(computeLayerMap: defaultComputeLayerMap, quantActMap: defaultQuantActMap,
                                               signedIdentity: defaultSignedIdentity, unsignedIdentity: defaultUnsignedIdentity)

    /// `LAYERWISE_COMPUTE_LAYER_MAP`: each layer quantizes its own input, returns a plain tensor.
    public static let defaultLayerwiseMap: [String: LayerRecipe?] = {
        let w: [String: ConfigValue] = ["input_quant": .quantizer("Int8ActPerTensorFloat"), "weight_quant": .quantizer("Int8WeightPerTensorFloat"),
                                        "bias_quant": .quantizer("Int32Bias"), "return_quant_tensor": .bool(false)]
        return ["torch.nn.Conv1d": LayerRecipe("QuantConv1d", w), "torch.nn.Conv2d": LayerRecipe("QuantConv2d", w),
                "torch.nn.Linear": LayerRecipe("QuantLinear", w)]
    }()

    /// The recipe for node `node`: `base` with the node's ``layerOverrides`` merged in.
    public func recipe(_ base: LayerRecipe, forNode node: String) -> LayerRecipe {
        guard let extra = layerOverrides[node] else { return base }
        var r = base
        for (k, v) in extra { r.kwargs[k] = v }
        return r
    }

    /// Sets `weight_bit_width` on every compute layer.
    public mutating func setWeightBitWidth(_ bits: Int) {
        for (k, r) in computeLayerMap { if let r { computeLayerMap[k] = r.with("weight_bit_width", .number(Double(bits))) } }
    }

    /// Sets `bias_bit_width` on every compute layer.
    public mutating func setBiasBitWidth(_ bits: Int) {
        for (k, r) in computeLayerMap { if let r { computeLayerMap[k] = r.with("bias_bit_width", .number(Double(bits))) } }
    }

    /// Sets `bit_width` on every activation and requantization layer (the ReLU6 quantizer with
    /// its learned range included).
    public mutating func setActivationBitWidth(_ bits: Int) {
        for (k, r) in quantActMap { if let r { quantActMap[k] = r.with("bit_width", .number(Double(bits))) } }
        signedIdentity = signedIdentity.with("bit_width", .number(Double(bits)))
        unsignedIdentity = unsignedIdentity.with("bit_width", .number(Double(bits)))
    }

    /// Per-output-channel weight scales on every compute layer (`Int8WeightPerChannelFloat`).
    public mutating func setPerChannelWeights() {
        for (k, r) in computeLayerMap { if let r { computeLayerMap[k] = r.with("weight_quant", .quantizer("Int8WeightPerChannelFloat")) } }
    }
}
