/*
 * mem.c: reading and writing the program's memory as the kernel's
 * copy_from_user/copy_to_user did: a NULL or unmapped address is EFAULT,
 * never a SIGSEGV in the layer (compat.md §3.1 "EFAULT").
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kc.h"

/* process_vm_readv/writev on our own pid fail cleanly on a bad address. If
 * they are unavailable (a seccomp filter, say), fall back to plain copies:
 * NULL is still caught, other bad addresses then fault as in any library. */
static int vm_copy(int out, void *local, uint64_t remote, size_t n) {
  if (n == 0) return 0;
  if (remote == 0 || remote + n < remote) return -EFAULT;
  struct iovec l = {local, n};
  struct iovec r = {(void *)(uintptr_t)remote, n};
  ssize_t got = out ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
                    : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
  if (got == (ssize_t)n) return 0;
  if (got >= 0 || errno == EFAULT) return -EFAULT;
  if (errno == ENOSYS || errno == EPERM) {
    if (out) memcpy((void *)(uintptr_t)remote, local, n);
    else memcpy(local, (const void *)(uintptr_t)remote, n);
    return 0;
  }
  return -EFAULT;
}

int kc_copy_in(void *dst, uint64_t src, size_t n) { return vm_copy(0, dst, src, n); }

int kc_copy_out(uint64_t dst, const void *src, size_t n) {
  return vm_copy(1, (void *)(uintptr_t)src, dst, n);
}

int kc_put_u32(uint64_t dst, uint32_t v) {
  unsigned char b[4];
  kc_put32(b, v);
  return kc_copy_out(dst, b, 4);
}

static int alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A name a message may carry: "$." then words of letters and digits joined by
 * single dots; wildcards are refused (docs/protocol.md §4.3; the seed's
 * kbus_invalid_message_name). */
int kc_valid_msg_name(const unsigned char *name, size_t len) {
  if (len < 3 || len > KC_MAX_NAME || name[0] != '$' || name[1] != '.') return 0;
  int in_word = 0;
  for (size_t i = 2; i < len; i++) {
    if (alnum(name[i])) in_word = 1;
    else if (name[i] == '.' && in_word) in_word = 0;
    else return 0;
  }
  return in_word;
}
