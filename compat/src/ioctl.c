/*
 * ioctl.c: the 18 requests of compat.md §3, each mapped onto one kbusd op.
 * Runs with the Ksock's lock held. Returns the ioctl's result or -errno.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kc.h"

enum {
  NR_RESET = 1, NR_BIND, NR_UNBIND, NR_KSOCKID, NR_REPLIER, NR_NEXTMSG, NR_LENLEFT, NR_SEND,
  NR_DISCARD, NR_LASTSENT, NR_MAXMSGS, NR_NUMMSGS, NR_UNREPLIEDTO, NR_MSGONLYONCE, NR_VERBOSE,
  NR_NEWDEVICE, NR_REPORTREPLIERBINDS, NR_MAXMSGSIZE,
};

/* _IOC(dir, 'k', nr, sizeof(char *)); RESET and DISCARD are _IO (compat.md §3.2). */
static uint32_t request_for(unsigned nr) {
  static const unsigned char dir[19] = {0, 0, 1, 1, 2, 3, 2, 2, 2, 0, 2, 3, 2, 2, 3, 3, 2, 3, 3};
  if (nr == NR_RESET || nr == NR_DISCARD) return 0x6b00u | nr;
  return (uint32_t)dir[nr] << 30 | 8u << 16 | 0x6b00u | nr;
}

/* A u32 result of `op` (with an optional u32 argument) written to *arg. */
static int word_op(struct kc_ksock *ks, int fd, uint32_t op, const uint32_t *in, uint64_t arg,
                   uint32_t add) {
  unsigned char p[4];
  if (in) kc_put32(p, *in);
  struct kc_resp r;
  int s = kc_call(ks, fd, op, in ? p : NULL, in ? 4 : 0, NULL, 0, &r, 0);
  if (s < 0) return s;
  return kc_put_u32(arg, kc_get32(r.word) + add) < 0 ? -EFAULT : 0;
}

static int get_u32(uint64_t arg, uint32_t *v) {
  unsigned char b[4];
  if (kc_copy_in(b, arg, 4) < 0) return -EFAULT;
  *v = kc_get32(b);
  return 0;
}

/* BIND and UNBIND (kbus_bind, kbus.c:3456): the struct, then the name, before anything. */
static int bind_op(struct kc_ksock *ks, int fd, uint32_t op, uint64_t arg) {
  unsigned char req[16];
  if (kc_copy_in(req, arg, 16) < 0) return -EFAULT;
  uint32_t name_len = kc_get32(req + 4);
  if (name_len == 0) return -EBADMSG;
  if (name_len > KC_MAX_NAME) return -ENAMETOOLONG;
  unsigned char p[8 + KC_MAX_NAME];
  memcpy(p, req, 8); /* is_replier, name_len */
  if (kc_copy_in(p + 8, kc_get64(req + 8), name_len) < 0) return -EFAULT;
  return kc_call(ks, fd, op, p, 8 + name_len, NULL, 0, NULL, 0);
}

/* REPLIER (kbus_replier, kbus.c:3608): returns 1 or 0, return_id through the struct. */
static int replier_op(struct kc_ksock *ks, int fd, uint64_t arg) {
  unsigned char q[16];
  if (kc_copy_in(q, arg, 16) < 0) return -EFAULT;
  uint32_t name_len = kc_get32(q + 4);
  if (name_len == 0 || name_len > KC_MAX_NAME) return -ENAMETOOLONG;
  unsigned char p[4 + KC_MAX_NAME];
  kc_put32(p, name_len);
  if (kc_copy_in(p + 4, kc_get64(q + 8), name_len) < 0) return -EFAULT;
  struct kc_resp r;
  int s = kc_call(ks, fd, OP_REPLIER, p, 4 + name_len, NULL, 0, &r, 0);
  if (s < 0) return s;
  if (kc_put_u32(arg, kc_get32(r.word)) < 0) return -EFAULT;
  return s == 1 ? 1 : 0;
}

/* MAXMSGSIZE (compat.md §3.3): C-form lengths, kbusd's socket-form ones. */
static int maxmsgsize_op(struct kc_ksock *ks, int fd, uint64_t arg) {
  uint32_t v;
  if (get_u32(arg, &v) < 0) return -EFAULT;
  if (v >= 2 && v < 100) return -EINVAL;
  if (v >= 100) v -= KC_EXTRA;
  return word_op(ks, fd, OP_MAXMSGSIZE, &v, arg, KC_EXTRA);
}

static int tristate_op(struct kc_ksock *ks, int fd, uint32_t op, uint64_t arg) {
  uint32_t v;
  if (get_u32(arg, &v) < 0) return -EFAULT;
  return word_op(ks, fd, op, &v, arg, 0);
}

int kc_ioctl(struct kc_ksock *ks, int fd, unsigned long request, uint64_t arg) {
  /* The system call takes unsigned int: a sign-extended int compares equal. */
  uint32_t req = (uint32_t)request;
  if (req == FIOASYNC) {
    /* kbus has no asynchronous notification: a change of the setting was ENOTTY. */
    uint32_t v;
    if (get_u32(arg, &v) < 0) return -EFAULT;
    return v ? -ENOTTY : 0;
  }
  unsigned nr = req & 0xFF;
  if (nr == 0 || nr > NR_MAXMSGSIZE || req != request_for(nr)) return -ENOTTY;
  if (ks->broken) return -EIO;
  switch (nr) {
    case NR_RESET: return 0;
    case NR_BIND: return bind_op(ks, fd, OP_BIND, arg);
    case NR_UNBIND: return bind_op(ks, fd, OP_UNBIND, arg);
    case NR_KSOCKID: return kc_put_u32(arg, ks->id) < 0 ? -EFAULT : 0;
    case NR_REPLIER: return replier_op(ks, fd, arg);
    case NR_NEXTMSG: return kc_nextmsg(ks, fd, arg);
    case NR_LENLEFT: return kc_lenleft(ks, fd, arg);
    case NR_SEND: return kc_send(ks, fd, arg);
    case NR_DISCARD: return kc_discard(ks, fd);
    case NR_LASTSENT: {
      struct kc_resp r;
      int s = kc_call(ks, fd, OP_LASTSENT, NULL, 0, NULL, 0, &r, 0);
      if (s < 0) return s;
      return kc_copy_out(arg, r.word, 8) < 0 ? -EFAULT : 0;
    }
    case NR_MAXMSGS: {
      uint32_t v;
      if (get_u32(arg, &v) < 0) return -EFAULT;
      return word_op(ks, fd, OP_MAXMSGS, &v, arg, 0);
    }
    case NR_NUMMSGS: return word_op(ks, fd, OP_NUMMSGS, NULL, arg, 0);
    case NR_UNREPLIEDTO: return word_op(ks, fd, OP_UNREPLIEDTO, NULL, arg, 0);
    case NR_MSGONLYONCE: return tristate_op(ks, fd, OP_MSGONLYONCE, arg);
    case NR_VERBOSE: return tristate_op(ks, fd, OP_VERBOSE, arg);
    case NR_NEWDEVICE: return word_op(ks, fd, OP_NEWDEVICE, NULL, arg, 0);
    case NR_REPORTREPLIERBINDS: return tristate_op(ks, fd, OP_REPORTREPLIERBINDS, arg);
    case NR_MAXMSGSIZE: return maxmsgsize_op(ks, fd, arg);
  }
  return -ENOTTY;
}
