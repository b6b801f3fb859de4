import ArgumentParser
import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine

/// `brevitas inspect`: what a checkpoint's quantizers learned and how much error each layer adds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's layers, quantizers (bit width, scale, zero point) and per-layer quantization error.",
        discussion: """
            The layer table runs a batch of test data through the quantized model and through its \
            float twin (the same weights, every quantizer off), layer by layer, and reports the \
            signal-to-quantization-noise ratio SQNR = 10·log10(Σ f² / Σ (f − q)²) in dB: of the \
            weights; of the layer alone (float and quantized layer on the same quantized input); \
            and cumulative (the quantized model so far against the float model so far).
            """)

    @OptionGroup var model: ModelArguments

    @Option(help: "Number of test examples for the error table.")
    var batch = 256

    @Flag(help: "Print the complete module tree, with every quantizer piece, as Brevitas prints it.")
    var full = false

    @Flag(help: "Also list every quantizer's resolved settings and where each came from.")
    var explain = false

    @Option(help: ArgumentHelp("For an .onnx model with symbolic dimensions: the input shape, e.g. 1,3,32,32 (NAME=1,3,32,32 for one of several inputs; repeat).", valueName: "shape"))
    var inputShape: [String] = []

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be >= 1, got \(batch)") }
    }

    func run() throws { print(try report()) }

    /// The whole report.
    func report() throws -> String {
        if model.checkpoint.lowercased().hasSuffix(".onnx") { return try onnxReport() }
        if GraphRun.isGraphRun(model.checkpoint) {
            Threads.apply(model.threads)
            return try GraphRun.inspectReport(model.checkpoint, batch: batch, full: full)
        }
        let loaded = try model.load(split: .test)
        let spec = loaded.config.model
        var out = ["\(loaded.checkpoint.path): \(loaded.kind == .float ? "float twin of " : "")\(spec.summary)", ""]
        out.append(full ? loaded.model.description : ModelReport.tree(loaded.model))
        out += ["", "Quantizers (eval mode):", ModelReport.quantizerTable(loaded.model).render(indent: "  ")]
        if explain { out += ["", loaded.model.explainQuantizers()] }
        guard loaded.kind == .quantized else { return out.joined(separator: "\n") }
        let n = min(batch, loaded.data.count)
        let inputs = loaded.data.batch(at: Array(0..<n)).inputs
        let floatTwin = try spec.makeModel(quantized: false, generator: .init(seed: 0))
        try floatTwin.loadStateDict(Checkpoint.brevitasStateDict(loaded.model), strict: false)
        floatTwin.eval()
        let report = try ModelReport.errorTable(quantized: loaded.model, float: floatTwin, inputs: inputs)
        out += ["", "Quantization error on \(n) test examples:", report.table.render(indent: "  "), "",
                "  top-1 agreement of the quantized and float models: \(percent(report.agreement))"]
        out += ["", AccumulatorReport.text(loaded.model, spec: spec, inputs: inputs)]
        return out.joined(separator: "\n")
    }
}

/// The pieces of `inspect`'s report.
enum ModelReport {
    /// The layers, one per line, indented by depth, with each layer's settings.
    static func tree(_ model: Module) -> String {
        var lines: [String] = []
        func visit(_ module: Module, name: String, depth: Int) {
            let indent = String(repeating: "  ", count: depth)
            let extra = module.extraRepr.isEmpty ? "" : "(\(module.extraRepr))"
            lines.append("\(indent)\(name.isEmpty ? "" : "(\(name)) ")\(module.typeName)\(extra)")
            for (childName, child) in module.children where isLayer(child) {
                visit(child, name: childName, depth: depth + 1)
            }
        }
        visit(model, name: "", depth: 0)
        return lines.joined(separator: "\n")
    }

    /// Layers, as opposed to quantizer proxies and their parts.
    static func isLayer(_ m: Module) -> Bool {
        (m is QuantLayer || m is QuantMultiInputLayer || m is Layer) && !(m is ActQuantProxy)
    }

    /// One row per enabled quantizer: where, what, bits, scale(s), zero point, state.
    static func quantizerTable(_ model: Module) -> TextTable {
        var table = TextTable(["quantizer", "layer", "bits", "signed", "scale", "zero point", "range"],
                              alignments: [.left, .left, .right, .left, .right, .right, .left])
        for (path, module) in model.namedModules() {
            if let layer = module as? QuantWeightBiasLayer, let q = Autograd.noGrad({ layer.quantWeight() }).quantTensor {
                table.add([path + ".weight_quant", layer.typeName, bits(q), q.signed ? "yes" : "no", values(q.scale), values(q.zeroPoint),
                           "from max|W|"])
            }
            if let proxy = module as? ActQuantProxy, proxy.isQuantEnabled {
                let out = Autograd.noGrad { proxy(.float(Tensor.zeros([1]))) }
                guard let q = out.quantTensor else { continue }
                let collectors = proxy.modules().compactMap { $0 as? StatsCollecting }
                let state = collectors.first.map { c in
                    c.counter > c.collectStatsSteps ? "learned" : "collecting (\(c.counter)/\(c.collectStatsSteps) steps)"
                } ?? "fixed"
                let owner = model.module(at: path.split(separator: ".").dropLast().joined(separator: "."))?.typeName ?? ""
                table.add([path, owner, bits(q), q.signed ? "yes" : "no", values(q.scale), values(q.zeroPoint), state])
            }
        }
        return table
    }

    static func bits(_ q: QuantTensor) -> String { String(Int(q.bitWidth.item())) }

    /// A scalar, or `min … max (n)` for a per-channel tensor.
    static func values(_ t: Tensor) -> String {
        let v = t.scalars
        if v.count == 1 { return number(v[0]) }
        return "\(number(v.min() ?? 0))…\(number(v.max() ?? 0)) (\(v.count))"
    }

    static func number(_ v: Float) -> String {
        if v == 0 || v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return String(format: abs(v) < 1e-3 || abs(v) >= 1e4 ? "%.4e" : "%.6f", v)
    }

    /// `10·log10(Σ f² / Σ (f − q)²)`; infinite when the two are equal.
    static func sqnr(signal f: Tensor, quantized q: Tensor) -> Double {
        precondition(f.count == q.count, "sqnr: \(f.shape) vs \(q.shape)")
        var s = 0.0, e = 0.0
        let fp = f.storage.pointer, qp = q.storage.pointer
        for i in 0..<f.count {
            let a = Double(fp[i]), d = Double(fp[i]) - Double(qp[i])
            s += a * a
            e += d * d
        }
        if e == 0 { return .infinity }
        return 10 * log10(s / e)
    }

    static func dB(_ v: Double?) -> String {
        guard let v else { return "" }
        return v.isInfinite ? "exact" : f(v, 1)
    }

    /// Runs the top-level layers of both models side by side on `inputs`.
    static func errorTable(quantized: QuantSequential, float: QuantSequential, inputs: Tensor) throws -> (table: TextTable, agreement: Double) {
        var table = TextTable(["layer", "type", "output", "weight SQNR dB", "layer SQNR dB", "cumulative SQNR dB", "mean |error|"])
        var q = QuantValue.float(inputs), fl = QuantValue.float(inputs)
        try Autograd.noGrad {
            for (i, (ql, fLayer)) in zip(quantized.layers, float.layers).enumerated() {
                let local = try fLayer.forward(q)
                let qNext = try ql.forward(q)
                let fNext = try fLayer.forward(fl)
                let weight = (ql as? QuantWeightBiasLayer).flatMap { layer in
                    layer.quantWeight().quantTensor.map { sqnr(signal: layer.weight, quantized: $0.value) }
                }
                let diff = (fNext.value - qNext.value).abs().mean().item()
                table.add([String(i), ql.typeName, qNext.value.shape.dropFirst().map(String.init).joined(separator: "x"),
                           dB(weight), dB(sqnr(signal: local.value, quantized: qNext.value)),
                           dB(sqnr(signal: fNext.value, quantized: qNext.value)), number(diff)])
                (q, fl) = (qNext, fNext)
            }
        }
        let a = q.value.argmax(dim: 1).scalars, b = fl.value.argmax(dim: 1).scalars
        let agree = zip(a, b).filter { $0 == $1 }.count
        return (table, Double(agree) / Double(max(a.count, 1)))
    }
}
