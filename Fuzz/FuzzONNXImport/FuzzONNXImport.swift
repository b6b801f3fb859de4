import Foundation
import ONNXImport

/// libFuzzer entry: `ONNXImporter.load` on arbitrary bytes (protobuf decoding, initializers,
/// topological order, every op handler and the constant folding done at import), with the
/// shapes the file declares. A model or an `ONNXImportError` naming the file; nothing else.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXImport(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    do {
        _ = try ONNXImporter.load(data: data, file: "fuzz.onnx", folder: nil)
    } catch let error as ONNXImportError {
        precondition("\(error)".contains("fuzz.onnx"), "the error does not name the file: \(error)")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
