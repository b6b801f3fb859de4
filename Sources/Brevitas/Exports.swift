// The umbrella module: re-exports the public libraries, so `import Brevitas` is enough for an
// application. It declares nothing of its own.
//
//     import Brevitas
//
//     let relu = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, 4), returnQuantTensor: true)
//     let onnx = try exportONNX(model, example: x, format: .qcdq)

@_exported import TensorEngine
@_exported import NN
@_exported import QuantCore
@_exported import Quantizers
@_exported import QuantNN
@_exported import ONNXExport
@_exported import Graph
@_exported import ONNXImport
@_exported import IntegerInference
@_exported import Models
