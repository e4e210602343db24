// See include/fault_guard.h.
#define _GNU_SOURCE
#include "fault_guard.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { kLineMax = 2048 };

// The armed line (written by the arming thread before `armed_tid` is published, read by the
// handler on the same thread) and the thread it belongs to (0: disarmed).
static char g_prefix[kLineMax];
static char g_suffix[kLineMax];
static char g_overdue[kLineMax];
static size_t g_prefix_len, g_suffix_len, g_overdue_len;
static _Atomic long g_armed_tid;
static atomic_int g_installed;
static struct sigaction g_previous_segv, g_previous_bus;

static long current_tid(void) { return (long)syscall(SYS_gettid); }

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

// SIGALRM: the armed call's deadline passed (on whatever thread the kernel picked).
static void overdue_handler(int sig) {
    (void)sig;
    if (atomic_load(&g_armed_tid) != 0) {
        write_all(g_overdue, g_overdue_len);
        _exit(1);
    }
}

static void handler(int sig, siginfo_t *info, void *context) {
    (void)context;
    if (atomic_load(&g_armed_tid) == current_tid()) {
        write_all(g_prefix, g_prefix_len);
        const char *name = sig == SIGBUS ? "SIGBUS" : "SIGSEGV";
        write_all(name, strlen(name));
        write_all(g_suffix, g_suffix_len);
        _exit(1);
    }
    // Not ours: hand the signal to whoever had it before. A fault re-executes the instruction
    // and faults again into that handler; a signal sent by kill(2) is raised again (it stays
    // pending until this handler returns).
    sigaction(sig, sig == SIGBUS ? &g_previous_bus : &g_previous_segv, NULL);
    if (info == NULL || info->si_code <= 0) raise(sig);
}

int stgnn_fault_guard_install(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_installed, &expected, 1)) return 0;
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
        stack_t alt;
        alt.ss_size = 64 * 1024;
        alt.ss_sp = malloc(alt.ss_size);   // kept for the life of the process
        alt.ss_flags = 0;
        if (alt.ss_sp != NULL) sigaltstack(&alt, NULL);
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    struct sigaction alarm_action;
    memset(&alarm_action, 0, sizeof alarm_action);
    alarm_action.sa_handler = overdue_handler;
    sigemptyset(&alarm_action.sa_mask);
    if (sigaction(SIGSEGV, &action, &g_previous_segv) != 0 || sigaction(SIGBUS, &action, &g_previous_bus) != 0
        || sigaction(SIGALRM, &alarm_action, NULL) != 0) {
        atomic_store(&g_installed, 0);
        return -1;
    }
    return 0;
}

int stgnn_fault_guard_installed(void) { return atomic_load(&g_installed); }

static size_t copy_line(char *dst, const char *src) {
    size_t n = strlen(src);
    if (n > kLineMax) n = kLineMax;
    memcpy(dst, src, n);
    return n;
}

void stgnn_fault_guard_arm(const char *prefix, const char *suffix, unsigned seconds, const char *overdue) {
    g_prefix_len = copy_line(g_prefix, prefix);
    g_suffix_len = copy_line(g_suffix, suffix);
    g_overdue_len = copy_line(g_overdue, overdue);
    atomic_store(&g_armed_tid, current_tid());
    if (seconds > 0) alarm(seconds);
}

void stgnn_fault_guard_disarm(void) {
    alarm(0);
    atomic_store(&g_armed_tid, 0);
}
