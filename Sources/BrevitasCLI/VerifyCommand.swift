import ArgumentParser
import Foundation
import IntegerInference
import NN
import QuantNN
import TensorEngine
import Models

/// `brevitas verify`: does the integer program compute what the trained fake-quantized model computes?
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Run the fake-quantized model and its integer program on the test data and compare them layer by layer.",
        discussion: """
            The integer program has integer weights, biases in the accumulator's scale, and \
            requantizations to the next quantizer's grid (fixed-point multiplier and shift, rounding \
            half to even; --arithmetic float-scale uses the exact float multiplier instead). For each \
            layer whose output is on a quantizer's grid the table shows the share of codes that agree \
            end to end, the largest difference and where, and, feeding each layer the model's own \
            codes, the differences that layer makes: ties (the exact value before rounding is within \
            2^-10 of a midpoint, where float32 rounding in the fake-quantized model can fall either \
            way; the only admissible difference) and errors. The last line is \
            `P of N predictions agree; C of M integer codes agree`; the exit status is 1 when a \
            prediction differs or a layer makes a difference that is not a tie.
            """)

    @OptionGroup var model: ModelArguments

    @Option(help: "Which split: train or test.")
    var split: Split = .test

    @Option(help: "Requantization arithmetic: fixed-point (what `brevitas deploy` emits) or float-scale.")
    var arithmetic: IntegerExecutor.Arithmetic = .fixedPoint

    @Option(help: ArgumentHelp("Use only the first n examples.", valueName: "n"))
    var limit: Int?

    @Flag(help: "Also print the integer program, one step per line.")
    var program = false

    @Flag(help: "Also run the QCDQ export in ONNX Runtime (default optimisations, and none) and compare it with the integer program (needs a Python with onnxruntime: scripts/setup-onnx-venv.sh or BREVITAS_ONNX_PYTHON).")
    var onnx = false

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be >= 1, got \(limit)") }
    }

    func run() throws {
        let (text, passed) = try report()
        print(text)
        if !passed { throw ExitCode(1) }
    }

    /// The report and whether verification passed.
    func report() throws -> (String, Bool) {
        let prog: IntegerProgram, inputs: Tensor, v: Verification, title: String, exported: Module
        if GraphRun.isGraphRun(model.checkpoint) {
            let (q, config) = try GraphRun.load(URL(fileURLWithPath: model.checkpoint))
            prog = try GraphRun.integerProgram(q, config)
            let (all, name) = try GraphRun.integerInputs(config, dataset: model.dataset, dataDir: model.dataDir, split: split)
            inputs = all.narrow(dim: 0, start: 0, length: min(limit ?? all.shape[0], all.shape[0]))
            v = try Verification.run(graph: q, program: prog, inputs: inputs, arithmetic: arithmetic)
            title = "\(model.checkpoint): graph-quantized \(config.quantize.summary) of \(config.source), \(arithmetic.rawValue) requantization, \(inputs.shape[0]) examples of \(name)"
            exported = q
        } else {
            let loaded = try model.load(split: split)
            guard loaded.kind == .quantized else {
                throw CLIError("'\(loaded.checkpoint.path)' is a float checkpoint: it has no integer program; verify a quantized one (model.safetensors)")
            }
            prog = try IntegerProgramLoader.lower(loaded.model, spec: loaded.config.model)
            let n = min(limit ?? loaded.data.count, loaded.data.count)
            inputs = loaded.data.inputs.narrow(dim: 0, start: 0, length: n)
            v = try Verification.run(model: loaded.model, program: prog, inputs: inputs, arithmetic: arithmetic)
            title = "\(loaded.checkpoint.path): \(loaded.config.model.summary), \(arithmetic.rawValue) requantization, \(n) \(split.rawValue) examples"
            exported = loaded.model
        }
        var out = [title]
        if program { out += ["", prog.listing] }
        out += ["", VerifyCommand.table(v).render(indent: "  ")]
        for l in v.layers {
            if let t = l.firstTie { out.append("  \(l.layer): first tie: \(t)") }
            if let e = l.firstNonTie { out.append("  \(l.layer): first error: \(e)") }
        }
        if case .accumulator = prog.output {
            out.append("  output accumulators: \(v.outputsAgree) of \(v.examples) examples equal after rounding the model's logits to the accumulator's scale; largest difference \(String(format: "%.3g", v.largestOutputDifference)) steps")
        } else {
            out.append("  output codes: \(v.outputsAgree) of \(v.examples) examples agree")
        }
        if onnx { out += try ONNXRuntimeCheck.report(model: exported, program: prog, inputs: inputs) }
        let ties = v.layers.map(\.ties).reduce(0, +), errors = v.layers.map(\.nonTies).reduce(0, +)
        out.append("  layer by layer: \(ties) tie\(ties == 1 ? "" : "s") (admissible), \(errors) other difference\(errors == 1 ? "" : "s")")
        out.append(v.summary)
        return (out.joined(separator: "\n"), v.passed)
    }

    static func table(_ v: Verification) -> TextTable {
        var t = TextTable(["layer", "type", "codes", "agree", "largest diff", "at (example, element)", "ties", "errors"])
        for l in v.layers where l.count > 0 {
            let share = l.count == 0 ? "-" : String(format: "%.4f%%", 100 * Double(l.agree) / Double(l.count))
            let at = l.largestAt.map { "\($0.example), \($0.element)" } ?? "-"
            t.add([l.layer, l.type, "\(l.count)", share, "\(l.largestDifference)", at, "\(l.ties)", "\(l.nonTies)"])
        }
        return t
    }
}

extension IntegerExecutor.Arithmetic: ExpressibleByArgument {}

/// Lowering for the CLI: the program of a loaded model, with lowering errors as one-line CLI errors.
enum IntegerProgramLoader {
    static func lower(_ model: QuantSequential, spec: ModelSpec) throws -> IntegerProgram {
        do {
            return try IntegerLowering.lower(model, inputShape: spec.inputShape)
        } catch let e as IntegerLoweringError {
            throw CLIError("\(spec.summary) has no integer program: \(e)")
        }
    }
}
