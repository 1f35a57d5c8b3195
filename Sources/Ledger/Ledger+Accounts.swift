extension Ledger {
    /// Names of every persona with an account, sorted.
    public func personaNames() throws -> [String] {
        try store.withLock { store in
            try store.accountsById().values.filter { $0.kind == .persona }.map(\.name).sorted()
        }
    }
}
