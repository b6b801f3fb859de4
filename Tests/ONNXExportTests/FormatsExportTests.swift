import Foundation
import Testing
import TensorEngine
import Quantizers
import QuantNN
@testable import ONNXExport

/// Minifloat and group-wise quantizers have no ONNX form in this exporter yet: a clear error
/// that names the format, never a wrong graph.
@Suite struct FormatsExportTests {
    func reason(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let ONNXExportError.notExpressible(_, _, reason) {
            return reason
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test(arguments: [ONNXFormat.qcdq, .qonnx])
    func minifloatAndGroupwiseAreNotExpressible(format: ONNXFormat) throws {
        let fp8 = try QuantIdentity(actQuant: .fp8e4m3OCPActPerTensorFloat)
        fp8.eval()
        let r1 = reason { _ = try exportONNX(fp8, example: Tensor.zeros([1, 4]), format: format) }
        #expect(r1?.contains("minifloat e4m3") == true, "\(r1 ?? "no error")")
        let mx = try QuantLinear(64, 4, weightQuant: .mxInt8Weight)
        mx.eval()
        let r2 = reason { _ = try exportONNX(mx, example: Tensor.zeros([1, 64]), format: format) }
        #expect(r2?.contains("group-wise") == true, "\(r2 ?? "no error")")
    }

    /// An A2Q layer's quantized weight depends on its quantized input: a clear error, not a stop.
    @Test(arguments: [ONNXFormat.qcdq, .qonnx])
    func accumulatorAwareWeightsAreNotExpressible(format: ONNXFormat) throws {
        let a2q = try QuantLinear(4, 2, bias: false, weightQuant: .int8AccumulatorAwareWeightQuant.with(\.accumulatorBitWidth, 16),
                                  inputQuant: .int8ActPerTensorFloat)
        a2q.eval()
        let r = reason { _ = try exportONNX(a2q, example: Tensor.ones([1, 4]), format: format) }
        #expect(r?.contains("accumulator-aware") == true, "\(r ?? "no error")")
    }
}
