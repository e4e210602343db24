import CSparseSIMD

/// Returns the pages of freed C-heap memory to the kernel (glibc's `malloc_trim`). glibc keeps
/// freed blocks below its mmap threshold (which grows to 32 MiB as large blocks come and go) in
/// its heap, where they stay resident; a rank calls this after its setup so that the setup's
/// temporaries do not count in its resident size for the rest of the run.
public func releaseFreedHeapMemory() {
    stgnn_release_free_memory()
}

/// Has the kernel kill this process when its parent exits (Linux), so that a helper child never
/// outlives the job that started it. False where unsupported.
@discardableResult
public func dieWithParent() -> Bool {
    stgnn_die_with_parent() == 0
}
