import CPUKernels
import GGUF
import Support

/// Memory holding weight matrices repacked into the kernels' panels; freed
/// with the weights that point into it.
final class PanelBuffers: @unchecked Sendable {
    private var buffers: [UnsafeMutableRawPointer] = []
    /// Bytes held, for the load log.
    private(set) var byteCount = 0

    /// A new buffer of `byteCount` bytes, aligned as the kernels want it.
    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let buffer = UnsafeMutableRawPointer.allocate(
            byteCount: byteCount, alignment: Int(ASTH_PANEL_ALIGN))
        buffers.append(buffer)
        self.byteCount += byteCount
        return buffer
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }
}

/// Repacks the quantized matrices of a model into panels of 16 rows once,
/// at load, for a kernel variant that reads them (the AVX-512 matmul), and
/// gives the mapped file's pages back as it goes, so memory holds one copy
/// of the weights: the packed one. Pages read again later (the token
/// embedding's rows, when it is also the output head) come back from the
/// file.
struct PanelPacker {
    let gguf: GGUFFile
    let buffers = PanelBuffers()

    /// Panels packed between two releases of the file's pages: the largest
    /// matrix (the output head, 28 MB in the default model) would otherwise
    /// be resident twice at the peak; a slice of this many panels of 16
    /// rows is a few hundred kilobytes.
    static let panelsPerSlice = 256

    /// `matrix` packed into panels, or `matrix` itself when its type has
    /// no panel layout (F32, F16).
    func pack(_ matrix: WeightMatrix) -> WeightMatrix {
        let panelType = asth_panel_type(matrix.type)
        guard panelType != ASTH_TYPE_F32 else { return matrix }
        let (columns, rows) = (Int64(matrix.columns), Int64(matrix.rows))
        let panels = buffers.allocate(
            byteCount: asth_panel_bytes(panelType, columns, rows))
        let panelCount = (matrix.rows + Int(ASTH_PANEL_ROWS) - 1) / Int(ASTH_PANEL_ROWS)

        // Slice by slice, then the file's pages behind the slice.
        for begin in stride(from: 0, to: panelCount, by: Self.panelsPerSlice) {
            let end = min(begin + Self.panelsPerSlice, panelCount)
            asth_panel_pack(
                matrix.type, matrix.data, columns, rows, Int64(begin), Int64(end), panels)
            let rowsDone = min(end * Int(ASTH_PANEL_ROWS), matrix.rows)
            gguf.releasePages(
                UnsafeRawBufferPointer(start: matrix.data, count: rowsDone * matrix.rowBytes))
        }
        return WeightMatrix(
            type: panelType, data: UnsafeRawPointer(panels), rows: matrix.rows,
            columns: matrix.columns, rowBytes: matrix.rowBytes)
    }

    /// Gives back every page of the file's tensor data, the pages between
    /// two packed matrices included (each release above keeps a page it
    /// only partly covers). Everything read from there after load pages
    /// back in from the file.
    func releaseTensorData() {
        let ranges = gguf.tensors.map { gguf.data(of: $0) }.filter { $0.count > 0 }
        guard let first = ranges.min(by: { $0.baseAddress! < $1.baseAddress! }),
            let last = ranges.max(by: { $0.baseAddress! < $1.baseAddress! })
        else { return }
        let start = first.baseAddress!
        let count = last.baseAddress! + last.count - start
        gguf.releasePages(UnsafeRawBufferPointer(start: start, count: count))
    }
}
