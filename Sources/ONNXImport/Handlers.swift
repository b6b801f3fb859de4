/// The op handlers, by ONNX op type. Each lives in the file of its family
/// (`Ops+Conv.swift`, `Ops+Elementwise.swift`, ...).
extension GraphImporter {
    typealias Handler = (inout GraphImporter, NodeContext) throws -> [ImportValue]

    static let handlers: [String: Handler] = {
        var table: [String: Handler] = [
            "Conv": { try $0.conv($1) },
            "ConvTranspose": { try $0.convTranspose($1) },
            "Gemm": { try $0.gemm($1) },
            "MatMul": { try $0.matMul($1) },
            "BatchNormalization": { try $0.batchNormalization($1) },
            "LayerNormalization": { try $0.layerNormalization($1) },
            "MaxPool": { try $0.maxPool($1) },
            "AveragePool": { try $0.averagePool($1) },
            "GlobalAveragePool": { try $0.globalAveragePool($1) },
            "ReduceMean": { try $0.reduce($1) },
            "ReduceMax": { try $0.reduce($1) },
            "Softmax": { try $0.softmax($1) },
            "LogSoftmax": { try $0.softmax($1) },
            "Clip": { try $0.clip($1) },
            "Flatten": { try $0.flatten($1) },
            "Reshape": { try $0.reshape($1) },
            "Transpose": { try $0.transpose($1) },
            "Concat": { try $0.concat($1) },
            "Split": { try $0.split($1) },
            "Slice": { try $0.slice($1) },
            "Squeeze": { try $0.squeeze($1) },
            "Unsqueeze": { try $0.unsqueeze($1) },
            "Shape": { try $0.shape($1) },
            "Gather": { try $0.gather($1) },
            "Constant": { try $0.constantNode($1) },
            "ConstantOfShape": { try $0.constantOfShape($1) },
            "Identity": { try $0.identity($1) },
            "Dropout": { try $0.dropout($1) },
            "Cast": { try $0.cast($1) },
            "Pad": { try $0.pad($1) },
            "Resize": { try $0.resize($1) },
            "Expand": { try $0.expand($1) },
            "Where": { try $0.whereOp($1) },
            "Not": { try $0.not($1) },
            "Range": { try $0.range($1) },
        ]
        for op in ["Add", "Sub", "Mul", "Div", "Pow"] { table[op] = { try $0.binary($1) } }
        for op in ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"] { table[op] = { try $0.compare($1) } }
        for op in ["Relu", "Sigmoid", "Tanh", "Sqrt", "Erf", "LeakyRelu", "Elu", "HardSigmoid", "HardSwish", "Neg", "Abs", "Exp", "Log", "Gelu", "Floor", "Ceil"] {
            table[op] = { try $0.unary($1) }
        }
        return table
    }()
}
