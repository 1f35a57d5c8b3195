import CPUKernels
import Foundation
import GGUF
import Inference

/// `asth models`: what the model store holds.
enum ModelsCommand {
    struct Row: Encodable {
        let name: String
        let path: String
        let architecture: String
        let parameters: Int
        let size_bytes: Int
    }

    static func run(_ arguments: inout Arguments) throws {
        let context = try Context(&arguments)
        let json = arguments.flag("--json")
        try arguments.finish()
        let store = ModelStore(home: context.home)
        var rows: [Row] = []
        for name in store.names() {
            let url = try store.resolve(name)
            guard let file = try? GGUFFile(path: url.path) else { continue }
            let architecture = (try? file.string("general.architecture")) ?? "?"
            let parameters = file.tensors.reduce(0) { $0 + $1.elementCount }
            rows.append(
                Row(
                    name: name, path: url.path, architecture: architecture,
                    parameters: parameters, size_bytes: file.fileSizeBytes))
        }
        if json {
            try printJSON(rows)
            return
        }
        if rows.isEmpty {
            print("no models in \(store.folder.path); run `make model` to install the default")
        }
        for r in rows {
            let millions = String(format: "%.1fM", Double(r.parameters) / 1e6)
            let megabytes = String(format: "%.1f MB", Double(r.size_bytes) / 1e6)
            print("\(r.name)  \(r.architecture)  \(millions) parameters  \(megabytes)")
        }
    }
}

/// `asth devices`: the devices this host can run on.
enum DevicesCommand {
    struct Row: Encodable {
        let name: String
        let kernels: String
        let best: String
        let cores: Int
    }

    static func run(_ arguments: inout Arguments) throws {
        let json = arguments.flag("--json")
        try arguments.finish()
        let row = Row(
            name: "cpu", kernels: String(cString: asth_variant_name(asth_variant_current())),
            best: String(cString: asth_variant_name(asth_variant_best())),
            cores: ProcessInfo.processInfo.activeProcessorCount)
        if json {
            try printJSON([row])
        } else {
            print("cpu  kernels \(row.kernels) (best \(row.best))  \(row.cores) cores")
            print("npu  not available on this build")
        }
    }
}
