import CZlib
import Foundation
import TensorEngine

/// Reads whole files, decompressing gzip transparently (zlib's `gzread` passes other files
/// through unchanged), up to ``InputLimits/maxDecompressedBytes`` (a gzip bomb is an error, not
/// an exhausted memory).
enum FileBytes {
    /// The (decompressed) bytes of the file at `url`.
    ///
    /// - Throws: ``DataError`` with `.io` when the file cannot be opened, `.decompression` when a
    ///   gzip stream is corrupt or cut off.
    static func read(_ url: URL, limit: Int = InputLimits.maxDecompressedBytes) throws -> [UInt8] {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw DataError(file: url.path, problem: .io("cannot open: no such readable file"))
        }
        guard let file = gzopen(url.path, "rb") else {
            throw DataError(file: url.path, problem: .io("cannot open: \(String(cString: strerror(errno)))"))
        }
        defer { gzclose(file) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw DataError(file: url.path, problem: .decompression(errorMessage(file))) }
            if n == 0 { break }
            guard result.count + Int(n) <= limit else {
                throw DataError(file: url.path, problem: .limit(InputLimitExceeded(
                    limit: "decompressed bytes", value: limit, found: "the file expands past it")))
            }
            result += chunk[0..<Int(n)]
        }
        var code: Int32 = 0
        let message = String(cString: gzerror(file, &code))
        if code != Z_OK { throw DataError(file: url.path, problem: .decompression(message)) }
        return result
    }

    private static func errorMessage(_ file: gzFile) -> String {
        var code: Int32 = 0
        return String(cString: gzerror(file, &code))
    }
}
