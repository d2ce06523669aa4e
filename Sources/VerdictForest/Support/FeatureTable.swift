/// Rows of feature values read from CSV, mapped to a model's feature order by header name.
///
/// The header names the columns in any order; columns the model does not use are ignored; an empty
/// cell is a missing value (NaN). Every model feature must have a column.
public struct FeatureTable: Sendable {
    /// Row-major values in model feature order.
    public var values: [Double]
    public var rowCount: Int
    public var featureCount: Int

    /// Parses CSV text.
    ///
    /// - Parameters:
    ///   - text: CSV with a header line.
    ///   - featureNames: The model's features in order.
    ///   - positional: Take columns by position when the header does not name the model's features
    ///     (models without feature names, such as ONNX exports).
    /// - Throws: ``ForestError`` (invalidInput) naming missing columns or the line and column of a bad value.
    public init(csv text: String, featureNames: [String], positional: Bool = false) throws(ForestError) {
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })[...]
        guard let headerLine = lines.popFirst() else { throw ForestError(.invalidInput, "the CSV is empty") }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        var columnOf: [Int] = []
        let missing = featureNames.filter { !header.contains(Substring($0)) }
        if missing.isEmpty {
            columnOf = featureNames.map { name in header.firstIndex(of: Substring(name))! }
        } else if positional && header.count >= featureNames.count {
            columnOf = Array(0..<featureNames.count)
        } else {
            throw ForestError(
                .invalidInput, "the CSV header lacks model features: \(missing.prefix(10).joined(separator: ", "))\(missing.count > 10 ? ", ..." : "")")
        }
        featureCount = featureNames.count
        values = []
        values.reserveCapacity(lines.count * featureCount)
        rowCount = 0
        var cells: [Substring] = []
        for (lineIndex, line) in lines.enumerated() {
            cells.removeAll(keepingCapacity: true)
            cells.append(contentsOf: line.split(separator: ",", omittingEmptySubsequences: false))
            guard cells.count == header.count else {
                throw ForestError(.invalidInput, "line \(lineIndex + 2) has \(cells.count) cells, the header \(header.count)")
            }
            for (feature, column) in columnOf.enumerated() {
                let cell = cells[column].trimmingSpaces()
                if cell.isEmpty || cell == "nan" || cell == "NaN" || cell == "NA" {
                    values.append(.nan)
                } else if let value = Double(cell) {
                    values.append(value)
                } else {
                    throw ForestError(
                        .invalidInput, "line \(lineIndex + 2), column '\(header[column])' (feature \(featureNames[feature])): '\(cell)' is not a number")
                }
            }
            rowCount += 1
        }
    }

    /// Row `index` in model feature order.
    public func row(_ index: Int) -> ArraySlice<Double> {
        values[(index * featureCount)..<((index + 1) * featureCount)]
    }
}
