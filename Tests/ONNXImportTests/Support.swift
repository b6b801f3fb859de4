import Foundation
import NN
import TensorEngine
import Testing

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `../shared/<sub>` beside the package root (CI provides it; a worktree one level deeper finds
/// `../../shared`), or `nil` when absent.
func sharedFolder(_ sub: String) -> URL? {
    var folder = packageRoot
    for _ in 0..<2 {
        folder = folder.deletingLastPathComponent()
        let url = folder.appendingPathComponent("shared/\(sub)")
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue { return url }
    }
    return nil
}

/// The worst absolute difference.
func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

/// A fresh temporary folder.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("onnximport-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
