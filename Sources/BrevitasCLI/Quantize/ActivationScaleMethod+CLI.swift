import ArgumentParser
import GraphQuant

/// `--act-param-method stats|mse`, and its place in a run's `config.json`.
extension ActivationScaleMethod: ExpressibleByArgument {}
