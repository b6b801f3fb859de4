import Foundation
@testable import BrevitasCLI

/// libFuzzer entry: a run folder's `config.json` as `eval`, `export` and `inspect` read it: a
/// valid configuration or a `CLIError` naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRunConfig(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    do {
        let config = try RunConfig.decode(data, file: "run/config.json")
        precondition(config.model.problems().isEmpty)
    } catch let error as CLIError {
        precondition(error.message.contains("run/config.json"), "the error does not name the file: \(error)")
        precondition(!error.message.contains("\n"), "the error is not one line: \(error)")
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
