import Foundation

/// A fresh, uniquely named temporary directory; remove it when done
/// (`defer { try? FileManager.default.removeItem(at: dir) }`).
public func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("swift-brevitas-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
