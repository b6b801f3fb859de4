import TensorEngine

/// PyTorch's default initialisation of a layer with a weight and an optional bias
/// (`reset_parameters` of `nn.Linear` and `nn.Conv1d/2d`), shared by the float layers and the
/// quantized ones so that the same seed gives the same parameters everywhere.
///
/// - `weight`: Kaiming-uniform with `a = √5`, which is uniform in `±1/√fanIn`;
/// - `bias`: uniform in `±1/√fanIn`, one value per output channel (`weightShape[0]`);
///
/// with `fanIn = weightShape[1] · (product of the kernel dimensions)`: `inFeatures` for a linear
/// weight `[out, in]`, `inChannels/groups · kH · kW` for a convolution weight
/// `[out, in/groups, kH, kW]`. The weight is drawn first, then the bias, from `generator`.
///
/// ```swift
/// let (w, b) = DefaultInitialization.weightAndBias(weightShape: [8, 3, 3, 3], bias: true,
///                                                  generator: RandomGenerator(seed: 0))
/// w.shape, b!.shape   // [8, 3, 3, 3], [8]; every value within ±1/√27
/// ```
public enum DefaultInitialization {
    /// The initial weight of `weightShape` (rank >= 2) and, when `bias`, the initial bias of
    /// `[weightShape[0]]`, drawn in that order from `generator`.
    public static func weightAndBias(weightShape: [Int], bias: Bool, generator: RandomGenerator) -> (weight: Tensor, bias: Tensor?) {
        let weight = generator.kaimingUniform(weightShape)
        let bound = 1 / Float(RandomGenerator.fans(weightShape).fanIn).squareRoot()
        return (weight, bias ? generator.uniform([weightShape[0]], low: -bound, high: bound) : nil)
    }
}
