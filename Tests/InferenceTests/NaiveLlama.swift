import Foundation
import Inference

/// The llama forward pass written for clarity, not speed: plain Swift in
/// Double, from the dense (dequantized) weights, every position recomputed
/// from scratch. It shares no code with the device; the forward tests hold
/// the device to it.
///
/// The graph is llama.cpp's `llm_build_llama` as the GGUF format defines
/// it: RMSNorm, Q/K/V projections, RoPE in ggml's normal mode (adjacent
/// pairs), causal attention with query heads sharing KV heads in
/// consecutive groups, O projection, residual add, RMSNorm, SwiGLU
/// feed-forward, residual add; then the final norm and the head.
struct NaiveLlama {
    /// A deliberate mistake, to show that the forward tests can tell a
    /// wrong graph from the right one.
    enum Flaw: String, CaseIterable, Sendable {
        /// RoPE on the pairs (i, i + d/2), ggml's NeoX mode.
        case neoxRope
        /// Query head h reads KV head h mod kvHeads instead of h / group.
        case interleavedKVHeads
        /// Every position attends to the whole sequence, future included.
        case seesTheFuture
        /// silu(up) · gate instead of silu(gate) · up.
        case gateUpSwapped
    }

    let config: LlamaConfig
    let weights: DenseWeights
    var flaw: Flaw?

    init(_ model: TinyLlama, flaw: Flaw? = nil) {
        config = model.config
        weights = model.dense
        self.flaw = flaw
    }

    /// Logits at every position of `tokens`: [tokens.count][vocabulary].
    func logits(_ tokens: [Int]) -> [[Double]] {
        let e = config.embeddingLength

        // Embedding: the token's row of the table.
        var x: [[Double]] = tokens.map { token in
            weights.tokenEmbedding[token * e..<(token + 1) * e].map(Double.init)
        }

        // The blocks, each adding attention then feed-forward to the stream.
        for layer in weights.layers {
            let attended = attention(layer, x)
            x = zip(x, attended).map(add)
            let fed = feedForward(layer, x)
            x = zip(x, fed).map(add)
        }

        // Final norm and the head.
        return x.map { row in
            multiply(weights.output, rmsNorm(row, weights.outputNorm))
        }
    }

    // MARK: Attention

    /// The attention block's output for every position: [positions][embedding].
    private func attention(_ layer: DenseWeights.Layer, _ x: [[Double]]) -> [[Double]] {
        let c = config
        let hd = c.headDimension

        // Projections of the normed stream, then RoPE at each position.
        let normed = x.map { rmsNorm($0, layer.attentionNorm) }
        let queries = normed.enumerated().map { position, row in
            rope(multiply(layer.query, row), heads: c.headCount, position: position)
        }
        let keys = normed.enumerated().map { position, row in
            rope(multiply(layer.key, row), heads: c.kvHeadCount, position: position)
        }
        let values = normed.map { multiply(layer.value, $0) }

        // Each query head over its KV head's positions, up to its own.
        let group = c.headCount / c.kvHeadCount
        let attended: [[Double]] = (0..<x.count).map { position in
            let visible = flaw == .seesTheFuture ? x.count : position + 1
            return (0..<c.headCount).flatMap { h in
                let kvHead = flaw == .interleavedKVHeads ? h % c.kvHeadCount : h / group
                let q = Array(queries[position][h * hd..<(h + 1) * hd])
                let k = keys[0..<visible].map { Array($0[kvHead * hd..<(kvHead + 1) * hd]) }
                let v = values[0..<visible].map { Array($0[kvHead * hd..<(kvHead + 1) * hd]) }
                return attendOneHead(q, keys: k, values: v)
            }
        }

        // O projection.
        return attended.map { multiply(layer.output, $0) }
    }

    /// softmax(q·kᵢ / √d) weighted sum of the vᵢ.
    private func attendOneHead(_ q: [Double], keys: [[Double]], values: [[Double]]) -> [Double] {
        let scale = 1 / Double(q.count).squareRoot()
        let probabilities = softmax(keys.map { dot(q, $0) * scale })
        var out = [Double](repeating: 0, count: q.count)
        for (p, v) in zip(probabilities, values) {
            for d in out.indices {
                out[d] += p * v[d]
            }
        }
        return out
    }

    /// Turns the first `ropeDimensions` of each head by position · base^(−2i/ropeDimensions),
    /// pair i being (2i, 2i + 1), or (i, i + ropeDimensions/2) under the NeoX flaw.
    private func rope(_ x: [Double], heads: Int, position: Int) -> [Double] {
        let (hd, rd) = (config.headDimension, config.ropeDimensions)
        let base = Double(config.ropeFreqBase)
        var out = x
        for h in 0..<heads {
            for i in 0..<rd / 2 {
                let theta = Double(position) * pow(base, -2 * Double(i) / Double(rd))
                let (a, b) = flaw == .neoxRope ? (i, i + rd / 2) : (2 * i, 2 * i + 1)
                let (x0, x1) = (x[h * hd + a], x[h * hd + b])
                out[h * hd + a] = x0 * cos(theta) - x1 * sin(theta)
                out[h * hd + b] = x0 * sin(theta) + x1 * cos(theta)
            }
        }
        return out
    }

    // MARK: Feed-forward

    /// down(silu(gate(x)) · up(x)) of the normed stream: [positions][embedding].
    private func feedForward(_ layer: DenseWeights.Layer, _ x: [[Double]]) -> [[Double]] {
        x.map { row in
            let normed = rmsNorm(row, layer.ffnNorm)
            var gate = multiply(layer.gate, normed)
            var up = multiply(layer.up, normed)
            if flaw == .gateUpSwapped {
                swap(&gate, &up)
            }
            let hidden = zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
            return multiply(layer.down, hidden)
        }
    }

    // MARK: Arithmetic

    /// x / √(mean(x²) + ε) · w.
    private func rmsNorm(_ x: [Double], _ w: [Float]) -> [Double] {
        let meanSquare = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let scale = 1 / (meanSquare + Double(config.rmsEpsilon)).squareRoot()
        return zip(x, w).map { $0 * scale * Double($1) }
    }

    /// matrix · x, the matrix row-major with x.count columns. Through
    /// buffer pointers only because unoptimised test builds check every
    /// array subscript, and this loop is nearly all of the reference's time.
    private func multiply(_ matrix: [Float], _ x: [Double]) -> [Double] {
        let columns = x.count
        return matrix.withUnsafeBufferPointer { m in
            x.withUnsafeBufferPointer { x in
                (0..<m.count / columns).map { row in
                    var sum = 0.0
                    for j in 0..<columns {
                        sum += Double(m[row * columns + j]) * x[j]
                    }
                    return sum
                }
            }
        }
    }

    private func softmax(_ x: [Double]) -> [Double] {
        let top = x.max()!
        let exponentials = x.map { exp($0 - top) }
        let sum = exponentials.reduce(0, +)
        return exponentials.map { $0 / sum }
    }

    private func dot(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }

    private func add(_ a: [Double], _ b: [Double]) -> [Double] {
        zip(a, b).map(+)
    }
}
