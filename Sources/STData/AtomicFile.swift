import Foundation
import STCore
#if canImport(Glibc)
import Glibc
#endif

/// Every output file of the project is written through here: readers never see a partial file.
///
/// The file is written as a temporary file in the same directory (`.NAME.tmp`), fsync'd, renamed
/// over `path`, then the directory is fsync'd. Either the old file or the new one is at `path` at
/// every moment, also across a crash or power loss. On any failure (disk full, directory not
/// writable, I/O error) the temporary file is removed, `path` is untouched, and the error names
/// `path` and the reason.
public enum AtomicFile {
    /// Creates `path` with `body`, which writes the whole file at the temporary path it is given
    /// (e.g. through `HDF5Writer`) and closes it.
    public static func write(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp"
        do {
            try body(tmp)
            try injectedFault(path)
            try sync(tmp, for: path)
        } catch var e as InputError where e.file == tmp {
            // The user asked for `path`: name it, not the temporary file.
            unlink(tmp)
            e.file = path
            throw e
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw failure(path, "cannot rename the temporary file into place", e)
        }
        try syncDirectory(dir, for: path)
    }

    /// Creates `path` holding `data`.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path, pieces: { emit in try emit(data) })
    }

    /// Creates `path` from pieces: `produce` hands each piece to `emit` in order, so a large file
    /// (a 10⁷-line CSV) is never held whole.
    public static func write(to path: String, pieces produce: (_ emit: (Data) throws -> Void) throws -> Void) throws {
        try write(to: path) { tmp in
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw failure(path, "cannot write (creating the temporary file \(tmp))", errno) }
            var open = true
            defer { if open { close(fd) } }
            try produce { data in
                var err: Int32 = 0
                data.withUnsafeBytes { b in
                    var off = 0
                    while off < b.count {
                        let w = Glibc.write(fd, b.baseAddress! + off, b.count - off)
                        if w < 0 { if errno == EINTR { continue }; err = errno; return }
                        off += w
                    }
                }
                if err != 0 { throw failure(path, "cannot write", err) }
            }
            open = false
            // close() reports deferred write errors on some file systems (NFS).
            if close(fd) != 0 { throw failure(path, "cannot write", errno) }
        }
    }

    /// Fault injection for the fault tests: `STGNN_FAIL_WRITE=NAME` makes the write of every file
    /// called NAME fail as a full disk would, after its content was written (so what a failure
    /// at the last moment leaves behind can be tested without filling a disk at the right byte).
    static func injectedFault(_ path: String) throws {
        if let name = ProcessInfo.processInfo.environment["STGNN_FAIL_WRITE"], !name.isEmpty,
           URL(fileURLWithPath: path).lastPathComponent == name {
            throw failure(path, "cannot write (STGNN_FAIL_WRITE)", ENOSPC)
        }
    }

    static func failure(_ path: String, _ what: String, _ err: Int32) -> InputError {
        InputError(file: path, "\(what): \(String(cString: strerror(err))) (nothing was replaced)")
    }

    /// fsync of the finished temporary file.
    static func sync(_ tmp: String, for path: String) throws {
        let fd = open(tmp, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, "cannot reopen the temporary file to sync it", errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw failure(path, "cannot write (fsync)", errno) }
    }

    /// fsync of a directory, so that a rename in it survives a crash. File systems that cannot sync
    /// a directory (EINVAL, ENOTSUP) are accepted.
    static func syncDirectory(_ dir: String, for path: String) throws {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw InputError(file: path, "written, but its directory cannot be opened to sync it: \(String(cString: strerror(errno)))") }
        defer { close(dfd) }
        if fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP {
            throw InputError(file: path, "written, but syncing its directory failed: \(String(cString: strerror(errno)))")
        }
    }
}
