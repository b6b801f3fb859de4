/// Which part of a data set with a fixed train/test split.
public enum Split: String, Sendable, CaseIterable {
    case train, test
}
