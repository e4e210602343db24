import XCTest
@testable import STTrain
import STCore
import STData

/// obs problems are found before training, naming the input file and the column.
final class ObsValidationTests: XCTestCase {
    func message(_ obs: DataFrame, spots: Int) -> String {
        do { try OutputFiles.validateObs(obs, spots: spots, file: "in.h5ad"); return "" } catch { return "\(error)" }
    }

    func testEachProblemNamesFileAndColumn() {
        var ok = DataFrame(index: ["a", "b", "c"])
        ok.set("layer", .categorical(codes: [0, -1, 1], categories: ["L1", "L2"], ordered: false))
        XCTAssertEqual(message(ok, spots: 3), "")
        XCTAssertEqual(message(ok, spots: 4), "in.h5ad: field 'obs/_index': has 3 names, but X has 4 rows")

        var codes = ok
        codes.set("layer", .categorical(codes: [0, 2, 1], categories: ["L1", "L2"], ordered: false))
        XCTAssertEqual(message(codes, spots: 3), "in.h5ad: field 'obs/layer/codes': holds code 2, outside -1…1 (2 categories)")

        var slash = ok
        slash.set("a/b", .numeric([1, 2, 3]))
        XCTAssertTrue(message(slash, spots: 3).contains("field 'obs/a/b': column name is empty or contains '/'"))
    }
}
