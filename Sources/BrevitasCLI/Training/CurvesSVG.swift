import Foundation

/// `curves.svg`: training curves drawn by hand as SVG, two panels side by side — loss (train and
/// test) and accuracy (train and test) per epoch, float pre-training epochs first, then QAT,
/// separated by a dashed line.
enum CurvesSVG {
    struct Series {
        let name: String
        let color: String
        let dashed: Bool
        let values: [Double]
    }

    static func render(_ epochs: [EpochResult], title: String) -> String {
        let panelWidth = 420.0, panelHeight = 300.0, margin = (left: 58.0, right: 16.0, top: 44.0, bottom: 46.0)
        let width = 2 * panelWidth, height = panelHeight
        let floatCount = epochs.filter { $0.phase == "float" }.count
        let lossPanel = panel(
            x0: 0, title: "Loss",
            series: [Series(name: "train", color: "#1f77b4", dashed: false, values: epochs.map(\.loss)),
                     Series(name: "test", color: "#d62728", dashed: true, values: epochs.map(\.testLoss))],
            yRange: nil, percent: false, floatCount: floatCount, size: (panelWidth, panelHeight), margin: margin)
        let accuracyPanel = panel(
            x0: panelWidth, title: "Accuracy",
            series: [Series(name: "train", color: "#1f77b4", dashed: false, values: epochs.map(\.trainAccuracy)),
                     Series(name: "test", color: "#d62728", dashed: true, values: epochs.map(\.testAccuracy))],
            yRange: nil, percent: true, floatCount: floatCount, size: (panelWidth, panelHeight), margin: margin)
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(fmt(width / 2))" y="18" text-anchor="middle" font-size="14" font-weight="bold">\(escape(title))</text>
            \(lossPanel)
            \(accuracyPanel)
            </svg>

            """
    }

    static func panel(x0: Double, title: String, series: [Series], yRange: (Double, Double)?, percent: Bool, floatCount: Int,
                      size: (Double, Double), margin: (left: Double, right: Double, top: Double, bottom: Double)) -> String {
        let left = x0 + margin.left, right = x0 + size.0 - margin.right
        let top = margin.top, bottom = size.1 - margin.bottom
        let n = series.map(\.values.count).max() ?? 0
        let finite = series.flatMap(\.values).filter(\.isFinite)
        var (lo, hi) = yRange ?? (finite.min() ?? 0, finite.max() ?? 1)
        if percent { hi = min(1, hi + 0.02); lo = max(0, lo - 0.02) }
        else { lo = min(0, lo); hi = hi * 1.05 }
        if hi - lo < 1e-9 { hi = lo + 1 }
        let ticks = niceTicks(lo, hi, count: 5)
        lo = min(lo, ticks.first ?? lo)
        hi = max(hi, ticks.last ?? hi)
        func x(_ i: Int) -> Double { n <= 1 ? (left + right) / 2 : left + (right - left) * Double(i) / Double(n - 1) }
        func y(_ v: Double) -> Double { bottom - (bottom - top) * (v - lo) / (hi - lo) }
        var out: [String] = []
        out.append("<g>")
        out.append("<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(top - 10))\" text-anchor=\"middle\" font-weight=\"bold\">\(title)</text>")
        for t in ticks {
            let label = percent ? String(format: "%.0f%%", t * 100) : String(format: t < 10 ? "%.2f" : "%.0f", t)
            out.append("<line x1=\"\(fmt(left))\" y1=\"\(fmt(y(t)))\" x2=\"\(fmt(right))\" y2=\"\(fmt(y(t)))\" stroke=\"#e5e5e5\"/>")
            out.append("<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y(t) + 4))\" text-anchor=\"end\" fill=\"#444\">\(label)</text>")
        }
        let step = max(1, Int((Double(n) / 10).rounded(.up)))
        for i in stride(from: 0, to: n, by: step) {
            out.append("<line x1=\"\(fmt(x(i)))\" y1=\"\(fmt(bottom))\" x2=\"\(fmt(x(i)))\" y2=\"\(fmt(bottom + 4))\" stroke=\"#444\"/>")
            out.append("<text x=\"\(fmt(x(i)))\" y=\"\(fmt(bottom + 17))\" text-anchor=\"middle\" fill=\"#444\">\(i + 1)</text>")
        }
        out.append("<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(bottom + 36))\" text-anchor=\"middle\" fill=\"#444\">epoch</text>")
        out.append("<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(right - left))\" height=\"\(fmt(bottom - top))\" fill=\"none\" stroke=\"#444\"/>")
        if floatCount > 0 && floatCount < n {
            let xb = (x(floatCount - 1) + x(floatCount)) / 2
            // Labels where the curves are not: losses fall, accuracies rise.
            let ly = percent ? bottom - 6 : top + 14
            out.append("<line x1=\"\(fmt(xb))\" y1=\"\(fmt(top))\" x2=\"\(fmt(xb))\" y2=\"\(fmt(bottom))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>")
            out.append("<text x=\"\(fmt(xb - 4))\" y=\"\(fmt(ly))\" text-anchor=\"end\" fill=\"#666\">float</text>")
            out.append("<text x=\"\(fmt(xb + 4))\" y=\"\(fmt(ly))\" fill=\"#666\">QAT</text>")
        }
        for (k, s) in series.enumerated() {
            let points = s.values.enumerated().filter { $0.element.isFinite }.map { "\(fmt(x($0.offset))),\(fmt(y($0.element)))" }
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            if points.count > 1 {
                out.append("<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>")
            }
            for p in points {
                let xy = p.split(separator: ",")
                out.append("<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(s.color)\"/>")
            }
            let ly = bottom - 12 - Double(series.count - 1 - k) * 16
            let lx = right - 70
            out.append("<line x1=\"\(fmt(lx))\" y1=\"\(fmt(ly - 4))\" x2=\"\(fmt(lx + 20))\" y2=\"\(fmt(ly - 4))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>")
            out.append("<text x=\"\(fmt(lx + 26))\" y=\"\(fmt(ly))\">\(s.name)</text>")
        }
        out.append("</g>")
        return out.joined(separator: "\n")
    }

    /// About `count` round tick values covering `[lo, hi]`.
    static func niceTicks(_ lo: Double, _ hi: Double, count: Int) -> [Double] {
        let raw = (hi - lo) / Double(max(count - 1, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        let start = floor(lo / step) * step
        return stride(from: start, through: hi + step * 0.999, by: step).map { $0 }
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
