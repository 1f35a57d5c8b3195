import Foundation

/// Rows of text in aligned columns, for the reports a person reads: text
/// columns flush left, numbers flush right, a title row on top.
struct Table {
    /// Which side of its column a cell keeps to.
    enum Alignment {
        /// Names, times, ids.
        case left
        /// Counts and amounts, so that their digits line up.
        case right
    }

    /// One column: its title (with the unit, if any) and alignment.
    struct Column {
        let title: String
        let alignment: Alignment
    }

    let columns: [Column]
    private(set) var rows: [[String]] = []

    /// Spaces between two columns.
    static let gap = 2

    /// A table with `columns` given as (title, alignment) pairs.
    init(_ columns: [(String, Alignment)]) {
        self.columns = columns.map { Column(title: $0.0, alignment: $0.1) }
    }

    /// Appends one row; it must have a cell per column.
    mutating func add(_ cells: [String]) {
        precondition(
            cells.count == columns.count,
            "Table: row of \(cells.count) cells for \(columns.count) columns")
        rows.append(cells)
    }

    var isEmpty: Bool { rows.isEmpty }

    /// The title row and every row, each indented by `indent` spaces.
    func lines(indent: Int = 2) -> [String] {
        // The widest cell of each column, title included.
        var widths = columns.map(\.title.count)
        for row in rows {
            for (index, cell) in row.enumerated() {
                widths[index] = max(widths[index], cell.count)
            }
        }

        // Pad each cell to its column's width on the side away from its text;
        // a last column flush left needs no padding.
        let prefix = String(repeating: " ", count: indent)
        let separator = String(repeating: " ", count: Self.gap)
        return ([columns.map(\.title)] + rows).map { row in
            let cells = row.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                switch columns[index].alignment {
                case .right: return padding + cell
                case .left: return index == columns.count - 1 ? cell : cell + padding
                }
            }
            return prefix + cells.joined(separator: separator)
        }
    }
}

/// How reports spell times, durations and Motes.
enum ReportFormat {
    /// A Unix time in milliseconds as UTC ISO 8601, to the second.
    static func time(ms: Int64) -> String {
        Date(timeIntervalSince1970: Double(ms) / 1000).formatted(.iso8601)
    }

    /// A span of milliseconds in its largest unit and the next one, when
    /// not zero: `3 d 4 h`, `7 h 40 min`, `12 min`, `35 s`; `0 s` under a
    /// second.
    static func duration(ms: Int64) -> String {
        let units: [(name: String, seconds: Int64)] = [
            ("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1),
        ]
        let total = max(ms, 0) / 1000
        guard let lead = units.firstIndex(where: { total >= $0.seconds }) else { return "0 s" }
        var text = "\(total / units[lead].seconds) \(units[lead].name)"
        if lead + 1 < units.count {
            let next = units[lead + 1]
            let rest = total % units[lead].seconds / next.seconds
            if rest > 0 { text += " \(rest) \(next.name)" }
        }
        return text
    }
}
