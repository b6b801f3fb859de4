import NN
import TensorEngine

/// A module whose scale or zero point is collected from statistics for a number of training
/// calls before it becomes a learned parameter. `counter` is the number of training calls seen;
/// collection runs while `counter < collectStatsSteps`, the parameter is initialised when
/// `counter == collectStatsSteps`, and the counter then stays at `collectStatsSteps + 1`.
public protocol StatsCollecting: Module {
    var counter: Int { get set }
    var collectStatsSteps: Int { get }
    /// Ends collection now, initialising the learned parameter from the collected statistic.
    func finishCollection()
}
