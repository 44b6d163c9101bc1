/*
 * interpose-open.c: open, close and dup families, and stdio's fopen for the
 * served paths (compat.md §1.2, §1.3, §2). Anything not served goes to the
 * real function, result and errno untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kc.h"

KC_SLOT(open);
KC_SLOT(open64);
KC_SLOT(openat);
KC_SLOT(openat64);
KC_SLOT(__open_2);
KC_SLOT(__open64_2);
KC_SLOT(__openat_2);
KC_SLOT(__openat64_2);
KC_SLOT(close);
KC_SLOT(close_range);
KC_SLOT(closefrom);
KC_SLOT(dup);
KC_SLOT(dup2);
KC_SLOT(dup3);
KC_SLOT(fcntl);
KC_SLOT(fcntl64);
KC_SLOT(fopen);
KC_SLOT(fopen64);
KC_SLOT(freopen);
KC_SLOT(freopen64);

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int close_range(unsigned int first, unsigned int last, int flags);
void closefrom(int lowfd);

/* -1 (not served: call the real function), else the result already made. */
static int served(int dirfd, const char *path, int flags, int *result) {
  int dev = 0;
  enum kc_path p = kc_match(dirfd, path, &dev);
  int r;
  switch (p) {
    case KP_DEV: r = kc_open_dev(dev, flags); break;
    case KP_BINDINGS:
    case KP_STATS: r = kc_open_proc(p, flags); break;
    default: return -1;
  }
  *result = r < 0 ? kc_fail(-r) : r;
  return 0;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_LIKE(name)                                                    \
  KC_EXPORT int name(const char *path, int flags, ...) {                   \
    va_list ap;                                                            \
    va_start(ap, flags);                                                   \
    mode_t mode = mode_arg(flags, ap);                                     \
    va_end(ap);                                                            \
    int r;                                                                 \
    if (served(AT_FDCWD, path, flags, &r) == 0) return r;                  \
    if (REAL(name) == NULL) return kc_fail(ENOSYS);                        \
    return REAL(name)(path, flags, mode);                                  \
  }
OPEN_LIKE(open)
OPEN_LIKE(open64)

#define OPENAT_LIKE(name)                                                  \
  KC_EXPORT int name(int dirfd, const char *path, int flags, ...) {        \
    va_list ap;                                                            \
    va_start(ap, flags);                                                   \
    mode_t mode = mode_arg(flags, ap);                                     \
    va_end(ap);                                                            \
    int r;                                                                 \
    if (served(dirfd, path, flags, &r) == 0) return r;                     \
    if (REAL(name) == NULL) return kc_fail(ENOSYS);                        \
    return REAL(name)(dirfd, path, flags, mode);                           \
  }
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

/* Hardened builds (_FORTIFY_SOURCE) call these. */
KC_EXPORT int __open_2(const char *path, int flags) {
  int r;
  if (served(AT_FDCWD, path, flags, &r) == 0) return r;
  return REAL(__open_2)(path, flags);
}
KC_EXPORT int __open64_2(const char *path, int flags) {
  int r;
  if (served(AT_FDCWD, path, flags, &r) == 0) return r;
  return REAL(__open64_2)(path, flags);
}
KC_EXPORT int __openat_2(int dirfd, const char *path, int flags) {
  int r;
  if (served(dirfd, path, flags, &r) == 0) return r;
  return REAL(__openat_2)(dirfd, path, flags);
}
KC_EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
  int r;
  if (served(dirfd, path, flags, &r) == 0) return r;
  return REAL(__openat64_2)(dirfd, path, flags);
}

/* The synchronous release of compat.md §2, before the fd itself goes. */
static struct kc_ksock *let_go(int fd) {
  struct kc_ksock *ks = kc_any() ? kc_detach(fd) : NULL;
  if (ks) kc_release(ks, fd);
  return ks;
}

KC_EXPORT int close(int fd) {
  kc_epoll_forget(fd, fd);
  struct kc_ksock *ks = let_go(fd);
  if (ks == NULL) return REAL(close)(fd);
  REAL(close)(fd);
  kc_put(ks);
  return 0; /* close of a Ksock succeeds, the daemon gone or not */
}

/* Ksock fds in [lo, hi], released before the real call closes them. */
static void let_go_range(unsigned lo, unsigned hi) {
  kc_epoll_forget((int)(lo > 0x7fffffffu ? 0x7fffffffu : lo),
                  (int)(hi > 0x7fffffffu ? 0x7fffffffu : hi));
  if (!kc_any()) return;
  for (unsigned fd = lo; fd <= hi && fd < (1u << 20); fd++) {
    struct kc_ksock *ks = let_go((int)fd);
    if (ks) kc_put(ks);
    if (!kc_any()) break;
  }
}

KC_EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
  if (REAL(close_range) == NULL) return kc_fail(ENOSYS);
  if (first <= last && !(flags & CLOSE_RANGE_CLOEXEC)) {
    let_go_range(first, last);
  }
  return REAL(close_range)(first, last, flags);
}

KC_EXPORT void closefrom(int lowfd) {
  if (lowfd >= 0) let_go_range((unsigned)lowfd, ~0u);
  if (REAL(closefrom) != NULL) REAL(closefrom)(lowfd);
}

/* A dup shares the one Ksock: alias the state. */
static int alias(int oldfd, int newfd) {
  if (newfd < 0 || !kc_any()) return newfd;
  struct kc_ksock *ks = kc_get(oldfd);
  if (ks) {
    kc_attach(newfd, ks);
    kc_put(ks);
  }
  return newfd;
}

KC_EXPORT int dup(int oldfd) { return alias(oldfd, REAL(dup)(oldfd)); }

/* dup2/dup3 onto a Ksock fd is an implicit close (compat.md §2). */
static int dup_onto(int oldfd, int newfd, int flags, int three) {
  struct kc_ksock *gone = NULL;
  if (oldfd != newfd && kc_any() && kc_sys_fcntl(oldfd, F_GETFD, 0) >= 0) gone = let_go(newfd);
  if (oldfd != newfd) kc_epoll_forget(newfd, newfd);
  int r = three ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
  int e = errno;
  kc_put(gone);
  if (r >= 0 && oldfd != newfd) alias(oldfd, r);
  errno = e;
  return r;
}

KC_EXPORT int dup2(int oldfd, int newfd) { return dup_onto(oldfd, newfd, 0, 0); }
KC_EXPORT int dup3(int oldfd, int newfd, int flags) { return dup_onto(oldfd, newfd, flags, 1); }

#define FCNTL_LIKE(name)                                                   \
  KC_EXPORT int name(int fd, int cmd, ...) {                               \
    va_list ap;                                                            \
    va_start(ap, cmd);                                                     \
    long arg = va_arg(ap, long);                                           \
    va_end(ap);                                                            \
    __typeof__(&fcntl) real = (__typeof__(&fcntl))REAL(name);              \
    if (real == NULL) real = REAL(fcntl);                                  \
    int r = real(fd, cmd, arg);                                            \
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) return alias(fd, r);     \
    return r;                                                              \
  }
FCNTL_LIKE(fcntl)
FCNTL_LIKE(fcntl64)

/* glibc's fopen opens through an internal call the layer cannot see. */
static int stdio_flags(const char *mode) {
  int f = strchr(mode, '+') ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
  if (strchr(mode, 'e')) f |= O_CLOEXEC;
  return f;
}

static FILE *served_fopen(const char *path, const char *mode, int *done) {
  int dev = 0;
  enum kc_path p = kc_match(AT_FDCWD, path, &dev);
  *done = p == KP_DEV || p == KP_BINDINGS || p == KP_STATS;
  if (!*done) return NULL;
  int f = stdio_flags(mode);
  int fd = p == KP_DEV ? kc_open_dev(dev, f) : kc_open_proc(p, f);
  if (fd < 0) { kc_fail(-fd); return NULL; }
  FILE *s = fdopen(fd, mode);
  if (s == NULL) { int e = errno; close(fd); errno = e; }
  return s;
}

KC_EXPORT FILE *fopen(const char *path, const char *mode) {
  int done;
  FILE *s = served_fopen(path, mode, &done);
  return done ? s : REAL(fopen)(path, mode);
}

KC_EXPORT FILE *fopen64(const char *path, const char *mode) {
  int done;
  FILE *s = served_fopen(path, mode, &done);
  return done ? s : REAL(fopen64)(path, mode);
}

/* Only the /proc texts: the memfd is reopened through /proc/self/fd. */
static FILE *served_freopen(const char *path, const char *mode, FILE *stream, int *done,
                            int big) {
  int dev = 0;
  enum kc_path p = path ? kc_match(AT_FDCWD, path, &dev) : KP_NONE;
  *done = p == KP_BINDINGS || p == KP_STATS;
  if (!*done) return NULL;
  int fd = kc_open_proc(p, stdio_flags(mode));
  if (fd < 0) { kc_fail(-fd); return NULL; }
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  FILE *s = big ? REAL(freopen64)(link, mode, stream) : REAL(freopen)(link, mode, stream);
  int e = errno;
  kc_sys_close(fd);
  errno = e;
  return s;
}

KC_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream) {
  int done;
  FILE *s = served_freopen(path, mode, stream, &done, 0);
  return done ? s : REAL(freopen)(path, mode, stream);
}

KC_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream) {
  int done;
  FILE *s = served_freopen(path, mode, stream, &done, 1);
  return done ? s : REAL(freopen64)(path, mode, stream);
}
