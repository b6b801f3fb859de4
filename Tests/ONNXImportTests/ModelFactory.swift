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
        g.input = [Self.valueInfo("x", [1, 2, 4, 4])]
        g.output = [Self.valueInfo("y", nil)]
        g.initializer = [Self.floats("conv.weight", [3, 2, 3, 3], (0..<54).map { Float($0 % 7) / 10 - 0.3 }),
                         Self.floats("conv.bias", [3], [0.1, -0.2, 0.3])]
        g.node = [Self.node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name: "/conv/Conv", attributes: [Self.ints("pads", [1, 1, 1, 1])]),
                  Self.node("Relu", ["c"], ["y"], name: "/Relu")]
        model.graph = g
    }

    var data: Data { try! model.serializedData() }

    static func valueInfo(_ name: String, _ shape: [Int]?) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1
        if let shape {
            var s = Onnx_TensorShapeProto()
            s.dim = shape.map { d in
                var dim = Onnx_TensorShapeProto.Dimension()
                if d >= 0 { dim.dimValue = Int64(d) } else { dim.dimParam = "batch" }
                return dim
            }
            t.shape = s
        }
        var type = Onnx_TypeProto()
        type.tensorType = t
        v.type = type
        return v
    }

    static func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 1
        t.rawData = values.withUnsafeBytes { Data($0) }
        return t
    }

    static func int64s(_ name: String, _ values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = [Int64(values.count)]
        t.dataType = 7
        t.int64Data = values
        return t
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String, attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        n.attribute = attributes
        return n
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map { Int64($0) }
        return a
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }
}
