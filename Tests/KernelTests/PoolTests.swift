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

    /// Runs of one chunk and of many, back to back, on more threads than
    /// the machine has cores (so workers are descheduled mid-claim): a
    /// worker that wakes late must never run a chunk of the next run with
    /// the previous run's context, nor count one it did not run. Every run
    /// gives its single-call bits, every row written. The window this
    /// guards is a few instructions wide, so the test catches a regression
    /// only some of the time; pool.c's header gives the argument.
    @Test func lateWorkersNeverMixRuns() throws {
        let threads = 8
        let pool = try #require(asth_pool_create(Int32(threads)))
        defer { asth_pool_destroy(pool) }
        var rng = SeededGenerator(seed: 77)
        let table = kernels(asth_variant_current())
        let problems = [64, 1024].map {
            MatmulProblem(type: ASTH_TYPE_F32, nIn: 32, nOut: $0, nBatch: 1, using: &rng)
        }
        let expected = problems.map { $0.run(table, rows: 0..<$0.nOut).map(\.bitPattern) }
        var outputs = problems.map { [Float](repeating: sentinel, count: $0.outStride) }
        var mismatches = 0
        for run in 0..<4000 {
            let which = run % 2
            let problem = problems[which]
            for i in outputs[which].indices { outputs[which][i] = sentinel }
            asth_pool_matmul(
                pool, ASTH_TYPE_F32, problem.weights.pointer, 32, Int64(problem.nOut),
                problem.activations.pointer, Int64(problem.xStrideBytes), 1, &outputs[which],
                Int64(problem.outStride))
            if outputs[which].map(\.bitPattern) != expected[which] { mismatches += 1 }
        }
        #expect(mismatches == 0)
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

    /// Several matmuls in one run, each row range split by the pool, give
    /// each matmul's single-call bits; matrices of 16 to 1000 rows cut
    /// into one or many chunks, more jobs than one run carries.
    @Test(arguments: [1, 2, 3])
    func pooledMatmulsEqualMatmuls(threads: Int) throws {
        let pool = try #require(asth_pool_create(Int32(threads)))
        defer { asth_pool_destroy(pool) }
        var rng = SeededGenerator(seed: 40 + UInt64(threads))
        let table = kernels(asth_variant_current())
        let shapes: [(asth_type, Int)] = [
            (ASTH_TYPE_Q4_1, 1000), (ASTH_TYPE_Q8_0, 16), (ASTH_TYPE_F16, 203),
            (ASTH_TYPE_Q4_0, 130), (ASTH_TYPE_F32, 77),
        ]
        for nBatch in [1, 3, 9] {
            let problems = shapes.map { type, rows in
                MatmulProblem(type: type, nIn: 64, nOut: rows, nBatch: nBatch, using: &rng)
            }
            let outputs = problems.map { problem in
                let count = nBatch * problem.outStride
                let buffer = AlignedBuffer(byteCount: count * 4)
                buffer.floats(count).update(repeating: sentinel, count: count)
                return buffer
            }
            let jobs = zip(problems, outputs).map { problem, output in
                problem.job(into: output.floats(nBatch * problem.outStride))
            }
            asth_pool_matmuls(pool, jobs, Int32(jobs.count))
            for (problem, output) in zip(problems, outputs) {
                let count = nBatch * problem.outStride
                let got = Array(UnsafeBufferPointer(start: output.floats(count), count: count))
                let expected = problem.run(table, rows: 0..<problem.nOut)
                #expect(
                    bitDifferences(got, expected) == 0,
                    "\(problem.type) rows=\(problem.nOut) n_batch=\(nBatch)")
            }
        }
    }

    /// Gate and up in one run, then SwiGLU over each chunk's rows: the bits
    /// of two matmuls and asth_silu_mul row by row, for widths with and
    /// without a tail past the last group of 16.
    @Test(arguments: [1, 2, 3], [96, 100, 1536])
    func pooledSwiGLUEqualsSeparateOps(threads: Int, rows: Int) throws {
        let pool = try #require(asth_pool_create(Int32(threads)))
        defer { asth_pool_destroy(pool) }
        var rng = SeededGenerator(seed: 50 + UInt64(rows))
        let table = kernels(asth_variant_current())
        for nBatch in [1, 4] {
            let gate = MatmulProblem(
                type: ASTH_TYPE_Q4_1, nIn: 64, nOut: rows, nBatch: nBatch, using: &rng)
            let up = MatmulProblem(
                type: ASTH_TYPE_Q4_1, nIn: 64, nOut: rows, nBatch: nBatch, using: &rng,
                activations: gate.activations)

            // Expected: both matmuls, then silu_mul row by row.
            let gateOut = gate.run(table, rows: 0..<rows)
            let upOut = up.run(table, rows: 0..<rows)
            var expected = gateOut
            for b in 0..<nBatch {
                let range = b * gate.outStride..<b * gate.outStride + rows
                var row = [Float](repeating: .nan, count: rows)
                table.silu_mul(Array(gateOut[range]), Array(upOut[range]), &row, Int64(rows))
                expected.replaceSubrange(range, with: row)
            }

            // Got: one pool run writing SwiGLU over the gate's output.
            let count = nBatch * gate.outStride
            let gateBuffer = AlignedBuffer(byteCount: count * 4)
            let upBuffer = AlignedBuffer(byteCount: count * 4)
            gateBuffer.floats(count).update(repeating: sentinel, count: count)
            var gateJob = gate.job(into: gateBuffer.floats(count))
            var upJob = up.job(into: upBuffer.floats(count))
            asth_pool_swiglu(pool, &gateJob, &upJob, gateBuffer.floats(count))
            let got = Array(UnsafeBufferPointer(start: gateBuffer.floats(count), count: count))
            #expect(bitDifferences(got, expected) == 0, "rows=\(rows) n_batch=\(nBatch)")
        }
    }

    /// Attention of several rows (both orders, grouped query heads) in one
    /// pool run gives each group's asth_attention_group bits.
    @Test(arguments: [1, 2, 3])
    func pooledAttentionEqualsGroups(threads: Int) throws {
        let pool = try #require(asth_pool_create(Int32(threads)))
        defer { asth_pool_destroy(pool) }
        var rng = SeededGenerator(seed: 60 + UInt64(threads))
        let (heads, kvHeads, headDim) = (6, 2, 64)
        let (group, kvStride) = (heads / kvHeads, kvHeads * headDim)
        let positions = [1, 40, 77, 300]
        let cache = KVCache(nPos: 300, headDim: headDim, kvStride: kvStride, using: &rng)
        let queries = positions.map { _ in randomFloats(heads * headDim, in: -3...3, using: &rng) }

        // Got: every row in one run, each thread with its own scratch.
        let outputs = positions.map { _ in AlignedBuffer(byteCount: heads * headDim * 4) }
        let queryBuffers = queries.map { q in
            let buffer = AlignedBuffer(byteCount: q.count * 4)
            buffer.floats(q.count).update(from: q, count: q.count)
            return buffer
        }
        let scratch = AlignedBuffer(byteCount: threads * group * 300 * 4)
        cache.k.withUnsafeBufferPointer { k in
            cache.v.withUnsafeBufferPointer { v in
                let rows = positions.indices.map { i in
                    asth_attention_row(
                        q: queryBuffers[i].floats(heads * headDim), k: k.baseAddress,
                        v: v.baseAddress, n_pos: Int64(positions[i]), batched: Int32(i % 2),
                        out: outputs[i].floats(heads * headDim))
                }
                asth_pool_attention(
                    pool, rows, Int64(rows.count), Int64(heads), Int64(kvHeads), Int64(headDim),
                    Int64(kvStride), 0.125, scratch.floats(threads * group * 300),
                    Int64(group * 300))
            }
        }

        // Expected: each group through the current variant on its own.
        for (i, nPos) in positions.enumerated() {
            var expected = [Float](repeating: .nan, count: heads * headDim)
            var groupScratch = [Float](repeating: .nan, count: group * nPos)
            for kvHead in 0..<kvHeads {
                let q = Array(queries[i][kvHead * group * headDim..<(kvHead + 1) * group * headDim])
                var out = [Float](repeating: .nan, count: group * headDim)
                asth_attention_group(
                    q, Int64(group), Array(cache.k[(kvHead * headDim)...]),
                    Array(cache.v[(kvHead * headDim)...]), Int64(kvStride), Int64(nPos),
                    Int64(headDim), 0.125, Int32(i % 2), &groupScratch, &out)
                expected.replaceSubrange(
                    kvHead * group * headDim..<(kvHead + 1) * group * headDim, with: out)
            }
            let count = heads * headDim
            let got = Array(UnsafeBufferPointer(start: outputs[i].floats(count), count: count))
            #expect(bitDifferences(got, expected) == 0, "n_pos=\(nPos) threads=\(threads)")
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
