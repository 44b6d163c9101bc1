/*
 * interpose-io.c: read, write, ioctl and their relatives on a Ksock
 * (compat.md §1.2, §1.3); every other fd goes to the real function.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kc.h"

KC_SLOT(read);
KC_SLOT(write);
KC_SLOT(__read_chk);
KC_SLOT(readv);
KC_SLOT(writev);
KC_SLOT(pread);
KC_SLOT(pread64);
KC_SLOT(pwrite);
KC_SLOT(pwrite64);
KC_SLOT(ioctl);
KC_SLOT(recv);
KC_SLOT(send);
KC_SLOT(recvmsg);
KC_SLOT(sendmsg);
KC_SLOT(recvfrom);
KC_SLOT(sendto);
KC_SLOT(getsockopt);
KC_SLOT(setsockopt);
KC_SLOT(getsockname);
KC_SLOT(getpeername);
KC_SLOT(shutdown);
KC_SLOT(connect);
KC_SLOT(bind);
KC_SLOT(listen);
KC_SLOT(accept);
KC_SLOT(accept4);

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
void __chk_fail(void) __attribute__((noreturn));

static struct kc_ksock *ksock(int fd) { return kc_any() ? kc_get(fd) : NULL; }

static ssize_t ks_read(struct kc_ksock *ks, void *buf, size_t n) {
  kc_lock(ks);
  ssize_t r = kc_read(ks, (uint64_t)(uintptr_t)buf, n);
  kc_unlock(ks);
  kc_put(ks);
  return r < 0 ? kc_fail((int)-r) : r;
}

static ssize_t ks_write(struct kc_ksock *ks, int fd, const void *buf, size_t n) {
  kc_lock(ks);
  ssize_t r = kc_write(ks, fd, (uint64_t)(uintptr_t)buf, n);
  kc_unlock(ks);
  kc_put(ks);
  return r < 0 ? kc_fail((int)-r) : r;
}

KC_EXPORT ssize_t read(int fd, void *buf, size_t n) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? ks_read(ks, buf, n) : REAL(read)(fd, buf, n);
}

KC_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  struct kc_ksock *ks = ksock(fd);
  if (ks == NULL) return REAL(__read_chk)(fd, buf, n, buflen);
  if (n > buflen) __chk_fail();
  return ks_read(ks, buf, n);
}

KC_EXPORT ssize_t write(int fd, const void *buf, size_t n) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? ks_write(ks, fd, buf, n) : REAL(write)(fd, buf, n);
}

/* On the device pread/pwrite ignore the offset. */
KC_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? ks_read(ks, buf, n) : REAL(pread)(fd, buf, n, off);
}
KC_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? ks_read(ks, buf, n) : REAL(pread64)(fd, buf, n, off);
}
KC_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? ks_write(ks, fd, buf, n) : REAL(pwrite)(fd, buf, n, off);
}
KC_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? ks_write(ks, fd, buf, n) : REAL(pwrite64)(fd, buf, n, off);
}

/* One read or write per iovec, stopping at an error or a short count, as the
 * kernel's loop for drivers without read_iter did. */
static ssize_t vec(struct kc_ksock *ks, int fd, const struct iovec *iov, int cnt, int out) {
  if (cnt < 0 || cnt > IOV_MAX) { kc_put(ks); return kc_fail(EINVAL); }
  struct iovec *local = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *local);
  if (local == NULL) { kc_put(ks); return kc_fail(ENOMEM); }
  if (kc_copy_in(local, (uint64_t)(uintptr_t)iov, sizeof *local * (size_t)cnt) < 0) {
    free(local);
    kc_put(ks);
    return kc_fail(EFAULT);
  }
  ssize_t total = 0, r = 0;
  kc_lock(ks);
  for (int i = 0; i < cnt; i++) {
    uint64_t b = (uint64_t)(uintptr_t)local[i].iov_base;
    r = out ? kc_write(ks, fd, b, local[i].iov_len) : kc_read(ks, b, local[i].iov_len);
    if (r < 0) break;
    total += r;
    if ((size_t)r != local[i].iov_len) break;
  }
  kc_unlock(ks);
  kc_put(ks);
  free(local);
  if (r < 0 && total == 0) return kc_fail((int)-r);
  return total;
}

KC_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? vec(ks, fd, iov, cnt, 0) : REAL(readv)(fd, iov, cnt);
}
KC_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  struct kc_ksock *ks = ksock(fd);
  return ks ? vec(ks, fd, iov, cnt, 1) : REAL(writev)(fd, iov, cnt);
}

KC_EXPORT int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  struct kc_ksock *ks = ksock(fd);
  uint32_t req = (uint32_t)request;
  /* handled by the kernel before the driver, the same on a socket */
  if (ks == NULL || req == FIONBIO || req == FIOCLEX || req == FIONCLEX) {
    kc_put(ks);
    return REAL(ioctl)(fd, request, arg);
  }
  kc_lock(ks);
  int r = kc_ioctl(ks, fd, request, (uint64_t)arg);
  kc_unlock(ks);
  kc_put(ks);
  return r < 0 ? kc_fail(-r) : r;
}

/* A Ksock is not a socket to the program: ENOTSOCK, as the device gave. */
static int not_sock(int fd) {
  struct kc_ksock *ks = ksock(fd);
  if (ks == NULL) return 0;
  kc_put(ks);
  return 1;
}

#define SOCK_CALL(ret, name, params, args)                                 \
  KC_EXPORT ret name params {                                              \
    if (not_sock(fd)) return kc_fail(ENOTSOCK);                            \
    return REAL(name) args;                                                \
  }
SOCK_CALL(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
SOCK_CALL(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
SOCK_CALL(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
SOCK_CALL(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
SOCK_CALL(ssize_t, recvfrom,
          (int fd, void *restrict b, size_t n, int f, __SOCKADDR_ARG a, socklen_t *restrict l),
          (fd, b, n, f, a, l))
SOCK_CALL(ssize_t, sendto,
          (int fd, const void *b, size_t n, int f, __CONST_SOCKADDR_ARG a, socklen_t l),
          (fd, b, n, f, a, l))
SOCK_CALL(int, getsockopt,
          (int fd, int lv, int o, void *restrict v, socklen_t *restrict l), (fd, lv, o, v, l))
SOCK_CALL(int, setsockopt, (int fd, int lv, int o, const void *v, socklen_t l),
          (fd, lv, o, v, l))
SOCK_CALL(int, getsockname, (int fd, __SOCKADDR_ARG a, socklen_t *restrict l), (fd, a, l))
SOCK_CALL(int, getpeername, (int fd, __SOCKADDR_ARG a, socklen_t *restrict l), (fd, a, l))
SOCK_CALL(int, shutdown, (int fd, int how), (fd, how))
SOCK_CALL(int, connect, (int fd, __CONST_SOCKADDR_ARG a, socklen_t l), (fd, a, l))
SOCK_CALL(int, bind, (int fd, __CONST_SOCKADDR_ARG a, socklen_t l), (fd, a, l))
SOCK_CALL(int, listen, (int fd, int n), (fd, n))
SOCK_CALL(int, accept, (int fd, __SOCKADDR_ARG a, socklen_t *restrict l), (fd, a, l))
SOCK_CALL(int, accept4, (int fd, __SOCKADDR_ARG a, socklen_t *restrict l, int f), (fd, a, l, f))
