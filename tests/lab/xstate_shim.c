/*
 * xstate_shim.c: lets Debian 12's User-Mode Linux boot on hosts whose XSAVE area is
 * larger than UML's own buffer (CPUs with AMX tile data, for instance).
 *
 * UML saves and restores the FPU state of its processes with
 * ptrace(PTRACE_GETREGSET / PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov) and a buffer of
 * a fixed size. The host kernel shortens a GET to the buffer it is given, but it takes a
 * SET only when the buffer is exactly the host's full XSAVE size (xstateregs_set(), else
 * -EFAULT). Where UML's buffer is the smaller, every SET fails, UML logs "ptrace set fp
 * regs failed, errno = 14" and panics before init runs.
 *
 * Preloaded into linux.uml (LD_PRELOAD), this library wraps ptrace(): a short
 * SETREGSET/NT_X86_XSTATE becomes "read the tracee's whole state, lay the part UML gave
 * over it, write the whole state back". Everything else passes through untouched.
 *
 * LVSD_LAB_XSTATE (read once):
 *   auto   (default) rewrite only the SETs the host would refuse;
 *   force  rewrite every XSTATE SET, so the rewrite path runs on any host (self-test);
 *   short  send every XSTATE SET one 64-byte block short of the host's size, so the host
 *          refuses it as an AMX host refuses UML's: that crash, anywhere (self-test);
 *   off    pass everything through.
 * LVSD_LAB_XSTATE_LOG: a file to which the first XSTATE SET of each process appends one
 *   line: "xstate mode=M host=N uml=M rewrite=yes|no" (N, M in bytes).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* Larger than any XSAVE area so far (AMX: about 11 KiB); the kernel shortens a GET to its size. */
#define PROBE_SIZE (64 * 1024)

enum mode { MODE_AUTO, MODE_FORCE, MODE_SHORT, MODE_OFF };

typedef long (*ptrace_fn)(enum __ptrace_request, ...);

static ptrace_fn real_ptrace;
static enum mode shim_mode = MODE_AUTO;
static int initialised;
static size_t host_size;              /* the host's full XSAVE size, learnt at the first SET */
static int logged;
static __thread unsigned char *scratch;

static void init_once(void)
{
    const char *m;

    if (initialised)
        return;
    real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    m = getenv("LVSD_LAB_XSTATE");
    if (m && strcmp(m, "force") == 0)
        shim_mode = MODE_FORCE;
    else if (m && strcmp(m, "short") == 0)
        shim_mode = MODE_SHORT;
    else if (m && strcmp(m, "off") == 0)
        shim_mode = MODE_OFF;
    initialised = 1;
}

static const char *mode_name(void)
{
    switch (shim_mode) {
    case MODE_FORCE: return "force";
    case MODE_SHORT: return "short";
    case MODE_OFF: return "off";
    default: return "auto";
    }
}

static void log_first(size_t uml_size, int rewrite)
{
    const char *path = getenv("LVSD_LAB_XSTATE_LOG");
    char line[160];
    int fd, n;

    if (logged || !path || !*path)
        return;
    logged = 1;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    n = snprintf(line, sizeof line, "xstate mode=%s host=%zu uml=%zu rewrite=%s\n",
                 mode_name(), host_size, uml_size, rewrite ? "yes" : "no");
    if (n > 0 && write(fd, line, (size_t)n) < 0) {
        /* nothing to do: the log is informational */
    }
    close(fd);
}

/* The tracee's whole XSAVE state into this thread's scratch buffer; 0 or -1 with errno. */
static long read_whole(pid_t pid, size_t *size)
{
    struct iovec whole;
    long rc;

    if (!scratch) {
        scratch = malloc(PROBE_SIZE);
        if (!scratch) {
            errno = ENOMEM;
            return -1;
        }
    }
    whole.iov_base = scratch;
    whole.iov_len = PROBE_SIZE;
    rc = real_ptrace(PTRACE_GETREGSET, pid, (void *)(long)NT_X86_XSTATE, &whole);
    if (rc == 0)
        *size = whole.iov_len;
    return rc;
}

static long set_xstate(pid_t pid, struct iovec *iov)
{
    struct iovec whole;
    size_t full, given = iov->iov_len;
    long rc;

    if (shim_mode == MODE_SHORT) {
        /* One 64-byte block short of what the host takes (it shortens a longer buffer itself). */
        struct iovec shorter = *iov;
        if (!host_size && read_whole(pid, &host_size) != 0)
            host_size = given;
        log_first(given, 0);
        shorter.iov_len = given < host_size ? given : host_size;
        if (shorter.iov_len > 64)
            shorter.iov_len -= 64;
        return real_ptrace(PTRACE_SETREGSET, pid, (void *)(long)NT_X86_XSTATE, &shorter);
    }
    if (host_size && given >= host_size && shim_mode != MODE_FORCE) {
        log_first(given, 0);
        return real_ptrace(PTRACE_SETREGSET, pid, (void *)(long)NT_X86_XSTATE, iov);
    }
    if (read_whole(pid, &full) != 0)
        return -1;
    host_size = full;
    if (given >= full && shim_mode != MODE_FORCE) {
        log_first(given, 0);
        return real_ptrace(PTRACE_SETREGSET, pid, (void *)(long)NT_X86_XSTATE, iov);
    }
    log_first(given, 1);
    memcpy(scratch, iov->iov_base, given < full ? given : full);
    whole.iov_base = scratch;
    whole.iov_len = full;
    rc = real_ptrace(PTRACE_SETREGSET, pid, (void *)(long)NT_X86_XSTATE, &whole);
    if (rc == 0)
        iov->iov_len = given < full ? given : full;   /* what the kernel reports for a SET */
    return rc;
}

long ptrace(enum __ptrace_request request, ...)
{
    va_list ap;
    pid_t pid;
    void *addr, *data;

    va_start(ap, request);
    pid = va_arg(ap, pid_t);
    addr = va_arg(ap, void *);
    data = va_arg(ap, void *);
    va_end(ap);

    init_once();
    if (request == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data && shim_mode != MODE_OFF)
        return set_xstate(pid, (struct iovec *)data);
    return real_ptrace(request, pid, addr, data);
}
