import Foundation
import Testing
import TensorEngine
import Quantizers
import QuantNN
@testable import ONNXExport

/// Dynamic activation presets are refused by name in both formats: a traced scale would be a
/// constant that is right for the example input only.
@Suite struct DynamicActExportTests {
    @Test(arguments: [ONNXFormat.qcdq, .qonnx])
    func dynamicActivationsAreRefusedByName(format: ONNXFormat) throws {
        for q in [ActQuant.int8DynamicActPerTensorFloat, .shiftedUint8DynamicActPerTensorFloat] {
            let l = try QuantLinear(4, 2, inputQuant: q)
            l.eval()
            do {
                _ = try exportONNX(l, example: Tensor.ones([1, 4]), format: format)
                Issue.record("\(q.preset) exported to \(format)")
            } catch let ONNXExportError.notExpressible(_, f, reason) {
                #expect(f == format && reason.contains(q.preset) && reason.contains("dynamic"), "\(reason)")
            }
        }
    }
}
