/// The configuration of a bias quantizer: the scale is the layer's `s_in · s_w`, so the layer
/// needs a quantized input (Brevitas `IntBias`, `requires_input_scale=True`).
public struct BiasQuant: Equatable, Sendable {
    public var preset: String
    /// `bias_bit_width`.
    public var bitWidth: Int
    public private(set) var overridden: Set<String> = []

    init(preset: String, bitWidth: Int) {
        self.preset = preset
        self.bitWidth = bitWidth
    }

    public func with<V>(_ keyPath: WritableKeyPath<BiasQuant, V>, _ value: V) -> BiasQuant {
        var copy = self
        copy[keyPath: keyPath] = value
        if keyPath == \BiasQuant.bitWidth { copy.overridden.insert("bit_width") }
        return copy
    }

    mutating func markOverridden(_ key: String) { overridden.insert(key) }
    public func origin(of key: String) -> SettingOrigin { overridden.contains(key) ? .override : .preset(preset) }

    public static let int8Bias = BiasQuant(preset: "Int8Bias", bitWidth: 8)
    public static let int16Bias = BiasQuant(preset: "Int16Bias", bitWidth: 16)
    public static let int24Bias = BiasQuant(preset: "Int24Bias", bitWidth: 24)
    public static let int32Bias = BiasQuant(preset: "Int32Bias", bitWidth: 32)

    public static func preset(named name: String) -> BiasQuant? {
        switch name {
        case "Int8Bias": return .int8Bias
        case "Int16Bias": return .int16Bias
        case "Int24Bias": return .int24Bias
        case "Int32Bias": return .int32Bias
        default: return nil
        }
    }
    public static let presetNames = ["Int8Bias", "Int16Bias", "Int24Bias", "Int32Bias"]

    public func validate(context: String) throws(QuantConfigError) {
        if bitWidth < 2 || bitWidth > 32 {
            throw QuantConfigError(context: context, problems: [.init(key: "bit_width", message: "\(bitWidth) is outside 2...32")])
        }
    }
}
