/*
 * interpose-stat.c: the stat and access families (compat.md §1.2-§1.4).
 * glibc 2.33+ exports stat, stat64 ...; older binaries call __xstat and
 * friends, which glibc 2.36 still exports; both are served here.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kc.h"

KC_SLOT(stat);
KC_SLOT(stat64);
KC_SLOT(lstat);
KC_SLOT(lstat64);
KC_SLOT(fstat);
KC_SLOT(fstat64);
KC_SLOT(fstatat);
KC_SLOT(fstatat64);
KC_SLOT(statx);
KC_SLOT(access);
KC_SLOT(faccessat);
KC_SLOT(euidaccess);
KC_SLOT(eaccess);

int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

#define NOT_SERVED 1

static int put_stat(void *st, const struct stat *tmp) {
  return kc_copy_out((uint64_t)(uintptr_t)st, tmp, sizeof *tmp) < 0 ? kc_fail(EFAULT) : 0;
}

/* NOT_SERVED, or the result (0, or -1 with errno). */
static int path_stat(int dirfd, const char *path, void *st) {
  int dev = 0;
  enum kc_path p = kc_match(dirfd, path, &dev);
  if (p == KP_NONE) return NOT_SERVED;
  struct stat tmp;
  int r = kc_stat_path(p, dev, &tmp);
  return r < 0 ? kc_fail(-r) : put_stat(st, &tmp);
}

/* fstat on a Ksock: the character device, not S_IFSOCK. */
static int fd_stat(int fd, void *st) {
  struct kc_ksock *ks = kc_any() ? kc_get(fd) : NULL;
  if (ks == NULL) return NOT_SERVED;
  struct stat tmp;
  kc_stat_ksock(ks, &tmp);
  kc_put(ks);
  return put_stat(st, &tmp);
}

/* struct stat and struct stat64 are one layout on x86-64, the kernel's
 * newfstatat one: the fallback when this libc lacks a name. */
static int sys_fstatat(int dirfd, const char *path, void *st, int flags) {
  return (int)syscall(SYS_newfstatat, dirfd, path, st, flags);
}

static int at_stat(int dirfd, const char *path, void *st, int flags) {
  if ((flags & AT_EMPTY_PATH) && path && path[0] == '\0') {
    int r = fd_stat(dirfd, st);
    if (r != NOT_SERVED) return r;
  } else {
    int r = path_stat(dirfd, path, st);
    if (r != NOT_SERVED) return r;
  }
  return NOT_SERVED;
}

#define PATH_STAT(name, type, flags)                                       \
  KC_EXPORT int name(const char *path, type *st) {                         \
    int r = path_stat(AT_FDCWD, path, st);                                 \
    if (r != NOT_SERVED) return r;                                         \
    if (REAL(name) == NULL) return sys_fstatat(AT_FDCWD, path, st, flags); \
    return REAL(name)(path, st);                                           \
  }
PATH_STAT(stat, struct stat, 0)
PATH_STAT(stat64, struct stat64, 0)
PATH_STAT(lstat, struct stat, AT_SYMLINK_NOFOLLOW)
PATH_STAT(lstat64, struct stat64, AT_SYMLINK_NOFOLLOW)

#define FD_STAT(name, type)                                                \
  KC_EXPORT int name(int fd, type *st) {                                   \
    int r = fd_stat(fd, st);                                               \
    if (r != NOT_SERVED) return r;                                         \
    if (REAL(name) == NULL) return sys_fstatat(fd, "", st, AT_EMPTY_PATH); \
    return REAL(name)(fd, st);                                             \
  }
FD_STAT(fstat, struct stat)
FD_STAT(fstat64, struct stat64)

#define AT_STAT(name, type)                                                \
  KC_EXPORT int name(int dirfd, const char *path, type *st, int flags) {   \
    int r = at_stat(dirfd, path, st, flags);                               \
    if (r != NOT_SERVED) return r;                                         \
    if (REAL(name) == NULL) return sys_fstatat(dirfd, path, st, flags);    \
    return REAL(name)(dirfd, path, st, flags);                             \
  }
AT_STAT(fstatat, struct stat)
AT_STAT(fstatat64, struct stat64)

KC_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx) {
  if ((flags & AT_EMPTY_PATH) && path && path[0] == '\0') {
    struct kc_ksock *ks = kc_any() ? kc_get(dirfd) : NULL;
    if (ks) {
      struct statx tmp;
      kc_statx_ksock(ks, &tmp);
      kc_put(ks);
      return kc_copy_out((uint64_t)(uintptr_t)stx, &tmp, sizeof tmp) < 0 ? kc_fail(EFAULT) : 0;
    }
  } else {
    int dev = 0;
    enum kc_path p = kc_match(dirfd, path, &dev);
    if (p != KP_NONE) {
      struct statx tmp;
      int r = kc_statx_path(p, dev, &tmp);
      if (r < 0) return kc_fail(-r);
      return kc_copy_out((uint64_t)(uintptr_t)stx, &tmp, sizeof tmp) < 0 ? kc_fail(EFAULT) : 0;
    }
  }
  if (REAL(statx) == NULL) return (int)syscall(SYS_statx, dirfd, path, flags, mask, stx);
  return REAL(statx)(dirfd, path, flags, mask, stx);
}

/* Pre-2.33 names: ver is _STAT_VER_KERNEL (0) or _STAT_VER_LINUX (1) on x86-64. */
#define XSTAT(name, type, call)                                            \
  KC_EXPORT int name(int ver, const char *path, type *st) {                \
    if (ver != 0 && ver != 1) return kc_fail(EINVAL);                      \
    return call(path, st);                                                 \
  }
XSTAT(__xstat, struct stat, stat)
XSTAT(__xstat64, struct stat64, stat64)
XSTAT(__lxstat, struct stat, lstat)
XSTAT(__lxstat64, struct stat64, lstat64)

KC_EXPORT int __fxstat(int ver, int fd, struct stat *st) {
  if (ver != 0 && ver != 1) return kc_fail(EINVAL);
  return fstat(fd, st);
}
KC_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) {
  if (ver != 0 && ver != 1) return kc_fail(EINVAL);
  return fstat64(fd, st);
}
KC_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags) {
  if (ver != 0 && ver != 1) return kc_fail(EINVAL);
  return fstatat(dirfd, path, st, flags);
}
KC_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags) {
  if (ver != 0 && ver != 1) return kc_fail(EINVAL);
  return fstatat64(dirfd, path, st, flags);
}

static int path_access(int dirfd, const char *path, int amode) {
  int dev = 0;
  enum kc_path p = kc_match(dirfd, path, &dev);
  if (p == KP_NONE) return NOT_SERVED;
  int r = kc_access_path(p, dev, amode);
  return r < 0 ? kc_fail(-r) : 0;
}

#define ACCESS(name)                                                       \
  KC_EXPORT int name(const char *path, int amode) {                        \
    int r = path_access(AT_FDCWD, path, amode);                            \
    if (r != NOT_SERVED) return r;                                         \
    if (REAL(name) == NULL) return kc_fail(ENOSYS);                        \
    return REAL(name)(path, amode);                                        \
  }
ACCESS(access)
ACCESS(euidaccess)
ACCESS(eaccess)

KC_EXPORT int faccessat(int dirfd, const char *path, int amode, int flags) {
  int r = path_access(dirfd, path, amode);
  if (r != NOT_SERVED) return r;
  return REAL(faccessat)(dirfd, path, amode, flags);
}
