import ArgumentParser
import Foundation
import ONNXExport
import TensorEngine

/// `brevitas export`: a checkpoint to ONNX.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a trained checkpoint to ONNX (QCDQ or QONNX).",
        discussion: """
            qcdq: standard ONNX (opset 13), activations as QuantizeLinear -> Clip -> DequantizeLinear \
            and weights as stored integers -> DequantizeLinear; runs in ONNX Runtime; at most 8 bits. \
            qonnx: the Quant/BipolarQuant/Trunc ops of QONNX (FINN, hls4ml), any bit width. The \
            graph has the model's input shape and a batch of 1, or with --dynamic-batch a symbolic \
            batch dimension `batch` (any batch size at run time).
            """)

    @OptionGroup var model: ModelArguments

    @Option(help: "qcdq (ONNX Runtime) or qonnx (FINN, hls4ml).")
    var format: ONNXFormat = .qcdq

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Output file (default model.<format>.onnx beside the checkpoint).", valueName: "file"),
            completion: .file(extensions: ["onnx"]))
    var output: String?

    @Flag(help: "Make the batch dimension of the graph's input and output symbolic (`batch`), so a runtime takes any batch size.")
    var dynamicBatch = false

    func run() throws { print(try export()) }

    /// Writes the file; returns the line to print.
    func export() throws -> String {
        Threads.apply(model.threads)
        if GraphRun.isGraphRun(model.checkpoint) {
            let folder = URL(fileURLWithPath: model.checkpoint)
            let (q, config) = try GraphRun.load(folder)
            let url = URL(fileURLWithPath: output ?? folder.appendingPathComponent(ONNXFiles.fileName(format)).path)
            try AtomicFile.prepareDirectory(url.deletingLastPathComponent())
            do {
                let b = config.importBatch ?? 1
                let example = Tensor.cat((0..<b).map { _ in ONNXFiles.example(config.inputShape) }, dim: 0)
                try exportONNX(q, example: example, format: format, dynamicBatch: dynamicBatch, to: url)
            } catch let e as ONNXExportError {
                throw CLIError("\(e)")
            }
            return "wrote \(url.path) (\(format.rawValue.uppercased()) of the graph-quantized model, input \(dynamicBatch ? "batch" : "1")x\(config.inputShape.map(String.init).joined(separator: "x")))"
        }
        let (file, config) = try model.resolve()
        let (loaded, _) = try Checkpoint.loadModel(file, spec: config.model)
        let url = URL(fileURLWithPath: output ?? file.deletingLastPathComponent().appendingPathComponent(ONNXFiles.fileName(format)).path)
        try AtomicFile.prepareDirectory(url.deletingLastPathComponent())
        do {
            try exportONNX(loaded, example: ONNXFiles.example(config.model.inputShape), format: format, dynamicBatch: dynamicBatch, to: url)
        } catch let e as ONNXExportError {
            throw CLIError("\(e)")
        }
        return "wrote \(url.path) (\(format.rawValue.uppercased()), input \(dynamicBatch ? "batch" : "1")x\(config.model.inputShape.map(String.init).joined(separator: "x")))"
    }
}

extension ONNXFormat: ExpressibleByArgument {}
