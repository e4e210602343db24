import Foundation
import STCore
#if canImport(Glibc)
import Glibc
#endif

/// The final outputs of a run appear together or not at all (issue: "outputs get mixed").
///
/// Rank 0 writes `result.h5ad`, `domains.csv`, the pictures and `summary.json` into a staging
/// folder inside the output folder (same file system), each file itself written atomically. Only
/// when all of them are written does `commit` rename them into the output folder, `summary.json`
/// last: a `summary.json` in the output folder is the mark of a complete set (a crash between two
/// renames leaves the earlier files without it). A failure anywhere before (disk full, an error
/// in the domain step, a failed picture) removes the staging folder, so the output folder holds
/// no result of this run, only its `metrics.jsonl` and checkpoints, never a complete-looking
/// `result.h5ad` beside a missing or stale `summary.json`.
///
/// Files the run replaces are replaced by the renames; with `--overwrite` the previous run's files
/// were removed before the run started (`prepareOutputFolder`).
struct OutputStaging {
    /// The output folder.
    let output: URL
    /// Where the outputs are written until `commit`.
    var url: URL { output.appendingPathComponent(Self.folderName, isDirectory: true) }
    static let folderName = ".stgnn-dist-staging"
    /// Outputs in the order they are moved into place: `summary.json` last.
    static let files = ["result.h5ad", "domains.csv", "domains.png", "loss.png", "summary.json"]

    /// Creates an empty staging folder (removing one a killed run left; the caller holds the
    /// output folder's lock, so no other job is using it).
    func prepare() throws {
        try? FileManager.default.removeItem(at: url)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        } catch {
            throw InputError(file: url.path, "cannot create the staging folder for the outputs (\(error.localizedDescription))")
        }
    }

    /// Moves the staged outputs into the output folder, `summary.json` last, then syncs the folder.
    func commit() throws {
        for name in Self.files {
            let from = url.appendingPathComponent(name).path, to = output.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: from) else { continue }
            guard rename(from, to) == 0 else {
                throw InputError(file: to, "cannot move the finished output into place: \(String(cString: strerror(errno)))")
            }
        }
        discard()
        let fd = open(output.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    /// Removes the staging folder and whatever it holds.
    func discard() { try? FileManager.default.removeItem(at: url) }

    /// The error with the staged path a file was written at replaced by the path the user knows.
    func userFacing(_ error: Error) -> Error {
        guard var e = error as? InputError, let f = e.file, f.hasPrefix(url.path + "/") else { return error }
        e.file = output.appendingPathComponent(String(f.dropFirst(url.path.count + 1))).path
        return e
    }
}
