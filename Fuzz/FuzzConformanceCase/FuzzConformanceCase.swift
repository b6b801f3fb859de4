import Foundation
@testable import Conformance
import TensorEngine

/// libFuzzer entry: a conformance case file up to the point where it would be replayed: the JSON
/// parser, the case's family and aliases (`Replay.init`), and every recorded tensor or
/// QuantTensor in it. Each is a value or a typed error (`JSONParseError`, `ReplayError`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConformanceCase(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    let json: JSON
    do {
        json = try JSON.parse(data)
    } catch is JSONParseError {
        return 0
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    _ = json.serialized()
    do {
        _ = try Replay(json: json, chk: Checker())
    } catch is ReplayError {
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    var stack = [json]
    while let value = stack.popLast() {
        if value.isTensor || value.quantKind != nil {
            do { _ = try Records.value(value) } catch is ReplayError {} catch {
                fatalError("unexpected error type \(type(of: error)): \(error)")
            }
        }
        if let o = value.object { stack += o.pairs.map(\.value) }
        if case .array(let a) = value { stack += a }
    }
    return 0
}
