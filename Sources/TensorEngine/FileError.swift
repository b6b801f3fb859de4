/// An error about one outside file (a dataset, a checkpoint, an array, a model): the file's path
/// and what is wrong with it, printed `path: what is wrong`.
///
/// ```swift
/// catch let e as NumPyError { print(e) }   // x.npy: dtype '>f4' is big-endian; save it little-endian (...)
/// ```
///
/// `Problem` says what is wrong in words (its `description`) and is matched by case in code and
/// tests; the error adds the file.
public protocol FileError: Error, CustomStringConvertible {
    associatedtype Problem: CustomStringConvertible
    /// The path of the file (or a description of its source).
    var file: String { get }
    /// What is wrong.
    var problem: Problem { get }
}

extension FileError {
    public var description: String { "\(file): \(problem)" }
}
