import Foundation
import Quantizers

extension QuantizeMaps {
    /// Maps from a parsed JSON object with Brevitas's names (a config file, a conformance stage):
    ///
    /// ```json
    /// {"compute_layer_map": {"torch.nn.AvgPool2d": null,
    ///                        "torch.nn.Conv2d": {"class": "QuantConv2d", "kwargs": {"weight_bit_width": 4, ...}}},
    ///  "quant_act_map": {...}, "quant_identity_map": {"signed": {...}, "unsigned": {...}}}
    /// ```
    ///
    /// A map given replaces Brevitas's default of that kind entirely; a map not given is the
    /// default. Quantizers are `{"quantizer": "Int8WeightPerChannelFloat"}`.
    public init(json: [String: Any]) throws {
        self = .default
        if let m = json["compute_layer_map"] { computeLayerMap = try Self.map(m, "compute_layer_map") }
        if let m = json["quant_act_map"] { quantActMap = try Self.map(m, "quant_act_map") }
        if let m = json["quant_identity_map"] {
            let parsed = try Self.map(m, "quant_identity_map")
            guard let s = parsed["signed"] ?? nil, let u = parsed["unsigned"] ?? nil, parsed.count == 2 else {
                throw GraphQuantError.layerConfig(node: "quant_identity_map", message: "needs exactly the entries 'signed' and 'unsigned', both layers")
            }
            signedIdentity = s
            unsignedIdentity = u
        }
    }

    static func map(_ v: Any, _ name: String) throws -> [String: LayerRecipe?] {
        guard let d = v as? [String: Any] else { throw GraphQuantError.layerConfig(node: name, message: "must be an object") }
        var out: [String: LayerRecipe?] = [:]
        for (cls, entry) in d {
            if entry is NSNull {
                out[cls] = .some(nil)
                continue
            }
            guard let e = entry as? [String: Any], let className = e["class"] as? String else {
                throw GraphQuantError.layerConfig(node: "\(name).\(cls)", message: "an entry is null or {\"class\": ..., \"kwargs\": {...}}")
            }
            var kwargs: [String: ConfigValue] = [:]
            for (k, x) in (e["kwargs"] as? [String: Any]) ?? [:] { kwargs[k] = try configValue(x, "\(name).\(cls).\(k)") }
            out[cls] = LayerRecipe(className, kwargs)
        }
        return out
    }

    /// A JSON value as a keyword value.
    public static func configValue(_ x: Any, _ path: String) throws -> ConfigValue {
        switch x {
        case is NSNull: return .null
        case let n as NSNumber:
            return String(cString: n.objCType) == "c" ? .bool(n.boolValue) : .number(n.doubleValue)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(try a.map { try configValue($0, path) })
        case let d as [String: Any]:
            guard d.count == 1, let q = d["quantizer"] as? String else {
                throw GraphQuantError.layerConfig(node: path, message: "an object value must be {\"quantizer\": NAME}")
            }
            return .quantizer(q)
        default: throw GraphQuantError.layerConfig(node: path, message: "unsupported value \(x)")
        }
    }
}
