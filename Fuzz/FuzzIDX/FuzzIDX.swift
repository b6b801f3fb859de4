import Foundation
import NN
import TensorEngine

/// libFuzzer entry: `IDX.decode` (MNIST's format) on arbitrary bytes: a tensor whose element count
/// is the product of the header's dimensions, or a `DataError` naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = [UInt8](UnsafeBufferPointer(start: bytes, count: size))
    do {
        let t = try IDX.decode(data, file: "fuzz-idx3-ubyte")
        precondition(t.count == t.shape.reduce(1, *))
    } catch let error as DataError {
        precondition(error.description.contains("fuzz-idx3-ubyte"), "the error does not name the file: \(error)")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
