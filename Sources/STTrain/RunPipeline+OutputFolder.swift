import Foundation
import STCore
#if canImport(Glibc)
import Glibc
#endif

/// The files a run writes into its output folder (besides `checkpoints/`).
let runOutputFiles = OutputStaging.files + ["metrics.jsonl"]

extension RunPipeline {
    /// Rank 0, before anything is read: creates the output folder, takes its lock (so two jobs
    /// cannot write into one folder at once), and refuses a folder that holds another run's
    /// outputs unless this run continues it (`--resume`) or replaces it (`--overwrite`, which
    /// removes the old outputs first, so no old file is left beside new ones).
    func prepareOutputFolder() throws {
        let dir = config.output.output
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), !isDir.boolValue {
            throw InputError(file: dir, "--output names an existing file, not a folder (the run writes several files into it)")
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: dir, "cannot create the output directory (\(error.localizedDescription))")
        }
        // The lock is an flock on a file in the folder, held by this process until it exits
        // (released by the kernel even on a crash or SIGKILL); flock works across NFS clients on
        // Linux ≥ 2.6.12 through fcntl emulation.
        let lockPath = dir + "/.stgnn-dist.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw InputError(file: lockPath, "cannot create the output folder's lock: \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw InputError(file: dir, "another stgnn-dist job is writing into this folder (it holds \(lockPath)); wait for it or choose another --output")
        }
        outputLock = fd
        // Errors below leave the folder unlocked again (rank 0 rethrows; the run never starts).
        var keep = false
        defer { if !keep { releaseOutputLock() } }

        let fm = FileManager.default
        // A staging folder left by a killed run holds no finished outputs (`OutputStaging`).
        try? fm.removeItem(atPath: dir + "/" + OutputStaging.folderName)
        let present = runOutputFiles.filter { fm.fileExists(atPath: dir + "/" + $0) }
            + (fm.fileExists(atPath: dir + "/checkpoints") ? ["checkpoints/"] : [])
        guard !present.isEmpty else { keep = true; return }
        if config.output.overwrite {
            for f in present { try? fm.removeItem(atPath: dir + "/" + f) }
            onNote?("--overwrite: removed the previous run's \(present.joined(separator: ", ")) from \(dir)")
            keep = true
            return
        }
        if config.output.resume != nil { keep = true; return }   // the checkpoint decides (same configuration and data)
        throw InputError(file: dir, "holds another run's outputs (\(present.joined(separator: ", "))); use --resume latest|auto to continue it, --overwrite to replace it, or another --output")
    }

    /// Releases the output folder's lock (end of the run; also at process exit by the kernel).
    func releaseOutputLock() {
        if outputLock >= 0 { flock(outputLock, LOCK_UN); close(outputLock); outputLock = -1 }
    }
}
