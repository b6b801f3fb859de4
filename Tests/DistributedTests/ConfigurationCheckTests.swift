import Testing
@testable import Distributed

@Suite struct ConfigurationCheckTests {
    /// FNV-1a 64 of known strings (the algorithm's published test values).
    @Test func fingerprintIsFNV1a64() {
        #expect(ConfigurationCheck.fingerprint("") == 0xcbf2_9ce4_8422_2325)
        #expect(ConfigurationCheck.fingerprint("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(ConfigurationCheck.fingerprint("seed=0") != ConfigurationCheck.fingerprint("seed=1"))
    }

    @Test func differencesNameTheKeys() {
        let reference = "arch=lenet\nseed=0\nbatch-size=32"
        #expect(ConfigurationCheck.differences(reference, from: reference).isEmpty)
        #expect(ConfigurationCheck.differences("arch=lenet\nseed=1\nbatch-size=32\nextra=x", from: reference)
                == ["seed: '1' here, '0' on rank 0", "extra: 'x' here, absent on rank 0"])
        #expect(ConfigurationCheck.differences("arch=lenet", from: reference)
                == ["seed: absent here, '0' on rank 0", "batch-size: absent here, '32' on rank 0"])
    }

    @Test func mismatchErrorNamesTheRanks() {
        let one = DistributedError.configurationMismatch(ranks: [2], rank: 2, differences: ["seed: '1' here, '0' on rank 0"])
        #expect(one.description == "rank 2 was started with a configuration different from rank 0's; start every rank with the same options and data (rank 2: seed: '1' here, '0' on rank 0)")
        let two = DistributedError.configurationMismatch(ranks: [1, 3], rank: 0, differences: [])
        #expect(two.description.hasPrefix("ranks 1, 3 were started"))
    }
}
