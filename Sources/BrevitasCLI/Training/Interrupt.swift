#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ctrl-C during training: the first SIGINT sets a flag that the training loop checks between
/// batches (it then stops, keeping the last complete checkpoint); a second one ends the process
/// at once (the default action is restored by the first).
enum Interrupt {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    /// Whether SIGINT arrived since ``install()``.
    static var requested: Bool { flag != 0 }

    /// Installs the handler and clears the flag.
    static func install() {
        flag = 0
        signal(SIGINT) { _ in
            Interrupt.flag = 1
            signal(SIGINT, SIG_DFL)
        }
    }

    /// Restores the default SIGINT action.
    static func uninstall() { signal(SIGINT, SIG_DFL) }
}
