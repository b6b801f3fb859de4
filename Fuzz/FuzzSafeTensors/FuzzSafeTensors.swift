import Foundation
import NN
import TensorEngine

/// libFuzzer entry: `SafeTensors.decode` on arbitrary bytes. Any input either decodes (and then
/// re-encodes to a file that decodes to the same values) or throws a `SafeTensorsError` naming
/// the file; a trap, an out-of-bounds access or any other error type is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    do {
        let contents = try SafeTensors.decode(data, file: "fuzz.safetensors")
        let again = try SafeTensors.decode(SafeTensors.encode(contents.tensors), file: "again.safetensors")
        for (name, tensor) in contents.tensors {
            guard let other = again.tensors[name], other.shape == tensor.shape,
                  other.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern) else {
                fatalError("tensor '\(name)' does not survive a write and read")
            }
        }
    } catch let error as SafeTensorsError {
        precondition(error.description.contains("fuzz.safetensors"), "the error does not name the file: \(error)")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
