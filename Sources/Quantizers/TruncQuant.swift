/// The configuration of an accumulator truncation (Brevitas `TruncTo8bit` / `RoundTo8bit`).
public struct TruncQuant: Equatable, Sendable {
    public var preset: String
    public var bitWidth: Int = 8
    public var rounding: TruncRounding

    public static let truncTo8bit = TruncQuant(preset: "TruncTo8bit", rounding: .floor)
    public static let roundTo8bit = TruncQuant(preset: "RoundTo8bit", rounding: .round)

    public func with<V>(_ keyPath: WritableKeyPath<TruncQuant, V>, _ value: V) -> TruncQuant {
        var copy = self
        copy[keyPath: keyPath] = value
        return copy
    }

    public static func preset(named name: String) -> TruncQuant? {
        switch name {
        case "TruncTo8bit": return .truncTo8bit
        case "RoundTo8bit": return .roundTo8bit
        default: return nil
        }
    }
    public static let presetNames = ["TruncTo8bit", "RoundTo8bit"]
}
