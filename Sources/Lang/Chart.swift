/// A 2-D chart the interpreter asks the shell to draw (the shell renders it with gnuplot).
public struct Chart: Equatable {
    public struct Series: Equatable {
        public var label: String
        public var points: [(Double, Double)]
        public var withPoints: Bool
        public static func == (a: Series, b: Series) -> Bool {
            a.label == b.label && a.withPoints == b.withPoints && a.points.elementsEqual(b.points) { $0 == $1 }
        }
    }
    /// File name stem, e.g. "layer-curve".
    public var name: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Shaded interval around the first series: (x, low, high).
    public var band: [(Double, Double, Double)] = []
    public var hLine: (value: Double, label: String)?
    /// Marked points: (x, y, label).
    public var marks: [(Double, Double, String)] = []
    /// A matrix drawn as a heatmap instead of series (e.g. layer × epoch, or an interference matrix).
    public var heatmap: Heatmap?

    public static func == (a: Chart, b: Chart) -> Bool {
        a.name == b.name && a.title == b.title && a.series == b.series && a.band.elementsEqual(b.band) { $0 == $1 } && a.heatmap == b.heatmap
    }
}

/// A labelled matrix for a heatmap: `values[row][column]`; NaN marks a missing cell.
public struct Heatmap: Equatable {
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var values: [[Double]]
    /// What the colour means, e.g. "validation acc_norm".
    public var valueLabel: String
    /// Values are signed changes: a diverging palette with white at 0 and a range symmetric about it.
    public var centered = false
    /// Row 0 at the top (a matrix), instead of at the bottom (an axis).
    public var topDown = false
    /// printf format of the printed cell values.
    public var valueFormat = "%.3f"
    public init(rowLabels: [String], columnLabels: [String], values: [[Double]], valueLabel: String) {
        self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.values = values; self.valueLabel = valueLabel
    }
    public static func == (a: Heatmap, b: Heatmap) -> Bool {
        a.rowLabels == b.rowLabels && a.columnLabels == b.columnLabels && a.valueLabel == b.valueLabel && a.centered == b.centered && a.topDown == b.topDown && a.valueFormat == b.valueFormat
            && a.values.elementsEqual(b.values) { $0.elementsEqual($1) { $0 == $1 || ($0.isNaN && $1.isNaN) } }
    }

    /// The matrix as an aligned text table (the terminal's rendering; gnuplot's dumb terminal cannot draw images).
    public var text: String {
        let w = max(7, (rowLabels.map { $0.count }.max() ?? 0) + 1)
        let cw = max(7, (columnLabels.map { $0.count }.max() ?? 0) + 1)
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        var t = pad("", w) + columnLabels.map { pad($0, cw) }.joined() + "\n"
        for (r, row) in values.enumerated() {
            t += pad(r < rowLabels.count ? rowLabels[r] : "", w)
            t += row.map { pad($0.isNaN ? "·" : String(format: valueFormat, $0), cw) }.joined() + "\n"
        }
        return t
    }
}

/// Draws charts; `files` writes PNG/SVG into `dir`, `inline` returns a text rendering for the terminal.
public protocol ChartRenderer: AnyObject {
    func render(_ chart: Chart, dir: String, files: Bool, inline: Bool) throws -> (files: [String], text: String?)
}

/// The drawing tool is not installed: the chart's data and script were written, only the picture is missing.
/// Not a failure of the command (the data is what matters); other render errors are.
public struct ChartToolMissing: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
