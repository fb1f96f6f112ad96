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

    public static func == (a: Chart, b: Chart) -> Bool {
        a.name == b.name && a.title == b.title && a.series == b.series && a.band.elementsEqual(b.band) { $0 == $1 }
    }
}

/// Draws charts; `files` writes PNG/SVG into `dir`, `inline` returns a text rendering for the terminal.
public protocol ChartRenderer: AnyObject {
    func render(_ chart: Chart, dir: String, files: Bool, inline: Bool) throws -> (files: [String], text: String?)
}
