import Foundation
import NN
import ONNXExport
import QuantNN
import TensorEngine

/// The ONNX exports of a trained model: `model.qcdq.onnx` (standard ONNX, runs in ONNX Runtime)
/// and `model.qonnx.onnx` (QONNX `Quant` ops, for FINN and hls4ml).
enum ONNXFiles {
    static func fileName(_ format: ONNXFormat) -> String { "model.\(format.rawValue).onnx" }

    /// Writes both exports into `folder`, traced on `example` (`[1, C, H, W]`); returns each file
    /// name with `nil` when it was written, or the reason it was not. Every architecture exports
    /// to both formats except `lstm`, whose quantized LSTM cell has a QONNX form only
    /// (`QuantLSTMCell`; Brevitas refuses QCDQ too); what else remains refused is a bit width the
    /// format cannot hold (QCDQ above 8 bits). Neither is an error of the run: the summary names
    /// the file and the layer.
    /// `dynamicBatch`: a symbolic batch dimension (the graph runs of `brevitas quantize`).
    static func write(_ model: Module, example: Tensor, folder: URL, dynamicBatch: Bool = false) -> [(file: String, problem: String?)] {
        ONNXFormat.allCases.map { format in
            let name = fileName(format)
            do {
                try exportONNX(model, example: example, format: format, dynamicBatch: dynamicBatch, to: folder.appendingPathComponent(name))
                return (name, nil)
            } catch {
                return (name, "\(error)")
            }
        }
    }

    /// A deterministic example input in `[0, 1)` of `shape` (`[C, H, W]`), batch 1.
    static func example(_ shape: [Int]) -> Tensor { RandomGenerator(seed: 0).uniform([1] + shape) }
}
