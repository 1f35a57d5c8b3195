import CPUKernels
import Foundation
import Support
import Synchronization

/// The embedded default device: the llama graph on the CPU kernels, with a
/// persistent thread pool. It is also the numerical reference every other
/// device is checked against.
public final class CPUDevice: Device, @unchecked Sendable {
    public let name = "cpu"
    public let config: LlamaConfig
    public let weights: LlamaWeights
    /// Threads in the pool, the dispatching thread included.
    public let threadCount: Int
    /// Most rows one dispatch may carry.
    public let rowsMax: Int

    private let pool: OpaquePointer
    private let workspace: Workspace
    /// Attention scores of one KV head's query heads, per pool thread:
    /// [threadCount][group × contextLength].
    private let attentionScratch: UnsafeMutablePointer<Float>
    private let attentionScratchPerThread: Int
    /// RoPE's cos and sin of each row's position, made once per dispatch
    /// for every layer: [rowsMax][ropeDimensions].
    private let ropeAngles: UnsafeMutablePointer<Float>
    /// Set while a dispatch runs: a device has one caller at a time (its
    /// engine), since the workspace, the pool and the logits it returns
    /// are its own until the next dispatch.
    private let dispatching = Atomic<Bool>(false)
    private let log = Log("cpu")

    /// - Parameters:
    ///   - threads: pool size; nil takes every core.
    ///   - rowsMax: the largest batch a dispatch may carry.
    public init(config: LlamaConfig, weights: LlamaWeights, threads: Int? = nil, rowsMax: Int = 512)
    {
        precondition(rowsMax > 0, "a dispatch carries at least one row")
        self.config = config
        self.weights = weights
        self.threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.rowsMax = rowsMax
        self.pool = asth_pool_create(Int32(threadCount))
        self.workspace = Workspace(config: config, rowsMax: rowsMax)
        self.attentionScratchPerThread =
            config.headCount / config.kvHeadCount * config.contextLength
        self.attentionScratch = .allocate(capacity: threadCount * attentionScratchPerThread)
        self.ropeAngles = .allocate(capacity: rowsMax * config.ropeDimensions)
        log.info(
            "ready",
            [
                "threads": threadCount,
                "kernels": String(cString: asth_variant_name(asth_variant_current())),
            ])
    }

    deinit {
        asth_pool_destroy(pool)
        attentionScratch.deallocate()
        ropeAngles.deallocate()
    }

    public var detail: String {
        let variant = String(cString: asth_variant_name(asth_variant_current()))
        return "\(variant), \(threadCount) threads"
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(
            capacity: min(capacity, config.contextLength), layerCount: config.blockCount,
            kvDimension: config.kvDimension)
    }

    public func dispatch(_ rows: [BatchRow]) throws -> Logits {
        let (exchanged, _) = dispatching.compareExchange(
            expected: false, desired: true, ordering: .acquiring)
        precondition(exchanged, "CPUDevice.dispatch entered from two threads at once")
        defer { dispatching.store(false, ordering: .releasing) }
        try validate(rows)
        let w = workspace
        let e = config.embeddingLength

        // Embedding: one row of the token table per batch row.
        let table = weights.tokenEmbedding
        for (i, row) in rows.enumerated() {
            asth_dequantize_row(
                table.type, table.data + row.token * table.rowBytes, w.x + i * e, Int64(e))
        }

        // RoPE's angles of each row's position, for every layer.
        let ropeDimensions = config.ropeDimensions
        for (i, row) in rows.enumerated() {
            asth_rope_angles(
                Int64(ropeDimensions), Int64(row.position), config.ropeFreqBase,
                ropeAngles + i * ropeDimensions)
        }

        // The blocks: attention then feed-forward, each adding to the residual stream.
        let batched = batchedRows(rows)
        for (index, layer) in weights.layers.enumerated() {
            attention(layer: index, weights: layer, rows: rows, batched: batched)
            feedForward(weights: layer, rowCount: rows.count)
        }
        for row in rows {
            row.cache.count = max(row.cache.count, row.position + 1)
        }

        // Final norm and the score head, for the rows that want logits.
        return head(rows: rows)
    }

    /// Refuses a batch the workspace or a cache cannot hold.
    private func validate(_ rows: [BatchRow]) throws {
        precondition(!rows.isEmpty && rows.count <= rowsMax, "batch of \(rows.count) rows")
        for row in rows {
            guard row.token >= 0 && row.token < config.vocabularySize else {
                throw InferenceError.tokenOutOfRange(
                    token: row.token, vocabularySize: config.vocabularySize)
            }
            // A cache may be made longer than the trained context, but the
            // attention scratch holds `contextLength` scores: stop there too.
            let capacity = min(row.cache.capacity, config.contextLength)
            guard row.position < capacity else {
                throw InferenceError.contextFull(positions: row.position + 1, capacity: capacity)
            }
            precondition(
                row.position >= 0 && row.position <= row.cache.count + rows.count,
                "row at position \(row.position) leaves a gap in a cache of \(row.cache.count)")
        }
    }
}

// MARK: - The pipeline

/// Rows [0, rowCount) and the work for a range of them, handed to pool threads.
private struct RowsJob {
    let rowCount: Int
    let body: (Range<Int>) -> Void
}

extension CPUDevice {
    /// PreScale › Q/K/V › RoPE › cache write › Attention › O proj › ResAdd.
    private func attention(
        layer: Int, weights lw: LlamaLayerWeights, rows: [BatchRow], batched: [Bool]
    ) {
        let w = workspace
        let c = config
        let (e, kvd, hd) = (c.embeddingLength, c.kvDimension, c.headDimension)
        let n = rows.count

        // PreScale: RMSNorm of the residual stream, quantized once for Q, K and V.
        let input = normalized(by: lw.attentionNorm, rows: n)

        // Q, K and V projections in one pool run.
        var jobs = [
            job(lw.query, input, rows: n, into: w.q),
            job(lw.key, input, rows: n, into: w.k),
            job(lw.value, input, rows: n, into: w.v),
        ]
        asth_pool_matmuls(pool, &jobs, Int32(jobs.count))

        // RoPE on queries and keys, each row at its own position; keys and
        // values go into each row's cache before anyone attends.
        let ropeDimensions = c.ropeDimensions
        forEachRows(n) { range in
            for i in range {
                let row = rows[i]
                let angles = ropeAngles + i * ropeDimensions
                asth_rope_turn(
                    w.q + i * e, Int64(c.headCount), Int64(hd), Int64(ropeDimensions), angles)
                asth_rope_turn(
                    w.k + i * kvd, Int64(c.kvHeadCount), Int64(hd), Int64(ropeDimensions),
                    angles)
                asth_f32_to_f16_row(
                    w.k + i * kvd, row.cache.keyRow(layer: layer, position: row.position),
                    Int64(kvd))
                asth_f32_to_f16_row(
                    w.v + i * kvd, row.cache.valueRow(layer: layer, position: row.position),
                    Int64(kvd))
            }
        }

        // Attention: every query head over its KV head's positions up to its own.
        attendHeads(layer: layer, rows: rows, batched: batched)

        // O projection, then the residual add.
        let attended = quantized(w.attended, columns: e, rows: n)
        project(lw.output, attended, rows: n, into: w.xb)
        addResidual(rows: n)
    }

    /// For each row, whether its sequence has two rows or more in the dispatch.
    ///
    /// llama.cpp orders the attention products one way for a lone token and
    /// another for several (Kernels/CPU/NUMERICS.md). The choice counts the
    /// prompt rows of each sequence, not the rows of the dispatch, so a
    /// sequence's numbers do not depend on what else shares the dispatch;
    /// rows that feed back a generated token (`decodes`) always take the
    /// one-token order, so verifying drafts together changes no greedy token.
    private func batchedRows(_ rows: [BatchRow]) -> [Bool] {
        guard rows.count > 1 else { return [false] }
        let rowsPerCache = Dictionary(grouping: rows.filter { !$0.decodes }) {
            ObjectIdentifier($0.cache)
        }.mapValues(\.count)
        return rows.map { row in
            !row.decodes && rowsPerCache[ObjectIdentifier(row.cache), default: 0] >= 2
        }
    }

    /// Attention of every query head of every row over its KV head's cached
    /// positions up to the row's own, into `workspace.attended`, each row in
    /// the order `batched` gives it. Enough work goes to the pool, one KV
    /// head's group of query heads at a time; a little runs here, where a
    /// pool run would cost more than it saves. Both give the same numbers.
    private func attendHeads(layer: Int, rows: [BatchRow], batched: [Bool]) {
        let w = workspace
        let c = config
        let (e, kvd, hd) = (c.embeddingLength, c.kvDimension, c.headDimension)
        let scale = 1 / Float(hd).squareRoot()
        let attentionRows = rows.enumerated().map { i, row in
            asth_attention_row(
                q: w.q + i * e, k: row.cache.keyRow(layer: layer, position: 0),
                v: row.cache.valueRow(layer: layer, position: 0), n_pos: Int64(row.position + 1),
                batched: batched[i] ? 1 : 0, out: w.attended + i * e)
        }
        let work = rows.reduce(0) { $0 + ($1.position + 1) * c.headCount }
        guard work < Self.pooledAttentionWorkMin || threadCount == 1 else {
            asth_pool_attention(
                pool, attentionRows, Int64(rows.count), Int64(c.headCount),
                Int64(c.kvHeadCount), Int64(hd), Int64(kvd), scale, attentionScratch,
                Int64(attentionScratchPerThread))
            return
        }
        let group = c.headCount / c.kvHeadCount
        for row in attentionRows {
            for kvHead in 0..<c.kvHeadCount {
                let (qOffset, kvOffset) = (kvHead * group * hd, kvHead * hd)
                asth_attention_group(
                    row.q + qOffset, Int64(group), row.k + kvOffset, row.v + kvOffset,
                    Int64(kvd), row.n_pos, Int64(hd), scale, row.batched, attentionScratch,
                    row.out + qOffset)
            }
        }
    }

    /// Head·positions of attention in one dispatch below which it runs on
    /// the dispatching thread: a pool run costs a few microseconds, about
    /// what this much attention takes.
    static let pooledAttentionWorkMin = 2048

    /// PreScale2 › Gate+SiLU+Up › EltMul › Down › FFN ResAdd.
    private func feedForward(weights lw: LlamaLayerWeights, rowCount n: Int) {
        let w = workspace
        let f = config.feedForwardLength

        // PreScale2: RMSNorm of the residual stream, quantized.
        let input = normalized(by: lw.ffnNorm, rows: n)

        // Gate and up projections, then silu(gate) * up into the gate rows, in
        // one pool run (the pool keeps ggml's vector groups from each row's start).
        var gate = job(lw.gate, input, rows: n, into: w.gate)
        var up = job(lw.up, input, rows: n, into: w.up)
        asth_pool_swiglu(pool, &gate, &up, w.gate)

        // Down projection, then the residual add.
        let hidden = quantized(w.gate, columns: f, rows: n)
        project(lw.down, hidden, rows: n, into: w.xb)
        addResidual(rows: n)
    }

    /// Final RMSNorm and the score head for the rows that asked for logits.
    private func head(rows: [BatchRow]) -> Logits {
        let w = workspace
        let e = config.embeddingLength
        let wanted = rows.indices.filter { rows[$0].wantsLogits }
        let vocabulary = config.vocabularySize
        let logits = w.logits(rows: wanted.count)
        guard !wanted.isEmpty else {
            return Logits(base: logits, rowCount: 0, vocabularySize: vocabulary)
        }

        for (slot, i) in wanted.enumerated() {
            asth_rmsnorm(
                w.x + i * e, weights.outputNorm, w.xb + slot * e, Int64(e),
                config.rmsEpsilon)
        }
        let input = w.activations(w.xb, columns: e, rows: wanted.count)
        project(weights.output, input, rows: wanted.count, into: logits)
        return Logits(base: logits, rowCount: wanted.count, vocabularySize: vocabulary)
    }

    /// The residual stream's rows [0, n) normalized by `norm` into
    /// `workspace.xb`, and quantized.
    private func normalized(by norm: [Float], rows n: Int) -> Workspace.Activations {
        let w = workspace
        let (e, epsilon) = (config.embeddingLength, config.rmsEpsilon)
        norm.withUnsafeBufferPointer { weights in
            forEachRows(n) { range in
                for i in range {
                    asth_rmsnorm(w.x + i * e, weights.baseAddress, w.xb + i * e, Int64(e), epsilon)
                }
            }
        }
        return quantized(w.xb, columns: e, rows: n)
    }

    /// Rows [0, n) of `floats` (`columns` wide) quantized into the workspace's
    /// q8a buffer, as `Workspace.activations` does, split across the pool.
    private func quantized(_ floats: UnsafeMutablePointer<Float>, columns: Int, rows n: Int)
        -> Workspace.Activations
    {
        let w = workspace
        let blocks = columns / Int(ASTH_QK)
        forEachRows(n) { range in
            for i in range {
                asth_quantize_row_q8a(
                    floats + i * columns, w.quantized + i * blocks, Int64(columns))
            }
        }
        return Workspace.Activations(floats: floats, quantized: w.quantized, columns: columns)
    }

    /// x += xb over rows [0, n) of the residual stream.
    private func addResidual(rows n: Int) {
        let w = workspace
        let e = config.embeddingLength
        forEachRows(n) { range in
            let offset = range.lowerBound * e
            asth_add(w.x + offset, w.xb + offset, Int64(range.count * e))
        }
    }

    /// Rows of one dispatch from which per-row work (norms, quantization,
    /// RoPE, residual adds) is split across the pool. A pool run costs a
    /// few microseconds, about what two rows of such work take (seven runs a
    /// layer): from 4 rows the split gains 2-6% of a dispatch on 2 threads
    /// (8 rows 12.5 -> 11.9 ms, 5 rows 8.7 -> 8.4 ms), at 2 rows it loses
    /// (5.0 -> 5.4 ms).
    static let pooledRowsMin = 4

    /// Runs `body` over ranges that cover rows [0, n), split across the pool
    /// when there are enough rows, else over 0..<n here. Rows are
    /// independent, so the split changes no number.
    private func forEachRows(_ n: Int, _ body: (Range<Int>) -> Void) {
        guard n >= Self.pooledRowsMin && threadCount > 1 else {
            body(0..<n)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var job = RowsJob(rowCount: n, body: escaping)
            withUnsafeMutablePointer(to: &job) { pointer in
                asth_pool_run(
                    pool,
                    { context, index, count in
                        let job = context!.assumingMemoryBound(to: RowsJob.self).pointee
                        let share = (job.rowCount + Int(count) - 1) / Int(count)
                        let lower = min(job.rowCount, Int(index) * share)
                        let upper = min(job.rowCount, lower + share)
                        if lower < upper { job.body(lower..<upper) }
                    }, pointer)
            }
        }
    }

    /// out[row][0..<matrix.rows] = matrix · input[row], split across the pool.
    private func project(
        _ matrix: WeightMatrix, _ input: Workspace.Activations, rows n: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        var single = job(matrix, input, rows: n, into: out)
        asth_pool_matmuls(pool, &single, 1)
    }

    /// The pool's description of out[row][0..<matrix.rows] = matrix · input[row].
    private func job(
        _ matrix: WeightMatrix, _ input: Workspace.Activations, rows n: Int,
        into out: UnsafeMutablePointer<Float>
    ) -> asth_matmul_job {
        let quantized = matrix.takesQuantizedInput
        let x = quantized ? UnsafeRawPointer(input.quantized) : UnsafeRawPointer(input.floats)
        let stride = quantized ? input.quantizedRowBytes : input.columns * 4
        return asth_matmul_job(
            type: matrix.type, w: matrix.data, n_in: Int64(matrix.columns),
            n_out: Int64(matrix.rows), x: x, x_stride_bytes: Int64(stride), n_batch: Int64(n),
            out: out, out_stride: Int64(matrix.rows))
    }
}
