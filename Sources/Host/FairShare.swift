/// Weighted fair queuing of device time over tenants (personas).
///
/// Every tenant has a virtual time: the device seconds attributed to it,
/// divided by its weight. Each dispatch is filled by picking, again and
/// again, the tenant with the least virtual time that still has work, so
/// under contention each tenant's share of device time tends to its
/// weight's share. A dispatch's measured time is attributed to tenants by
/// the rows they had in it.
///
/// Pure and deterministic: it never reads a clock; the engine passes the
/// measured times in. Tests drive it with made-up times.
struct FairShare {
    /// One tenant's account of device time.
    struct Tenant {
        /// Its weight (`economy.priority`), at least 1.
        var weight: Int
        /// Attributed device seconds divided by the weight.
        var virtualSeconds = 0.0
        /// Device seconds attributed to its rows so far.
        var deviceSeconds = 0.0
        /// Rows it had in dispatches so far.
        var rows = 0
        /// Whether it had work at the last plan; a tenant coming back from
        /// idle starts at the system virtual time.
        var isBacklogged = false
    }

    /// What a sequence can put in the next dispatch.
    struct Candidate {
        /// The engine's index of the sequence.
        var index: Int
        var tenant: String
        /// Prompt positions it still has to prefill; 0 when it decodes.
        var prefillRows: Int
        /// The dispatch it last rode in: the least recent goes first.
        var lastDispatch: Int
    }

    /// A sequence chosen for the next dispatch, with its row count.
    struct Pick: Equatable {
        var index: Int
        var rows: Int
    }

    private(set) var tenants: [String: Tenant] = [:]
    /// The least virtual time of the tenants with work, kept while none
    /// has any: where a tenant coming back from idle starts. Never decreases.
    private(set) var systemVirtualSeconds = 0.0
    /// Seconds one row costs, smoothed over recent dispatches: how much a
    /// pick advances its tenant's virtual time while a dispatch is planned.
    private(set) var rowSecondsEstimate = 0.001

    /// Weight given to the newest dispatch in `rowSecondsEstimate`.
    static let estimateSmoothing = 0.2

    /// Sets `tenant`'s weight, adding it if new.
    mutating func register(_ tenant: String, weight: Int) {
        precondition(weight >= 1, "fair share weight \(weight) of \(tenant)")
        tenants[tenant, default: Tenant(weight: weight)].weight = weight
    }

    /// Marks which tenants have work now. A tenant that had none before
    /// starts at the system virtual time: it neither banks credit while
    /// idle nor pays later for device time that nobody else wanted.
    mutating func backlog(_ busy: Set<String>) {
        advanceSystemTime()
        for name in tenants.keys {
            let isBusy = busy.contains(name)
            if isBusy, !tenants[name]!.isBacklogged {
                tenants[name]!.virtualSeconds = max(
                    tenants[name]!.virtualSeconds, systemVirtualSeconds)
            }
            tenants[name]!.isBacklogged = isBusy
        }
        advanceSystemTime()
    }

    /// Moves the system virtual time up to the least virtual time of the
    /// tenants with work.
    private mutating func advanceSystemTime() {
        let floor = tenants.values.filter(\.isBacklogged).map(\.virtualSeconds).min()
        systemVirtualSeconds = max(systemVirtualSeconds, floor ?? systemVirtualSeconds)
    }

    /// The tenant among `names` that should be served next: the least
    /// virtual time, then the name, so the choice is deterministic.
    func first(among names: some Sequence<String>) -> String? {
        names.min { a, b in
            let (va, vb) = (tenants[a]?.virtualSeconds ?? 0, tenants[b]?.virtualSeconds ?? 0)
            return va != vb ? va < vb : a < b
        }
    }

    /// Fills one dispatch: at most `slots` sequences, prefilling at most
    /// `prefillRows` prompt positions together; a decoding sequence adds
    /// one row.
    func plan(_ candidates: [Candidate], slots: Int, prefillRows: Int) -> [Pick] {
        // Each tenant's candidates, least recently served first.
        var waiting: [String: [Candidate]] = [:]
        for candidate in candidates {
            waiting[candidate.tenant, default: []].append(candidate)
        }
        for name in waiting.keys {
            waiting[name]!.sort {
                ($0.lastDispatch, $0.index) < ($1.lastDispatch, $1.index)
            }
        }

        // Pick the least-served tenant's next sequence until the batch is full.
        var tentative = tenants.mapValues(\.virtualSeconds)
        var picks: [Pick] = []
        var prefillLeft = prefillRows
        while picks.count < slots {
            let eligible = waiting.filter { _, queue in
                queue.contains { $0.prefillRows == 0 || prefillLeft > 0 }
            }
            guard
                let name = eligible.keys.min(by: { a, b in
                    let (va, vb) = (tentative[a] ?? 0, tentative[b] ?? 0)
                    return va != vb ? va < vb : a < b
                })
            else { break }
            let at = waiting[name]!.firstIndex { $0.prefillRows == 0 || prefillLeft > 0 }!
            let candidate = waiting[name]!.remove(at: at)
            let rows = candidate.prefillRows == 0 ? 1 : min(candidate.prefillRows, prefillLeft)
            if candidate.prefillRows > 0 { prefillLeft -= rows }
            let weight = Double(tenants[name]?.weight ?? 1)
            tentative[name, default: 0] += Double(rows) * rowSecondsEstimate / weight
            picks.append(Pick(index: candidate.index, rows: rows))
        }
        return picks
    }

    /// Attributes a dispatch of `seconds` to tenants by their rows in it.
    mutating func attribute(rows: [String: Int], seconds: Double) {
        let total = rows.values.reduce(0, +)
        guard total > 0 else { return }
        for (name, count) in rows {
            let share = seconds * Double(count) / Double(total)
            var tenant = tenants[name] ?? Tenant(weight: 1)
            tenant.deviceSeconds += share
            tenant.virtualSeconds += share / Double(tenant.weight)
            tenant.rows += count
            tenants[name] = tenant
        }
        let perRow = seconds / Double(total)
        rowSecondsEstimate += Self.estimateSmoothing * (perRow - rowSecondsEstimate)
    }
}
