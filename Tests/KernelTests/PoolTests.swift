import CPUKernels
import Synchronization
import Testing

/// The thread pool: every index once per run, and a matmul split by rows.
@Suite struct PoolTests {
    /// Each run, every thread index in [0, n) checks in exactly once and
    /// sees the pool's size.
    @Test(arguments: [(1, 3000), (2, 3000), (3, 2000), (8, 200)])
    func everyIndexRunsOncePerRun(threads: Int, runs: Int) throws {
        let pool = try #require(asth_pool_create(Int32(threads)))
        defer { asth_pool_destroy(pool) }
        #expect(asth_pool_size(pool) == Int32(threads))

        let record = CheckIns(slots: threads)
        let context = Unmanaged.passUnretained(record).toOpaque()
        for _ in 0..<runs {
            asth_pool_run(
                pool,
                { context, index, count in
                    let record = Unmanaged<CheckIns>.fromOpaque(context!).takeUnretainedValue()
                    record.checkIn(index: Int(index), count: Int(count))
                }, context)
        }
        #expect(record.wrongCount.load(ordering: .relaxed) == 0)
        for slot in 0..<threads { #expect(record.count(slot) == runs, "thread \(slot)") }
    }

    @Test func refusesEmptyPool() {
        #expect(asth_pool_create(0) == nil)
    }

    /// Split by rows over any pool size, the result is bit for bit the
    /// single call's.
    @Test(arguments: [1, 2, 3, 4], weightTypes)
    func poolMatmulEqualsMatmul(threads: Int, type: asth_type) throws {
        let pool = try #require(asth_pool_create(Int32(threads)))
        defer { asth_pool_destroy(pool) }
        var rng = SeededGenerator(seed: 30 + UInt64(threads))
        for nBatch in [1, 5, 17] {
            let problem = MatmulProblem(type: type, nIn: 96, nOut: 203, nBatch: nBatch, using: &rng)
            let table = kernels(asth_variant_current())
            let expected = problem.run(table, rows: 0..<problem.nOut)
            var got = [Float](repeating: sentinel, count: nBatch * problem.outStride)
            asth_pool_matmul(
                pool, type, problem.weights.pointer, 96, Int64(problem.nOut),
                problem.activations.pointer, Int64(problem.xStrideBytes), Int64(nBatch), &got,
                Int64(problem.outStride))
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "n_batch=\(nBatch)")
        }
    }
}

/// Per thread index, how many times it ran; and runs that saw a wrong count.
/// Unchecked: the slots are only touched through their atomics.
final class CheckIns: @unchecked Sendable {
    private let counts: UnsafeMutablePointer<Atomic<Int>>
    private let slots: Int
    let wrongCount = Atomic<Int>(0)

    init(slots: Int) {
        self.slots = slots
        counts = .allocate(capacity: slots)
        for i in 0..<slots { (counts + i).initialize(to: Atomic(0)) }
    }

    deinit {
        counts.deinitialize(count: slots)
        counts.deallocate()
    }

    func checkIn(index: Int, count: Int) {
        guard count == slots, (0..<slots).contains(index) else {
            wrongCount.add(1, ordering: .relaxed)
            return
        }
        counts[index].add(1, ordering: .relaxed)
    }

    func count(_ slot: Int) -> Int { counts[slot].load(ordering: .relaxed) }
}
