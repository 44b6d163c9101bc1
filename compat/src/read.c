/*
 * read.c: the read side (compat.md §7.1, §7.2): NEXTMSG makes a message
 * current in C form, read hands it out in pieces, LENLEFT counts what is left.
 * Every function here runs with the Ksock's lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kc.h"

static void drop_current(struct kc_ksock *ks) {
  free(ks->cur);
  ks->cur = NULL;
  ks->cur_len = ks->cur_pos = 0;
}

/* daemon to client: c = s[0:60] + 24 zero bytes with s[60:64] at 80 (compat.md §5) */
static unsigned char *to_c_form(const unsigned char *s, size_t len) {
  unsigned char *c = calloc(1, len + KC_EXTRA);
  if (c == NULL) return NULL;
  memcpy(c, s, 60);
  memcpy(c + 80, s + 60, 4);
  memcpy(c + KC_CHDR, s + KC_SHDR, len - KC_SHDR);
  return c;
}

int kc_nextmsg(struct kc_ksock *ks, int fd, uint64_t arg) {
  if (ks->broken) return -EIO;
  struct kc_resp r;
  if (!(ks->mode & 1)) {
    /* kbusd refuses NEXTREAD here (EBADF); the kernel allowed NEXTMSG: op 6. */
    int s = kc_call(ks, fd, OP_NEXTMSG, NULL, 0, NULL, 0, &r, 0);
    if (s < 0) return s;
    uint32_t len = s == 1 ? kc_get32(r.word) + KC_EXTRA : 0;
    if (kc_put_u32(arg, len) < 0) return -EFAULT;
    return s == 1 ? 1 : 0;
  }
  drop_current(ks); /* the kernel drops it whether or not another follows */
  int s = kc_call(ks, fd, OP_NEXTREAD, NULL, 0, NULL, 0, &r, 1);
  if (s < 0) { free(r.data); return s; }
  uint32_t len = r.len >= 4 ? kc_get32(r.data) : 0;
  if (len == 0) {
    free(r.data);
    return kc_put_u32(arg, 0) < 0 ? -EFAULT : 0;
  }
  if (len < KC_SHDR || r.len < 4 + (size_t)len) {
    free(r.data);
    ks->broken = 1;
    return -EIO;
  }
  ks->cur = to_c_form(r.data + 4, len);
  free(r.data);
  if (ks->cur == NULL) return -ENOMEM;
  ks->cur_len = len + KC_EXTRA;
  ks->cur_pos = 0;
  /* popped, and current, before EFAULT is reported */
  return kc_put_u32(arg, len + KC_EXTRA) < 0 ? -EFAULT : 1;
}

ssize_t kc_read(struct kc_ksock *ks, uint64_t buf, size_t n) {
  if (ks->broken) return -EIO;
  if (!(ks->mode & 1)) return -EBADF;
  if (n == 0 || ks->cur == NULL) return 0;
  size_t left = ks->cur_len - ks->cur_pos;
  size_t k = n < left ? n : left;
  if (kc_copy_out(buf, ks->cur + ks->cur_pos, k) < 0) return -EFAULT;
  ks->cur_pos += k;
  if (ks->cur_pos == ks->cur_len) drop_current(ks);
  return (ssize_t)k;
}

/* The true count of bytes left (the seed's kbus_lenleft, kbus.c:3812,
 * miscounts inside the data); kbusd's status 1 must not leak. */
int kc_lenleft(struct kc_ksock *ks, int fd, uint64_t arg) {
  if (ks->broken) return -EIO;
  uint32_t v;
  if (ks->mode & 1) {
    v = ks->cur ? (uint32_t)(ks->cur_len - ks->cur_pos) : 0;
  } else {
    struct kc_resp r;
    int s = kc_call(ks, fd, OP_LENLEFT, NULL, 0, NULL, 0, &r, 0);
    if (s < 0) return s;
    v = kc_get32(r.word);
    if (v != 0) v += KC_EXTRA;
  }
  return kc_put_u32(arg, v) < 0 ? -EFAULT : 0;
}
