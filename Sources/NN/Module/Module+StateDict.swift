import TensorEngine

/// State dicts: every parameter, persistent buffer and extra-state entry of the tree under its
/// dotted key, in PyTorch's order (per module: parameters, buffers, extra state, then children).
extension Module {
    /// One entry the module tree expects in a state dict.
    enum StateSlot {
        case tensor(Tensor)
        case extra(Module, key: String, shape: [Int])

        var shape: [Int] {
            switch self {
            case .tensor(let t): t.shape
            case .extra(_, _, let shape): shape
            }
        }
    }

    /// The slots of the tree in state-dict order. A module shared by two parents appears under
    /// both keys, as in PyTorch.
    func stateSlots() -> [(key: String, slot: StateSlot, value: Tensor)] {
        var result: [(key: String, slot: StateSlot, value: Tensor)] = []
        var stack: [(String, Module)] = [("", self)]
        while let (prefix, module) = stack.popLast() {
            for (name, t) in module.parameterEntries {
                result.append((Self.join(prefix, name), .tensor(t), module.stateDictValue(forLocal: name, t)))
            }
            for (name, t, persistent) in module.bufferEntries where persistent {
                result.append((Self.join(prefix, name), .tensor(t), module.stateDictValue(forLocal: name, t)))
            }
            for (name, t) in module.extraState() {
                precondition(
                    !name.contains(".") && module.localParameters.allSatisfy { $0.name != name }
                        && module.localBuffers.allSatisfy { $0.name != name },
                    "extraState of \(module.typeName): key '\(name)' contains '.' or clashes with a registered tensor")
                result.append((Self.join(prefix, name), .extra(module, key: name, shape: t.shape), t))
            }
            for (name, child) in module.children.reversed() { stack.append((Self.join(prefix, name), child)) }
        }
        return result
    }

    /// The state of the whole tree: parameters, persistent buffers and extra state under dotted
    /// keys (`features.0.weight`, `features.1.running_mean`). The tensors share storage with the
    /// module's (detached, as PyTorch's `state_dict()`); copy them to keep a snapshot.
    public func stateDict() -> StateDict {
        var sd = StateDict()
        for (key, _, value) in stateSlots() where sd[key] == nil { sd[key] = value.detach() }
        return sd
    }

    /// Copies the tensors of `stateDict` into the module's parameters, buffers and extra state.
    ///
    /// The whole state dict is validated first and every problem is reported at once in a
    /// ``StateDictError``; on error nothing is changed. Shapes must always match. With `strict`
    /// (the default) the keys must match exactly; otherwise missing keys keep their current
    /// values and unexpected keys are ignored (loading a float checkpoint into a quantized model),
    /// and the returned report lists both.
    ///
    /// - Throws: ``StateDictError``.
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws -> StateDictLoadReport {
        try loadStateDict(stateDict, strict: strict, source: nil)
    }

    func loadStateDict(_ stateDict: StateDict, strict: Bool, source: String?) throws -> StateDictLoadReport {
        let slots = stateSlots()
        var expected = Set<String>()
        var missing: [String] = []
        var mismatches: [StateDictError.ShapeMismatch] = []
        for (key, slot, _) in slots where expected.insert(key).inserted {
            guard let value = stateDict[key] else {
                missing.append(key)
                continue
            }
            if value.shape != slot.shape {
                mismatches.append(.init(key: key, expected: slot.shape, found: value.shape))
            }
        }
        let unexpected = stateDict.keys.filter { !expected.contains($0) }
        if !mismatches.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            throw StateDictError(
                missingKeys: missing, unexpectedKeys: unexpected, shapeMismatches: mismatches, source: source)
        }
        var extras: [(Module, StateDict)] = []
        var loadedTensors: [ObjectIdentifier] = []
        Autograd.noGrad {
            for (key, slot, _) in slots {
                guard let value = stateDict[key] else { continue }
                switch slot {
                case .tensor(let target):
                    if target.storage !== value.storage { target.assign(value) }
                    loadedTensors.append(ObjectIdentifier(target))
                case .extra(let module, let name, _):
                    if let i = extras.firstIndex(where: { $0.0 === module }) {
                        extras[i].1[name] = value
                    } else {
                        extras.append((module, [name: value]))
                    }
                }
            }
        }
        for (module, state) in extras { module.loadExtraState(state) }
        let loaded = Set(loadedTensors)
        for (_, module) in namedModules() {
            let names = (module.localParameters + module.localBuffers).filter { loaded.contains(ObjectIdentifier($0.tensor)) }.map(\.name)
            if !names.isEmpty { module.didLoadState(localNames: Set(names)) }
        }
        return StateDictLoadReport(missingKeys: missing, unexpectedKeys: unexpected)
    }
}
