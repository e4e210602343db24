// A last line for a crash inside a C library call (libhdf5 reading a corrupt file).
//
// Why C: the handler runs inside a SIGSEGV/SIGBUS raised in the middle of libhdf5, whose heap and
// locks may be in any state; it may only call async-signal-safe functions (write(2), _exit(2),
// sigaction, raise) and must not touch the Swift runtime (no allocation, no reference counting,
// no lazy globals), which Swift code cannot promise. So the line is formatted beforehand, by the
// caller, outside the handler, and the handler only writes it.
//
// Use: `stgnn_fault_guard_install` once per process (the executable, after the Swift runtime has
// installed its own crash handlers, which stay in charge of every other fault); then around each
// guarded call `stgnn_fault_guard_arm(prefix, suffix)` ... `stgnn_fault_guard_disarm()`. A
// SIGSEGV or SIGBUS on the arming thread while armed writes `prefix`, the signal's name and
// `suffix` to standard error and ends the process with `_exit(1)`; any other fault (another
// thread, or not armed) goes to the handler that was installed before (Swift's backtracer, or the
// default action), as if this guard did not exist.
#ifndef STGNN_FAULT_GUARD_H
#define STGNN_FAULT_GUARD_H

#include <stddef.h>

/// Installs the handlers for SIGSEGV, SIGBUS and SIGALRM (idempotent) and an alternate signal stack for the
/// calling thread when it has none (a fault from a stack overflow needs one). 0 on success.
int stgnn_fault_guard_install(void);

/// Whether `stgnn_fault_guard_install` succeeded in this process.
int stgnn_fault_guard_installed(void);

/// Arms the guard for the calling thread; the strings are copied (each truncated to 2 KiB).
/// With `seconds` > 0 a deadline too: should the call not return within that many seconds
/// (SIGALRM, alarm(2): this process must not use it otherwise), `overdue` is written and the
/// process ends with `_exit(1)` (a loop inside the library, or a file system that hangs).
void stgnn_fault_guard_arm(const char *prefix, const char *suffix, unsigned seconds, const char *overdue);

/// Disarms it (and its deadline).
void stgnn_fault_guard_disarm(void);

#endif
