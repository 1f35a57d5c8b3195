import Inference
import Testing

/// A sequence's logits depend on how many of its own rows share a dispatch
/// (one, or several: llama.cpp's two attention orders), and on nothing else:
/// not on how a prompt is split into chunks of two or more, nor on other
/// sequences in the same dispatch.
@Suite("Batch invariance on the real model")
struct BatchInvarianceTests {
    /// Prefill chunk sizes of the first fixture prompt (27 tokens); none is 1.
    static let chunkings: [[Int]] = [[27], [10, 10, 7], [2, 23, 2], [13, 14]]

    @Test("prefill logits do not depend on chunks of two rows or more")
    func chunking() throws {
        let prompt = Reference.shared.greedy[0].prompt_ids
        let device = try TestModel.device()
        var results: [[Float]] = []
        for sizes in Self.chunkings {
            precondition(sizes.reduce(0, +) == prompt.count, "chunks cover the prompt")
            let cache = device.makeCache(capacity: 64)
            var start = 0
            var last: [Float] = []
            for size in sizes {
                let rows = (start..<start + size).map { position in
                    BatchRow(
                        cache: cache, position: position, token: prompt[position],
                        wantsLogits: position == prompt.count - 1)
                }
                let logits = try device.dispatch(rows)
                if logits.rowCount == 1 { last = Array(logits.row(0)) }
                start += size
            }
            results.append(last)
        }
        for (sizes, logits) in zip(Self.chunkings, results).dropFirst() {
            #expect(logits == results[0], "chunks \(sizes)")
        }
    }

    @Test("a decode row's logits do not depend on other sequences in the dispatch")
    func otherSequences() throws {
        let promptA = Reference.shared.greedy[0].prompt_ids
        let promptB = Reference.shared.greedy[2].prompt_ids
        let device = try TestModel.device()

        // Each sequence prefilled on its own.
        let cacheA = device.makeCache(capacity: 64)
        let cacheB = device.makeCache(capacity: 64)
        for (cache, prompt) in [(cacheA, promptA), (cacheB, promptB)] {
            let rows = prompt.enumerated().map { position, token in
                BatchRow(cache: cache, position: position, token: token, wantsLogits: false)
            }
            _ = try device.dispatch(rows)
        }

        // A's next token alone, then again beside two rows of B.
        let token = Reference.shared.greedy[0].ids[0]
        let rowA = BatchRow(
            cache: cacheA, position: promptA.count, token: token, wantsLogits: true)
        let alone = Array(try device.dispatch([rowA]).row(0))
        cacheA.truncate(to: promptA.count)
        let rowsB = (0..<2).map { i in
            BatchRow(
                cache: cacheB, position: promptB.count + i, token: promptB[i],
                wantsLogits: false)
        }
        let shared = Array(try device.dispatch([rowsB[0], rowA, rowsB[1]]).row(0))
        #expect(shared == alone)
    }
}
