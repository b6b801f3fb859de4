import Foundation

/// Checkpoints: a module's state dict in a safetensors file.
extension Module {
    /// Saves ``stateDict()`` to a safetensors file at `url`, atomically (a temporary file in the
    /// same directory, then a rename: an existing checkpoint is never left half written).
    ///
    /// The keys are PyTorch's, so `safetensors.torch.load_file(path)` followed by
    /// `model.load_state_dict(...)` works on the equivalent PyTorch model.
    ///
    /// - Throws: ``SafeTensorsError``.
    public func saveSafeTensors(to url: URL, metadata: [String: String] = ["format": "pt"]) throws {
        try SafeTensors.write(stateDict(), to: url, metadata: metadata)
    }

    /// Loads a safetensors checkpoint into the module (see ``loadStateDict(_:strict:)``). The
    /// file is read and validated completely, and the keys and shapes are checked against the
    /// module, before anything is changed: on error the module is unchanged.
    ///
    /// - Throws: ``SafeTensorsError`` for a missing or malformed file, ``StateDictError`` (naming
    ///   the file) for keys or shapes that do not fit the module.
    @discardableResult
    public func loadSafeTensors(from url: URL, strict: Bool = true) throws -> StateDictLoadReport {
        let contents = try SafeTensors.read(url)
        return try loadStateDict(contents.tensors, strict: strict, source: url.path)
    }
}
