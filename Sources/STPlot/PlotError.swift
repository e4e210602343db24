/// Why a figure could not be made: one message, naming the file where there is one.
public struct PlotError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }

    static func write(_ path: String, _ reason: String) -> PlotError {
        PlotError("cannot write PNG '\(path)': \(reason)")
    }
}
