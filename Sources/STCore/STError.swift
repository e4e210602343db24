/// An error in the user's input or environment, phrased for the user: which file, which field,
/// what was expected. `description` is the one line printed before a non-zero exit.
public struct InputError: Error, CustomStringConvertible, Sendable {
    public var file: String?
    public var field: String?
    public var message: String

    public init(file: String? = nil, field: String? = nil, _ message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String {
        var s = ""
        if let file { s += file }
        if let field { s += (s.isEmpty ? "" : ": ") + "field '\(field)'" }
        return s.isEmpty ? message : s + ": " + message
    }
}
