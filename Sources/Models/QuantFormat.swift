import QuantCore
import QuantNN
import Quantizers

/// The number format of a model's quantizers, as `brevitas train --format` names it:
///
/// | name | weights | activations | network input |
/// |---|---|---|---|
/// | `int` | `Int8WeightPerTensorFloat` at `--weight-bits` | `Uint8ActPerTensorFloat` at `--act-bits` | `Int8ActPerTensorFloat` at `--input-bits` |
/// | `fp8e4m3`, `fp8e5m2` | `Fp8e4m3OCPWeightPerTensorFloat`, ... | `Fp8e4m3OCPActPerTensorFloat`, ... | as the activations |
/// | `fp8e4m3fnuz`, `fp8e5m2fnuz` | the FNUZ presets | | |
/// | `fp6` (e3m2), `fp4` (e2m1), `eXmY` | `FpOCPWeightPerTensorFloat` with `exponent_bit_width` X, `mantissa_bit_width` Y | `FpOCPActPerTensorFloat` likewise | |
/// | `mxint8`, `mxfp8` | `MXInt8Weight`, `MXFloat8e4m3Weight` (groups along input channels) | `MXInt8Act`, `MXFloat8e4m3Act` with `group_dim` 1 (channels / features) | integer, `--input-bits` (an image has too few channels to group) |
///
/// Float and MX formats keep biases in float (Brevitas's FP8 and MX presets have no bias
/// quantizer); `--weight-bits`/`--act-bits` apply to `int` only.
///
/// ```swift
/// try QuantFormat(parsing: "fp8e4m3")    // .minifloat(exponentBits: 4, mantissaBits: 3, fnuz: false)
/// try QuantFormat(parsing: "e9m2").problems(groupSize: nil)   // [("exponent_bit_width", "9 bits exceed ...")]
/// ```
public enum QuantFormat: Equatable, Sendable, CustomStringConvertible, Codable {
    case int
    /// A minifloat with OCP (bias `2^(e-1) - 1`, OCP reserved codes at 8 bits) or FNUZ encoding.
    case minifloat(exponentBits: Int, mantissaBits: Int, fnuz: Bool)
    case mxint8, mxfp8

    /// The names `--format` accepts (`eXmY` stands for any exponent / mantissa widths).
    public static let names = ["int", "fp8e4m3", "fp8e5m2", "fp8e4m3fnuz", "fp8e5m2fnuz", "fp6", "fp4", "mxint8", "mxfp8", "eXmY"]

    /// Parses a format name; `nil` for an unknown one.
    public init?(parsing name: String) {
        switch name.lowercased() {
        case "int": self = .int
        case "fp8e4m3": self = .minifloat(exponentBits: 4, mantissaBits: 3, fnuz: false)
        case "fp8e5m2": self = .minifloat(exponentBits: 5, mantissaBits: 2, fnuz: false)
        case "fp8e4m3fnuz": self = .minifloat(exponentBits: 4, mantissaBits: 3, fnuz: true)
        case "fp8e5m2fnuz": self = .minifloat(exponentBits: 5, mantissaBits: 2, fnuz: true)
        case "fp6": self = .minifloat(exponentBits: 3, mantissaBits: 2, fnuz: false)
        case "fp4": self = .minifloat(exponentBits: 2, mantissaBits: 1, fnuz: false)
        case "mxint8": self = .mxint8
        case "mxfp8": self = .mxfp8
        default:
            // eXmY
            let s = name.lowercased()
            guard s.hasPrefix("e"), let mIndex = s.firstIndex(of: "m"),
                  let e = Int(s[s.index(after: s.startIndex)..<mIndex]), let m = Int(s[s.index(after: mIndex)...]) else { return nil }
            self = .minifloat(exponentBits: e, mantissaBits: m, fnuz: false)
        }
    }

    public var description: String {
        switch self {
        case .int: return "int"
        case .mxint8: return "mxint8"
        case .mxfp8: return "mxfp8"
        case .minifloat(let e, let m, let fnuz):
            switch (e, m, fnuz) {
            case (4, 3, false): return "fp8e4m3"
            case (5, 2, false): return "fp8e5m2"
            case (4, 3, true): return "fp8e4m3fnuz"
            case (5, 2, true): return "fp8e5m2fnuz"
            case (3, 2, false): return "fp6"
            case (2, 1, false): return "fp4"
            default: return fnuz ? "e\(e)m\(m)fnuz" : "e\(e)m\(m)"
            }
        }
    }

    public var isGroupwise: Bool { self == .mxint8 || self == .mxfp8 }

    /// Why the format (with `groupSize`) cannot exist, as `(Brevitas keyword, message)` pairs.
    public func problems(groupSize: Int?) -> [(key: String, message: String)] {
        var out: [(key: String, message: String)] = []
        switch self {
        case .minifloat(let e, let m, let fnuz):
            if fnuz && !((e == 4 && m == 3) || (e == 5 && m == 2)) {
                out.append(("exponent_bit_width", "FNUZ formats are e4m3 and e5m2 only, got e\(e)m\(m)"))
            }
            let bias = e >= 1 ? (fnuz ? 1 << (e - 1) : (1 << (e - 1)) - 1) : 0
            let codes: (inf: [String]?, nan: [String]?) = (e >= 1 && !fnuz) ? MinifloatFormat.ocpCodes(exponentBitWidth: e, mantissaBitWidth: m) : (nil, nil)
            out += MinifloatFormat.problems(exponentBitWidth: e, mantissaBitWidth: m, exponentBias: bias, saturating: true,
                                            infValues: codes.inf, nanValues: codes.nan)
                .filter { e >= 1 || $0.key != "exponent_bias" }
        case .mxint8, .mxfp8:
            if let g = groupSize, g < 1 { out.append(("group_size", "must be positive, got \(g)")) }
        case .int: break
        }
        if groupSize != nil && !isGroupwise {
            out.append(("group_size", "only the group-wise formats (mxint8, mxfp8) have groups; remove --group-size or pick one of them"))
        }
        return out
    }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let f = QuantFormat(parsing: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown format '\(name)' (known: \(Self.names.joined(separator: ", ")))"))
        }
        self = f
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// The weight, activation and input quantizers of the format (`nil` for `.int`, whose
    /// quantizers take the bit widths).
    func quantizers(collectStatsSteps: Int, groupSize: Int?) -> (weight: WeightQuant, act: ActQuant, input: ActQuant?)? {
        switch self {
        case .int: return nil
        case .minifloat(let e, let m, let fnuz):
            let family = fnuz ? "FpFNUZ" : "FpOCP"
            let named = (e == 4 && m == 3) || (e == 5 && m == 2) ? "Fp8e\(e)m\(m)\(fnuz ? "FNUZ" : "OCP")" : family
            var w = WeightQuant.minifloatWeight(named + "WeightPerTensorFloat")!
            var a = ActQuant.minifloatAct(named + "ActPerTensorFloat")!
            if named == family {
                w = w.with(\.bitWidth, 1 + e + m).with(\.exponentBitWidth, e).with(\.mantissaBitWidth, m)
                a = a.with(\.bitWidth, 1 + e + m).with(\.exponentBitWidth, e).with(\.mantissaBitWidth, m)
            }
            a = a.with(\.collectStatsSteps, collectStatsSteps)
            return (w, a, a)
        case .mxint8, .mxfp8:
            let g = groupSize ?? 32
            let w = (self == .mxint8 ? WeightQuant.mxInt8Weight : .mxFloat8e4m3Weight).with(\.groupSize, g)
            let a = (self == .mxint8 ? ActQuant.mxInt8Act : .mxFloat8e4m3Act).with(\.groupSize, g).with(\.groupDim, 1)
            return (w, a, nil)
        }
    }
}
