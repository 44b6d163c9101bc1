/*
 * real.c: the functions the layer stands in front of, found with
 * dlsym(RTLD_NEXT), and raw system calls for the layer's own I/O so that it
 * never goes through its own interposers (compat.md §1.3, last paragraph).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kc.h"

void *kc_dlnext(_Atomic(void *) *slot, const char *name) {
  void *p = atomic_load_explicit(slot, memory_order_acquire);
  if (p == NULL) {
    /* Racing threads find the same address: storing it twice is harmless. */
    p = dlsym(RTLD_NEXT, name);
    if (p != NULL) atomic_store_explicit(slot, p, memory_order_release);
  }
  return p;
}

ssize_t kc_sys_read(int fd, void *buf, size_t n) { return syscall(SYS_read, fd, buf, n); }

ssize_t kc_sys_sendmsg(int fd, const void *msg, int flags) {
  return syscall(SYS_sendmsg, fd, msg, flags);
}

ssize_t kc_sys_recv(int fd, void *buf, size_t n, int flags) {
  return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

int kc_sys_close(int fd) { return (int)syscall(SYS_close, fd); }

int kc_sys_shutdown(int fd, int how) { return (int)syscall(SYS_shutdown, fd, how); }

int kc_sys_ppoll(void *fds, unsigned long n, const struct timespec *ts, const sigset_t *mask) {
  /* The kernel's sigset size is 8 bytes on x86-64, not glibc's 128. */
  struct timespec copy;
  struct timespec *t = NULL;
  if (ts != NULL) {
    copy = *ts; /* the system call updates its argument */
    t = &copy;
  }
  return (int)syscall(SYS_ppoll, fds, n, t, mask, mask ? (size_t)8 : (size_t)0);
}

int kc_sys_fcntl(int fd, int cmd, long arg) { return (int)syscall(SYS_fcntl, fd, cmd, arg); }
