/*
 * write.c: writing and sending (compat.md §6): the write states, the header
 * checks 1-6, the 88-byte header against the socket's 64, pointy messages
 * copied at SEND, and the ids SEND hands back.
 * Every function here runs with the Ksock's lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kc.h"

static void to_empty(struct kc_ksock *ks) {
  ks->ws = WS_EMPTY;
  ks->hdr_len = 0;
}

/* op 9 when kbusd may hold something (compat.md §6.4 "DISCARD"). */
int kc_discard(struct kc_ksock *ks, int fd) {
  int s = 0;
  if (ks->ws == WS_ENTIRE || ks->ws == WS_POINTY || ks->ws == WS_SENDING)
    s = kc_call(ks, fd, OP_DISCARD, NULL, 0, NULL, 0, NULL, 0);
  to_empty(ks);
  return s == -EIO ? -EIO : 0;
}

/* Checks 1-6 of compat.md §6.2, in the kernel's order (kbus_check_message_written,
 * kbus.c:665); check 7 (the size) is kbusd's. */
static int check_header(const unsigned char *h) {
  if (kc_get32(h) != KC_START_GUARD || kc_get32(h + 80) != KC_END_GUARD) return -EINVAL;
  uint32_t name_len = kc_get32(h + 52), data_len = kc_get32(h + 56);
  if (name_len == 0) return -EINVAL;
  if (name_len > KC_MAX_NAME) return -ENAMETOOLONG;
  uint64_t name = kc_get64(h + 64), data = kc_get64(h + 72);
  if (name == 0 && data != 0) return -EINVAL;
  if (name != 0 && data == 0 && data_len != 0) return -EINVAL;
  if (data_len == 0 && data != 0) return -EINVAL;
  uint32_t flags = kc_get32(h + 48);
  if ((flags & KC_ALL_OR_WAIT) && (flags & KC_ALL_OR_FAIL)) return -EINVAL;
  return 0;
}

/* The payload kbusd accepts in one WRITE: its absolute maximum, learned once. */
static size_t frame_room(struct kc_ksock *ks, int fd) {
  if (ks->absmax == 0) {
    unsigned char one[4];
    kc_put32(one, 1);
    struct kc_resp r;
    if (kc_call(ks, fd, OP_MAXMSGSIZE, one, 4, NULL, 0, &r, 0) >= 0 && r.len >= 4)
      ks->absmax = kc_get32(r.word);
    if (ks->absmax < 65536) ks->absmax = 65536;
  }
  return ks->absmax;
}

/* WRITE frames: head (if any) then body, split to fit; the first error is the result. */
static int forward(struct kc_ksock *ks, int fd, const unsigned char *head, size_t hlen,
                   const unsigned char *body, size_t blen) {
  size_t room = (hlen + blen > 65536) ? frame_room(ks, fd) : 65536;
  do {
    size_t take = blen < room - hlen ? blen : room - hlen;
    int s = kc_call(ks, fd, OP_WRITE, head, hlen, body, take, NULL, 0);
    if (s < 0) return s;
    body += take;
    blen -= take;
    head = NULL;
    hlen = 0;
  } while (blen > 0);
  return 0;
}

static void socket_header(const unsigned char *c, unsigned char *s) {
  memcpy(s, c, 60);         /* words 0-14 */
  memcpy(s + 60, c + 80, 4); /* end guard */
}

/* The state machine of compat.md §6.3 for n > 0 bytes already copied in. */
static ssize_t write_bytes(struct kc_ksock *ks, int fd, const unsigned char *b, size_t n) {
  int s;
  switch (ks->ws) {
    case WS_EMPTY:
    case WS_HDR: {
      size_t take = KC_CHDR - ks->hdr_len;
      if (take > n) take = n;
      memcpy(ks->hdr + ks->hdr_len, b, take);
      ks->hdr_len += take;
      ks->ws = WS_HDR;
      if (ks->hdr_len < KC_CHDR) return (ssize_t)n;
      s = check_header(ks->hdr);
      if (s < 0) { to_empty(ks); return s; }
      unsigned char sh[KC_SHDR];
      socket_header(ks->hdr, sh);
      uint64_t name = kc_get64(ks->hdr + 64);
      if (name == 0) { /* entire */
        s = forward(ks, fd, sh, KC_SHDR, b + take, n - take);
        if (s < 0) { to_empty(ks); return s; }
        ks->ws = WS_ENTIRE;
        return (ssize_t)n;
      }
      /* pointy: the kernel marks the message finished with its header
       * (kbus_write_parts, kbus.c:3024), so any further byte is EMSGSIZE */
      if (take < n) { to_empty(ks); return -EMSGSIZE; }
      s = kc_call(ks, fd, OP_WRITE, sh, KC_SHDR, NULL, 0, NULL, 0);
      if (s < 0) { to_empty(ks); return s; }
      ks->pname = name;
      ks->pdata = kc_get64(ks->hdr + 72);
      ks->pname_len = kc_get32(ks->hdr + 52);
      ks->pdata_len = kc_get32(ks->hdr + 56);
      ks->ws = WS_POINTY;
      return (ssize_t)n;
    }
    case WS_ENTIRE:
      s = forward(ks, fd, NULL, 0, b, n);
      if (s < 0) { to_empty(ks); return s; } /* kbusd has discarded too */
      return (ssize_t)n;
    case WS_POINTY:
      kc_discard(ks, fd);
      return -EMSGSIZE;
    case WS_SENDING:
      break;
  }
  return -EINVAL;
}

ssize_t kc_write(struct kc_ksock *ks, int fd, uint64_t buf, size_t n) {
  if (ks->broken) return -EIO;
  if (!(ks->mode & 2)) return -EBADF; /* the VFS refused it */
  unsigned char *copy = NULL;
  if (n > 0) {
    copy = malloc(n);
    if (copy == NULL) return -ENOMEM;
    if (kc_copy_in(copy, buf, n) < 0) {
      free(copy);
      kc_discard(ks, fd); /* any write error empties the message (kbus_write, kbus.c:3272) */
      return -EFAULT;
    }
  }
  ssize_t r = 0;
  if (ks->ws == WS_SENDING) {
    /* SENDING is a suspicion: EALREADY only once POLL confirms it (compat.md §6.4). */
    int ready = kc_poll_ksock(ks, fd, 0);
    if (ready < 0) r = ready;
    else if (!(ready & KC_POLLOUT)) r = -EALREADY;
    else to_empty(ks);
  }
  if (r == 0 && n > 0) r = write_bytes(ks, fd, copy, n);
  free(copy);
  return r;
}

/* Reads the pointy parts at SEND, as kbus_copy_pointy_parts (kbus.c:4011) does,
 * and builds the rest of the socket-form message: name, NUL, zeros to 4,
 * data, zeros to 4, end guard. */
static int pointy_rest(struct kc_ksock *ks, unsigned char **out, size_t *len) {
  size_t npad = (ks->pname_len + 1 + 3) & ~(size_t)3;
  size_t dpad = ((size_t)ks->pdata_len + 3) & ~(size_t)3;
  unsigned char *m = calloc(1, npad + dpad + 4);
  if (m == NULL) return -ENOMEM;
  if (kc_copy_in(m, ks->pname, ks->pname_len + 1) < 0) { free(m); return -EFAULT; }
  m[ks->pname_len] = 0;
  if (kc_copy_in(m + npad, ks->pdata, ks->pdata_len) < 0) {
    /* the kernel checked the name before copying the data */
    int bad = !kc_valid_msg_name(m, ks->pname_len);
    free(m);
    return bad ? -EBADMSG : -EFAULT;
  }
  kc_put32(m + npad + dpad, KC_END_GUARD);
  *out = m;
  *len = npad + dpad + 4;
  return 0;
}

static int put_id(uint64_t arg, const unsigned char *id) {
  return kc_copy_out(arg, id, 8);
}

int kc_send(struct kc_ksock *ks, int fd, uint64_t arg) {
  if (ks->broken) return -EIO;
  if (!(ks->mode & 2)) return -ENOMSG; /* the kernel had no message */
  struct kc_resp r;
  int s;
  switch (ks->ws) {
    case WS_EMPTY: return -ENOMSG;
    case WS_HDR: to_empty(ks); return -EINVAL; /* an unfinished message is discarded */
    case WS_POINTY: {
      unsigned char *rest;
      size_t len;
      s = pointy_rest(ks, &rest, &len);
      if (s < 0) { kc_discard(ks, fd); return s; }
      s = kc_call(ks, fd, OP_SENDMSG, rest, len, NULL, 0, &r, 0);
      free(rest);
      break;
    }
    default: s = kc_call(ks, fd, OP_SEND, NULL, 0, NULL, 0, &r, 0); break;
  }
  if (s == -EAGAIN) {
    /* The kernel copied the id out on EAGAIN too (kbus.c:4200): LASTSENT tells it. */
    ks->ws = WS_SENDING;
    struct kc_resp l;
    int t = kc_call(ks, fd, OP_LASTSENT, NULL, 0, NULL, 0, &l, 0);
    if (t < 0) return t;
    return put_id(arg, l.word) < 0 ? -EFAULT : -EAGAIN;
  }
  to_empty(ks);
  if (s < 0) return s;
  return put_id(arg, r.word) < 0 ? -EFAULT : 0;
}
