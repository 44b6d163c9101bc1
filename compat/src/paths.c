/*
 * paths.c: the paths the layer serves (compat.md §1.4) and /proc/kbus (§9).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kc.h"

/* st_rdev's major for /dev/kbusN: the kernel's was dynamic; 240 is in the
 * range Linux keeps for local use. */
#define KC_MAJOR 240u

/* Lexical normalisation as Node's path.join does it: no "//", "." or "..".
 * In place: the result is never longer than the input. */
int kc_normalize(char *p) {
  int abs = p[0] == '/';
  char *out = p + abs;
  const char *in = p + abs;
  size_t o = 0, dots = 0; /* dots: the leading "../.." a relative path keeps */
  for (;;) {
    while (*in == '/') in++;
    if (*in == '\0') break;
    size_t n = strcspn(in, "/");
    if (n == 1 && in[0] == '.') {
      /* nothing */
    } else if (n == 2 && in[0] == '.' && in[1] == '.') {
      if (o > dots) {
        while (o > 0 && out[o - 1] != '/') o--;
        if (o > 0) o--;
      } else if (!abs) {
        if (o > 0) out[o++] = '/';
        out[o++] = '.';
        out[o++] = '.';
        dots = o;
      }
    } else {
      if (o > 0) out[o++] = '/';
      memmove(out + o, in, n);
      o += n;
    }
    in += n;
  }
  out[o] = '\0';
  if (!abs && o == 0) strcpy(p, ".");
  return 0;
}

static int cheap_candidate(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  if (strncmp(b, "kbus", 4) == 0) return 1;
  return strcmp(b, "bindings") == 0 || strcmp(b, "stats") == 0;
}

enum kc_path kc_match(int dirfd, const char *path, int *dev) {
  if (path == NULL || !cheap_candidate(path)) return KP_NONE;
  char buf[PATH_MAX + 64];
  if (path[0] == '/') {
    if (strlen(path) >= sizeof buf) return KP_NONE;
    strcpy(buf, path);
  } else {
    size_t n;
    if (dirfd == AT_FDCWD) {
      if (syscall(SYS_getcwd, buf, PATH_MAX) < 0) return KP_NONE;
      n = strlen(buf);
    } else {
      char link[64];
      snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
      ssize_t r = readlink(link, buf, PATH_MAX);
      if (r <= 0) return KP_NONE;
      n = (size_t)r;
    }
    if (n + 1 + strlen(path) >= sizeof buf) return KP_NONE;
    buf[n] = '/';
    strcpy(buf + n + 1, path);
  }
  kc_normalize(buf);
  if (strcmp(buf, "/proc/kbus/bindings") == 0) return KP_BINDINGS;
  if (strcmp(buf, "/proc/kbus/stats") == 0) return KP_STATS;
  if (strcmp(buf, "/proc/kbus") == 0) return KP_PROCDIR;
  if (strncmp(buf, "/dev/kbus", 9) != 0) return KP_NONE;
  const char *d = buf + 9;
  size_t len = strlen(d);
  /* decimal, no leading zeros */
  if (len == 0 || len > 9 || (d[0] == '0' && len > 1)) return KP_NONE;
  for (size_t i = 0; i < len; i++)
    if (d[i] < '0' || d[i] > '9') return KP_NONE;
  *dev = atoi(d);
  return KP_DEV;
}

/* Number of devices, or -errno (no daemon, refused). */
static int devices(void) {
  int fd = kc_connect(1);
  if (fd < 0) return fd;
  struct kc_resp r;
  int s = kc_call_plain(fd, OP_DEVICES, NULL, 0, &r);
  kc_sys_close(fd);
  free(r.data);
  if (s < 0) return s;
  return r.len >= 4 ? (int)kc_get32(r.word) : 0;
}

int kc_dev_exists(int dev) {
  int n = devices();
  return n > 0 && dev < n;
}

int kc_open_dev(int dev, int flags) {
  int fd = kc_connect((flags & O_CLOEXEC) != 0);
  if (fd < 0) return -ENOENT;
  struct kc_ksock *ks = kc_new();
  if (ks == NULL) { kc_sys_close(fd); return -ENOMEM; }
  /* O_RDWR is 3 (read and write); the access mode 3 that Linux treats as
   * neither becomes 0 (compat.md §2 "open"). */
  static const unsigned modes[4] = {1, 2, 3, 0};
  ks->dev = dev;
  ks->mode = modes[flags & O_ACCMODE];
  unsigned char p[16];
  kc_put32(p, 1);
  kc_put32(p + 4, (uint32_t)dev);
  kc_put32(p + 8, ks->mode);
  kc_put32(p + 12, (uint32_t)getpid());
  struct kc_resp r;
  int s = kc_call(ks, fd, OP_OPEN, p, 16, NULL, 0, &r, 0);
  if (s < 0) {
    kc_sys_close(fd);
    atomic_store(&ks->refs, 1);
    kc_put(ks);
    return -ENOENT;
  }
  ks->id = kc_get32(r.word);
  if (flags & O_NONBLOCK) kc_sys_fcntl(fd, F_SETFL, O_RDWR | O_NONBLOCK);
  int a = kc_attach(fd, ks);
  if (a < 0) {
    kc_sys_close(fd);
    atomic_store(&ks->refs, 1);
    kc_put(ks);
    return a;
  }
  return fd;
}

int kc_open_proc(enum kc_path p, int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY) return -EACCES;
  int fd = kc_connect(1);
  if (fd < 0) return -ENOENT;
  struct kc_resp r;
  int s = kc_call_plain(fd, p == KP_BINDINGS ? OP_BINDINGS : OP_STATS, NULL, 0, &r);
  kc_sys_close(fd);
  if (s < 0) { free(r.data); return -ENOENT; }
  unsigned cloexec = (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0;
  int m = (int)syscall(SYS_memfd_create, p == KP_BINDINGS ? "kbus-bindings" : "kbus-stats",
                       cloexec);
  if (m < 0) { int e = errno; free(r.data); return -e; }
  size_t off = 0;
  while (off < r.len) {
    ssize_t w = syscall(SYS_write, m, r.data + off, r.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { int e = errno; free(r.data); kc_sys_close(m); return -e; }
    off += (size_t)w;
  }
  free(r.data);
  syscall(SYS_lseek, m, 0, SEEK_SET);
  /* Reopened read-only in the same slot, so that write is EBADF as on /proc. */
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", m);
  int ro = (int)syscall(SYS_openat, AT_FDCWD, link, O_RDONLY | O_CLOEXEC);
  if (ro >= 0) {
    syscall(SYS_dup3, ro, m, (flags & O_CLOEXEC) ? O_CLOEXEC : 0);
    kc_sys_close(ro);
  }
  return m;
}

static void fill_stat(struct stat *st, mode_t mode, dev_t rdev, ino_t ino, nlink_t nlink) {
  memset(st, 0, sizeof *st);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  st->st_mode = mode;
  st->st_rdev = rdev;
  st->st_ino = ino;
  st->st_nlink = nlink;
  st->st_blksize = 4096;
  st->st_atim = st->st_mtim = st->st_ctim = now;
}

int kc_stat_path(enum kc_path p, int dev, void *out) {
  int n = devices();
  if (n <= 0 || (p == KP_DEV && dev >= n)) return -ENOENT;
  struct stat *st = out;
  switch (p) {
    case KP_DEV:
      fill_stat(st, S_IFCHR | 0666, makedev(KC_MAJOR, (unsigned)dev), 1000u + (unsigned)dev, 1);
      break;
    case KP_PROCDIR: fill_stat(st, S_IFDIR | 0555, 0, 1, 2); break;
    default: fill_stat(st, S_IFREG | 0444, 0, p == KP_BINDINGS ? 2 : 3, 1); break;
  }
  return 0;
}

void kc_stat_ksock(const struct kc_ksock *ks, void *out) {
  fill_stat(out, S_IFCHR | 0666, makedev(KC_MAJOR, (unsigned)ks->dev), 1000u + (unsigned)ks->dev,
            1);
}

static void to_statx(const struct stat *st, struct statx *x) {
  memset(x, 0, sizeof *x);
  x->stx_mask = STATX_BASIC_STATS;
  x->stx_blksize = (uint32_t)st->st_blksize;
  x->stx_nlink = (uint32_t)st->st_nlink;
  x->stx_mode = (uint16_t)st->st_mode;
  x->stx_ino = st->st_ino;
  x->stx_rdev_major = major(st->st_rdev);
  x->stx_rdev_minor = minor(st->st_rdev);
  x->stx_atime.tv_sec = x->stx_mtime.tv_sec = x->stx_ctime.tv_sec = st->st_mtim.tv_sec;
  x->stx_atime.tv_nsec = x->stx_mtime.tv_nsec = x->stx_ctime.tv_nsec =
      (uint32_t)st->st_mtim.tv_nsec;
}

int kc_statx_path(enum kc_path p, int dev, void *out) {
  struct stat st;
  int r = kc_stat_path(p, dev, &st);
  if (r < 0) return r;
  to_statx(&st, out);
  return 0;
}

void kc_statx_ksock(const struct kc_ksock *ks, void *out) {
  struct stat st;
  kc_stat_ksock(ks, &st);
  to_statx(&st, out);
}

int kc_access_path(enum kc_path p, int dev, int amode) {
  struct stat st;
  int r = kc_stat_path(p, dev, &st);
  if (r < 0) return r;
  if (amode == F_OK) return 0;
  int root = geteuid() == 0;
  unsigned bits = st.st_mode & 0777;
  if ((amode & R_OK) && !(bits & 0444)) return -EACCES;
  if ((amode & W_OK) && !(bits & 0222) && !root) return -EACCES;
  if ((amode & X_OK) && !(bits & 0111)) return -EACCES;
  return 0;
}
