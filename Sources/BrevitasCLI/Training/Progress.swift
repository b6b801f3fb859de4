import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Prints training progress: on a terminal, one live line per epoch redrawn as batches complete
/// (progress bar, loss, accuracy, samples/s, ETA) and kept with the epoch's results when it ends;
/// otherwise (a pipe, a log file) one plain line per epoch.
final class Progress {
    let live: Bool
    private let write: (String) -> Void
    private var lastDraw = Date.distantPast

    /// `live: nil` decides from whether standard output is a terminal.
    init(live: Bool? = nil, write: @escaping (String) -> Void = Progress.standardOutput) {
        self.live = live ?? (isatty(STDOUT_FILENO) != 0)
        self.write = write
    }

    static func standardOutput(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }

    /// A line of text (ends any live line first).
    func line(_ text: String) { write(text + "\n") }

    /// Redraws the live line (at most ~15 times a second, always for the last batch).
    func batch(_ p: BatchProgress) {
        guard live else { return }
        let now = Date()
        guard p.batch == p.batches || now.timeIntervalSince(lastDraw) > 0.066 else { return }
        lastDraw = now
        let width = 20
        let filled = p.batch * width / max(p.batches, 1)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = Double(p.samples) / max(p.elapsed, 1e-9)
        let perBatch = p.elapsed / Double(max(p.batch, 1))
        // The rest of this epoch and of the phase's later epochs, at this epoch's pace.
        let eta = perBatch * Double(p.batches - p.batch + (p.epochs - p.epoch) * p.batches)
        let text = "\(prefix(p.phase, p.epoch, p.epochs)) \(bar) \(p.batch)/\(p.batches)  loss \(f(p.loss, 4))  "
            + "acc \(percent(p.accuracy))  \(Int(rate.rounded())) samples/s  ETA \(Progress.duration(eta))"
        write("\r\u{1B}[2K" + text)
    }

    /// The epoch's closing line (replaces the live line).
    func epoch(_ r: EpochResult, epochs: Int) {
        let text = "\(prefix(r.phase, r.epoch, epochs))  loss \(f(r.loss, 4))  train \(percent(r.trainAccuracy))  "
            + "test \(percent(r.testAccuracy))  lr \(f(r.learningRate, 5))  \(f(r.seconds, 2)) s  "
            + "\(Int(r.samplesPerSecond.rounded())) samples/s"
        write((live ? "\r\u{1B}[2K" : "") + text + "\n")
    }

    /// A live status line (`calibrate: batch 2/4`) redrawn in place on a terminal (at most ~15
    /// times a second); `nil` clears it. Nothing is written when the output is not a terminal.
    func status(_ text: String?) {
        guard live else { return }
        guard let text else {
            write("\r\u{1B}[2K")
            return
        }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.066 else { return }
        lastDraw = now
        write("\r\u{1B}[2K" + text)
    }

    /// Ends a live line that was left unfinished (an interrupted epoch).
    func abandonLine() {
        if live { write("\r\u{1B}[2K") }
    }

    private func prefix(_ phase: String, _ epoch: Int, _ epochs: Int) -> String {
        let digits = String(epochs).count
        let e = String(repeating: " ", count: max(0, digits - String(epoch).count)) + String(epoch)
        return "\(phase == "float" ? "float" : "qat  ") epoch \(e)/\(epochs)"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600):\(pad2((s % 3600) / 60)):\(pad2(s % 60))" : "\(s / 60):\(pad2(s % 60))"
    }

    private static func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}

/// `value` with `digits` decimals.
func f(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

/// A fraction as a percentage with two decimals (`0.9611` → `96.11%`).
func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }
