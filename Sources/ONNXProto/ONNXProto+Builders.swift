import Foundation

// Short constructors for the messages a hand-built ONNX file is made of. They set exactly the
// fields named and check nothing, so tests can also build defective files with them:
//
//     var graph = Onnx_GraphProto()
//     graph.input = [.floatTensor("x", [-1, 2, 4, 4])]          // -1: the symbolic `batch`
//     graph.initializer = [.floats("w", [3, 2, 3, 3], weights)]
//     graph.node = [Onnx_NodeProto("Conv", ["x", "w"], ["y"], name: "/conv/Conv", attributes: [.ints("pads", [1, 1, 1, 1])])]

extension Onnx_NodeProto {
    /// A node running `op` (its `opType`) from `inputs` to `outputs`.
    public init(_ op: String, _ inputs: [String], _ outputs: [String], name: String, attributes: [Onnx_AttributeProto] = []) {
        self.init()
        opType = op
        input = inputs
        output = outputs
        self.name = name
        attribute = attributes
    }
}

extension Onnx_AttributeProto {
    /// An `INTS` attribute.
    public static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    /// An `INT` attribute.
    public static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    /// A `FLOAT` attribute.
    public static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    /// A `STRING` attribute, UTF-8.
    public static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(value.utf8)
        return a
    }
}

extension Onnx_TensorProto {
    /// A float32 tensor (`dataType` 1) with its values as little-endian `rawData`; the count of
    /// `values` is not checked against `dims`.
    public static func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 1
        t.rawData = values.withUnsafeBytes { Data($0) }
        return t
    }

    /// A 1-D int64 tensor (`dataType` 7) in `int64Data`.
    public static func int64s(_ name: String, _ values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = [Int64(values.count)]
        t.dataType = 7
        t.int64Data = values
        return t
    }
}

extension Onnx_ValueInfoProto {
    /// A float32 tensor named `name`: `shape` with a negative size for the symbolic `batch`,
    /// or `nil` for no shape at all.
    public static func floatTensor(_ name: String, _ shape: [Int]?) -> Onnx_ValueInfoProto {
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
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type.tensorType = t
        return v
    }
}
