import ArgumentParser
import PTQ

/// `--act-equalization-scope graph|layerwise`, and its place in a run's `config.json`.
extension ActivationEqualizationScope: ExpressibleByArgument, Codable {}
