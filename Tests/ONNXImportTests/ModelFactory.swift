import Foundation
import ONNXProto
import SwiftProtobuf

/// Small ONNX models written field by field, to test the importer on exactly the structure (or
/// the defect) a test needs.
struct ModelFactory {
    var model = Onnx_ModelProto()

    /// `y = Relu(Conv(x, w, b))` on `x: [1, 2, 4, 4]`, `w: [3, 2, 3, 3]` (pads 1), opset `opset`.
    init(opset: Int64 = 13) {
        model.irVersion = 8
        model.producerName = "ModelFactory"
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        model.opsetImport = [o]
        var g = Onnx_GraphProto()
        g.name = "test"
        g.input = [.floatTensor("x", [1, 2, 4, 4])]
        g.output = [.floatTensor("y", nil)]
        g.initializer = [.floats("conv.weight", [3, 2, 3, 3], (0..<54).map { Float($0 % 7) / 10 - 0.3 }),
                         .floats("conv.bias", [3], [0.1, -0.2, 0.3])]
        g.node = [Onnx_NodeProto("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name: "/conv/Conv", attributes: [.ints("pads", [1, 1, 1, 1])]),
                  Onnx_NodeProto("Relu", ["c"], ["y"], name: "/Relu")]
        model.graph = g
    }

    var data: Data { try! model.serializedData() }

}
