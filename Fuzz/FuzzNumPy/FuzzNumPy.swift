import Foundation
import NN
import TensorEngine

/// libFuzzer entry: `NumPy.decode` on arbitrary bytes, then the conversion to a tensor. A decoded
/// array re-encodes to bytes that decode to the same bytes again; every failure is a `NumPyError`
/// naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    do {
        let array = try NumPy.decode(data, file: "fuzz.npy")
        let encoded = NumPy.encode(array)
        guard NumPy.encode(try NumPy.decode(encoded, file: "again.npy")) == encoded else {
            fatalError("the array does not survive a write and read")
        }
        let t = try array.tensor(file: "fuzz.npy")
        precondition(t.shape == array.shape)
    } catch let error as NumPyError {
        precondition(error.description.contains("fuzz.npy"), "the error does not name the file: \(error)")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
