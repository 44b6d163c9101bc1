/*
 * conn.c: kbusd's socket, its frames (docs/protocol.md §3) and one
 * request/response exchange at a time on a connection.
 *
 * An exchange always completes (compat.md §2 "Blocking and signals"): EINTR
 * is retried and EAGAIN from a non-blocking socket is waited out with poll,
 * because an abandoned response would put the stream out of step.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include "kc.h"


static int copy_path(char *out, size_t cap, const char *a, const char *b) {
  int n = b ? snprintf(out, cap, "%s/%s", a, b) : snprintf(out, cap, "%s", a);
  if (n < 0 || (size_t)n >= cap) return -ENAMETOOLONG;
  if (b) kc_normalize(out);
  return 0;
}

/* The fallback directory must be the user's own, as src/protocol/socket-path.ts
 * checks (docs/protocol.md §2 step 4); missing is fine: no socket is in it. */
static int private_dir_ok(const char *dir) {
  struct stat st;
  if (syscall(SYS_newfstatat, AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 1 : 0;
  return S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

/* KBUS_SOCKET, then $XDG_RUNTIME_DIR/kbus.sock, then <tmp>/kbus-<uid>/kbus.sock
 * with <tmp> as Node's os.tmpdir() finds it (TMPDIR, TMP, TEMP, /tmp). */
int kc_socket_path(char *out, size_t cap) {
  const char *s = getenv("KBUS_SOCKET");
  if (s != NULL && *s != '\0') return copy_path(out, cap, s, NULL);
  const char *x = getenv("XDG_RUNTIME_DIR");
  if (x != NULL && *x != '\0') return copy_path(out, cap, x, "kbus.sock");
  const char *t = getenv("TMPDIR");
  if (t == NULL || *t == '\0') t = getenv("TMP");
  if (t == NULL || *t == '\0') t = getenv("TEMP");
  if (t == NULL || *t == '\0') t = "/tmp";
  char dir[4096];
  int n = snprintf(dir, sizeof dir, "%s/kbus-%u", t, (unsigned)getuid());
  if (n < 0 || (size_t)n >= sizeof dir) return -ENAMETOOLONG;
  kc_normalize(dir);
  if (!private_dir_ok(dir)) {
    static atomic_flag said = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&said))
      dprintf(2, "kbus: %s is not a directory of your own with mode 700; not using it "
                 "(set KBUS_SOCKET or XDG_RUNTIME_DIR)\n", dir);
    return -EACCES;
  }
  return copy_path(out, cap, dir, "kbus.sock");
}

static int wait_fd(int fd, short ev) {
  struct pollfd p = {fd, ev, 0};
  return kc_sys_ppoll(&p, 1, NULL, NULL);
}

static int do_connect(int cloexec);

int kc_connect(int cloexec) {
  int saved = errno;
  int fd = do_connect(cloexec);
  errno = saved;
  return fd;
}

static int do_connect(int cloexec) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  int r = kc_socket_path(sa.sun_path, sizeof sa.sun_path);
  if (r < 0) return r;
  int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0);
  if (fd < 0) return -errno;
  for (;;) {
    if (syscall(SYS_connect, fd, &sa, sizeof sa) == 0 || errno == EISCONN) return fd;
    if (errno != EINTR && errno != EALREADY && errno != EINPROGRESS) break;
    wait_fd(fd, POLLOUT);
  }
  int e = errno;
  kc_sys_close(fd);
  return -e;
}

static int broken(struct kc_ksock *ks) {
  ks->broken = 1;
  kc_wake_waiters(ks);
  return -EIO;
}

static int send_all(struct kc_ksock *ks, int fd, struct iovec *iov, int n) {
  while (n > 0) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = kc_sys_sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { wait_fd(fd, POLLOUT); continue; }
      return broken(ks);
    }
    while (n > 0 && (size_t)w >= iov->iov_len) { w -= (ssize_t)iov->iov_len; iov++; n--; }
    if (n > 0) { iov->iov_base = (char *)iov->iov_base + w; iov->iov_len -= (size_t)w; }
  }
  return 0;
}

/* Reads more bytes into rx. block: wait for them. Returns >0, 0 (nothing yet,
 * non-blocking), or -EIO (EOF or error: the connection is broken). */
static int fill(struct kc_ksock *ks, int fd, int block) {
  if (ks->rx_cap - ks->rx_len < 4096) {
    size_t cap = ks->rx_cap ? ks->rx_cap * 2 : 16384;
    unsigned char *nb = realloc(ks->rx, cap);
    if (nb == NULL) return broken(ks);
    ks->rx = nb;
    ks->rx_cap = cap;
  }
  /* Waiting for a response: a blocking recv is one system call where a
   * non-blocking one, then poll, then recv again are three. On a socket the
   * program made non-blocking it answers EAGAIN, and poll waits. */
  int flags = block ? 0 : MSG_DONTWAIT;
  for (;;) {
    ssize_t r = kc_sys_recv(fd, ks->rx + ks->rx_len, ks->rx_cap - ks->rx_len, flags);
    if (r > 0) { ks->rx_len += (size_t)r; return 1; }
    if (r == 0) return broken(ks);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return broken(ks);
    if (!block) return 0;
    wait_fd(fd, POLLIN);
  }
}

static void consume(struct kc_ksock *ks, size_t n) {
  memmove(ks->rx, ks->rx + n, ks->rx_len - n);
  ks->rx_len -= n;
}

/* Handles one complete unsolicited frame at the front of rx, if that is what it is. */
static int take_unsolicited(struct kc_ksock *ks, uint32_t len) {
  if (kc_get32(ks->rx + 8) != 0) return 0;
  if (kc_get32(ks->rx + 4) != OP_EVENT || len < 12) return 0;
  /* An EVENT is fresh only after the response of the POLL that armed it. */
  if (ks->armed) {
    ks->events |= kc_get32(ks->rx + 12);
    ks->armed = 0;
    kc_wake_waiters(ks);
  }
  consume(ks, 4 + (size_t)len);
  return 1;
}

/* A complete frame at the front of rx: its length, or 0 if not yet whole. */
static uint32_t whole(struct kc_ksock *ks) {
  if (ks->rx_len < 4) return 0;
  uint32_t len = kc_get32(ks->rx);
  if (len < 8) return 0xFFFFFFFFu;
  if (ks->rx_len < 4 + (size_t)len) {
    if (4 + (size_t)len > ks->rx_cap) {
      unsigned char *nb = realloc(ks->rx, 4 + (size_t)len + 4096);
      if (nb == NULL) return 0xFFFFFFFFu;
      ks->rx = nb;
      ks->rx_cap = 4 + (size_t)len + 4096;
    }
    return 0;
  }
  return len;
}

/* Handles the complete frames already in rx, which can only be unsolicited:
 * a response read together with an EVENT that followed it leaves the EVENT
 * here, and the socket will not become readable for it again, so a poller
 * blocked on the socket would never see it (compat.md §7.3 step 3). */
static void drain(struct kc_ksock *ks) {
  uint32_t len;
  while (!ks->broken && (len = whole(ks)) != 0) {
    if (len == 0xFFFFFFFFu || !take_unsolicited(ks, len)) broken(ks);
  }
}

void kc_pump(struct kc_ksock *ks, int fd) {
  if (ks->broken) return;
  int saved = errno;
  do drain(ks);
  while (!ks->broken && fill(ks, fd, 0) > 0);
  errno = saved;
}

static int call(struct kc_ksock *ks, int fd, uint32_t op, const void *a, size_t alen,
                const void *b, size_t blen, struct kc_resp *r, int keep);

/* errno is the program's: the layer's own EAGAIN and EINTR must not leak into it. */
int kc_call(struct kc_ksock *ks, int fd, uint32_t op, const void *a, size_t alen,
            const void *b, size_t blen, struct kc_resp *r, int keep) {
  int saved = errno;
  int s = call(ks, fd, op, a, alen, b, blen, r, keep);
  drain(ks);
  errno = saved;
  return s;
}

static int call(struct kc_ksock *ks, int fd, uint32_t op, const void *a, size_t alen,
                const void *b, size_t blen, struct kc_resp *r, int keep) {
  if (r) { r->status = 0; r->data = NULL; r->len = 0; }
  if (ks->broken) return -EIO;
  if (++ks->tag == 0) ks->tag = 1;
  uint32_t tag = ks->tag;
  unsigned char h[12];
  kc_put32(h, (uint32_t)(8 + alen + blen));
  kc_put32(h + 4, op);
  kc_put32(h + 8, tag);
  struct iovec iov[3] = {{h, 12}, {(void *)a, alen}, {(void *)b, blen}};
  int n = blen ? 3 : alen ? 2 : 1;
  if (send_all(ks, fd, iov, n) < 0) return -EIO;
  for (;;) {
    uint32_t len = whole(ks);
    if (len == 0) {
      if (fill(ks, fd, 1) < 0) return -EIO;
      continue;
    }
    if (len == 0xFFFFFFFFu) return broken(ks);
    if (take_unsolicited(ks, len)) continue;
    /* Tags are non-zero and increasing: anything else means the stream is out of step. */
    if (kc_get32(ks->rx + 4) != op || kc_get32(ks->rx + 8) != tag || len < 12)
      return broken(ks);
    int32_t status = (int32_t)kc_get32(ks->rx + 12);
    if (r) {
      r->status = status;
      r->len = len - 12; /* result bytes after the status */
      memset(r->word, 0, sizeof r->word);
      memcpy(r->word, ks->rx + 16, r->len < sizeof r->word ? r->len : sizeof r->word);
      if (keep && r->len > 0) {
        r->data = malloc(r->len);
        if (r->data == NULL) { consume(ks, 4 + (size_t)len); return -ENOMEM; }
        memcpy(r->data, ks->rx + 16, r->len);
      }
    }
    consume(ks, 4 + (size_t)len);
    return status;
  }
}

int kc_call_plain(int fd, uint32_t op, const void *payload, size_t len, struct kc_resp *r) {
  struct kc_ksock tmp;
  memset(&tmp, 0, sizeof tmp);
  int s = kc_call(&tmp, fd, op, payload, len, NULL, 0, r, 1);
  free(tmp.rx);
  return s;
}

int kc_poll_ksock(struct kc_ksock *ks, int fd, unsigned notify) {
  unsigned char p[4];
  kc_put32(p, notify);
  ks->armed = 0; /* EVENTs before this POLL's response belong to an older arming */
  ks->events = 0;
  struct kc_resp r;
  int saved = errno;
  int s = call(ks, fd, OP_POLL, p, 4, NULL, 0, &r, 0);
  /* An EVENT read in the same chunk as the response is this arming's: it is
   * fresh, so the arming must be recorded before the rest of rx is handled. */
  int ready = r.len >= 4 ? (int)(kc_get32(r.word) & (KC_POLLIN | KC_POLLOUT)) : 0;
  /* Already ready: kbusd fires at once and disarms; nobody waits for that EVENT. */
  if (s >= 0 && notify != 0 && !(ready & (int)notify)) ks->armed = 1;
  drain(ks);
  errno = saved;
  return s < 0 ? s : ready;
}

void kc_wake_waiters(struct kc_ksock *ks) {
  uint64_t one = 1;
  for (int i = 0; i < KC_MAX_WAITERS; i++)
    if (ks->waiters[i] > 0) (void)syscall(SYS_write, ks->waiters[i], &one, sizeof one);
}
