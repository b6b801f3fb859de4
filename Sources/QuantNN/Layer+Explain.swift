import NN
import Quantizers

extension Module {
    /// Every enabled quantizer in the tree with its resolved settings and their origins:
    ///
    /// ```
    /// act_quant: Uint8ActPerTensorFloat
    ///   bit_width = 4            (override)
    ///   collect_stats_steps = 300 (preset Uint8ActPerTensorFloat)
    /// ```
    public func explainQuantizers() -> String {
        var out: [String] = []
        for (path, m) in namedModules() {
            let body: (String, String)?
            if let p = m as? ActQuantProxy, let c = p.config { body = (c.preset, c.explain()) }
            else if let p = m as? WeightQuantProxy, let c = p.config { body = (c.preset, c.explain()) }
            else if let p = m as? BiasQuantProxy, let c = p.config { body = (c.preset, c.explain()) }
            else if let p = m as? TruncQuantProxy, let c = p.config { body = (c.preset, "bit_width = \(c.bitWidth)\nrounding = \(c.rounding.rawValue)") }
            else { body = nil }
            if let (preset, text) = body {
                out.append("\(path.isEmpty ? "(root)" : path): \(preset)")
                out.append(text.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            }
        }
        return out.joined(separator: "\n")
    }
}
