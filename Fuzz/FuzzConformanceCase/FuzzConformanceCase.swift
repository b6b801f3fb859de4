import Foundation
@testable import Conformance
import NN
import QuantNN
import Quantizers
import TensorEngine

/// libFuzzer entry: a conformance case file up to the point where it would be replayed: the JSON
/// parser, the case's family and aliases (`Replay.init`), every recorded tensor or QuantTensor in
/// it, and the model of a small case (under 4 kB: `spec.model` built, as the replay builds it,
/// through `CaseCheck`'s keyword checks and the layer factory, then its first step's inputs
/// checked against it). Each is a value or a typed error (`JSONParseError`, `ReplayError`,
/// `CaseCheckError`, the factory's `QuantConfigError`).
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
    if size < 4096, let spec = json["spec"]?["model"] {
        do {
            let model = try SpecModel.build(spec)
            if case .single(let layer) = model.kind, let inputs = json["steps"]?.array?.first?["inputs"]?.object {
                let args = try inputs.pairs.map { try Records.value($0.value) }
                try CaseCheck.inputs(layer, args)
            }
        } catch is ReplayError {} catch is CaseCheckError {} catch is QuantConfigError {} catch {
            fatalError("unexpected error type \(type(of: error)): \(error)")
        }
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
