import Foundation
import NN
import TensorEngine

/// libFuzzer entry: `CIFAR10.decode` (one binary batch) on arbitrary bytes: `[N, 3, 32, 32]`
/// images with N labels in 0...9, or a `DataError` naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = [UInt8](UnsafeBufferPointer(start: bytes, count: size))
    do {
        let set = try CIFAR10.decode(data, file: "fuzz_batch.bin")
        precondition(set.inputs.shape == [set.labels.count, 3, 32, 32] && set.labels.allSatisfy { (0..<10).contains($0) })
    } catch let error as DataError {
        precondition(error.description.contains("fuzz_batch.bin"), "the error does not name the file: \(error)")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
