/*
 * kc.h: the compatibility layer's internal interface.
 *
 * Every name here is hidden (the Makefile builds with -fvisibility=hidden);
 * only the interposed libc names in interpose-*.c are exported (KC_EXPORT).
 */
#ifndef KC_H
#define KC_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define KC_EXPORT __attribute__((visibility("default")))

/* ---- protocol numbers (docs/protocol.md §5) ---- */
enum {
  OP_RESET = 1, OP_BIND = 2, OP_UNBIND = 3, OP_KSOCKID = 4, OP_REPLIER = 5,
  OP_NEXTMSG = 6, OP_LENLEFT = 7, OP_SEND = 8, OP_DISCARD = 9, OP_LASTSENT = 10,
  OP_MAXMSGS = 11, OP_NUMMSGS = 12, OP_UNREPLIEDTO = 13, OP_MSGONLYONCE = 14,
  OP_VERBOSE = 15, OP_NEWDEVICE = 16, OP_REPORTREPLIERBINDS = 17, OP_MAXMSGSIZE = 18,
  OP_OPEN = 0x40, OP_WRITE = 0x41, OP_POLL = 0x43, OP_SENDMSG = 0x44,
  OP_NEXTREAD = 0x45, OP_BINDINGS = 0x50, OP_STATS = 0x51, OP_DEVICES = 0x52,
  OP_EVENT = 0x80,
};

#define KC_POLLIN 0x1u
#define KC_POLLOUT 0x4u

/* C form against socket form (compat.md §5). */
#define KC_CHDR 88u
#define KC_SHDR 64u
#define KC_EXTRA 24u
#define KC_START_GUARD 0x7375624Bu
#define KC_END_GUARD 0x4B627573u
#define KC_MAX_NAME 1000u
#define KC_ALL_OR_WAIT (1u << 8)
#define KC_ALL_OR_FAIL (1u << 9)

/* Write states (compat.md §6.3). */
enum kc_wstate { WS_EMPTY, WS_HDR, WS_ENTIRE, WS_POINTY, WS_SENDING };

/* A waiter blocked in the poll engine on this Ksock: woken through its eventfd. */
#define KC_MAX_WAITERS 8

/* One Ksock: shared by every dup alias of its fd in this process. */
struct kc_ksock {
  pthread_mutex_t lock;  /* held for a whole exchange, never while blocked in poll */
  atomic_int refs;       /* fd aliases + operations in progress */
  atomic_int aliases;    /* fds of this process naming the Ksock */
  atomic_bool shared;    /* a fork happened: close must not release it */
  int dev;
  unsigned mode;         /* bit 0 read, bit 1 write (OPEN's mode) */
  uint32_t id;           /* Ksock id from OPEN */
  uint32_t tag;          /* last tag used; non-zero, increasing */
  int broken;            /* daemon gone or stream out of step: EIO */
  uint32_t absmax;       /* absolute maximum message size (socket form), 0 unknown */
  /* receive buffer */
  unsigned char *rx;
  size_t rx_len, rx_cap;
  /* POLL notification (compat.md §7.3) */
  int armed;             /* the last POLL armed a notification and its response came */
  unsigned events;       /* fresh EVENT bits not yet consumed */
  int waiters[KC_MAX_WAITERS];
  /* write side (compat.md §6) */
  enum kc_wstate ws;
  unsigned char hdr[KC_CHDR];
  size_t hdr_len;
  uint64_t pname, pdata;  /* pointy message: the program's pointers */
  uint32_t pname_len, pdata_len;
  /* read side (compat.md §7): current message in C form */
  unsigned char *cur;
  size_t cur_len, cur_pos;
};

/* ---- real.c: the functions the layer stands in front of ---- */
void *kc_dlnext(_Atomic(void *) *slot, const char *name);
#define KC_SLOT(name) static _Atomic(void *) kc_slot_##name
#define REAL(name) ((__typeof__(&name))kc_dlnext(&kc_slot_##name, #name))

/* Raw system calls for the layer's own I/O (never its own wrappers). */
ssize_t kc_sys_read(int fd, void *buf, size_t n);
ssize_t kc_sys_sendmsg(int fd, const void *msg, int flags);
ssize_t kc_sys_recv(int fd, void *buf, size_t n, int flags);
int kc_sys_close(int fd);
int kc_sys_shutdown(int fd, int how);
int kc_sys_ppoll(void *fds, unsigned long n, const struct timespec *ts, const sigset_t *mask);
int kc_sys_fcntl(int fd, int cmd, long arg);

/* ---- mem.c: the program's memory, read and written without faulting ---- */
int kc_copy_in(void *dst, uint64_t src, size_t n);       /* 0 or -EFAULT */
int kc_copy_out(uint64_t dst, const void *src, size_t n); /* 0 or -EFAULT */
int kc_put_u32(uint64_t dst, uint32_t v);
int kc_valid_msg_name(const unsigned char *name, size_t len);
static inline uint32_t kc_get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void kc_put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline uint64_t kc_get64(const unsigned char *p) {
  return (uint64_t)kc_get32(p) | (uint64_t)kc_get32(p + 4) << 32;
}

/* ---- conn.c: the socket and its frames ---- */
int kc_socket_path(char *out, size_t cap);                /* 0 or -errno */
int kc_connect(int cloexec);                               /* fd or -errno */
struct kc_resp {
  int32_t status;
  unsigned char word[8]; /* the first result bytes, zero-filled */
  unsigned char *data;   /* all result bytes, malloc'd when asked for (else NULL) */
  size_t len;            /* result bytes after the status */
};
/* One request/response exchange; ks->lock held. Returns status (>= 0) or -errno;
 * -EIO once the connection is broken. keep: hand back the result bytes. */
int kc_call(struct kc_ksock *ks, int fd, uint32_t op, const void *a, size_t alen,
            const void *b, size_t blen, struct kc_resp *r, int keep);
/* One exchange on a connection without a Ksock (before OPEN). */
int kc_call_plain(int fd, uint32_t op, const void *payload, size_t len, struct kc_resp *r);
/* Reads whatever frames are ready without blocking (EVENTs recorded); lock held. */
void kc_pump(struct kc_ksock *ks, int fd);
/* Sends POLL with notify; result ready mask or -errno; lock held. */
int kc_poll_ksock(struct kc_ksock *ks, int fd, unsigned notify);
void kc_wake_waiters(struct kc_ksock *ks);

int kc_normalize(char *p);

/* ---- fdtable.c ---- */
struct kc_ksock *kc_get(int fd);          /* a reference, or NULL if not a Ksock */
void kc_put(struct kc_ksock *ks);         /* drop a reference */
int kc_any(void);                          /* any Ksock fd in this process? */
int kc_attach(int fd, struct kc_ksock *ks); /* fd now names ks (takes an alias) */
struct kc_ksock *kc_detach(int fd);       /* fd no longer names it; returns it (ref held) */
void kc_release(struct kc_ksock *ks, int fd); /* after detach: release if last alias */
struct kc_ksock *kc_new(void);
void kc_lock(struct kc_ksock *ks);
void kc_unlock(struct kc_ksock *ks);

/* ---- paths.c ---- */
enum kc_path { KP_NONE, KP_DEV, KP_BINDINGS, KP_STATS, KP_PROCDIR };
enum kc_path kc_match(int dirfd, const char *path, int *dev);
int kc_dev_exists(int dev);                   /* 1, 0, or -errno (no daemon: 0) */
int kc_open_dev(int dev, int flags);          /* fd or -errno */
int kc_open_proc(enum kc_path p, int flags);  /* fd or -errno */
/* Fill a struct stat (x86-64 layout, same as stat64) for a served path; 0 or -errno. */
int kc_stat_path(enum kc_path p, int dev, void *st);
void kc_stat_ksock(const struct kc_ksock *ks, void *st);
int kc_statx_path(enum kc_path p, int dev, void *stx);
void kc_statx_ksock(const struct kc_ksock *ks, void *stx);
int kc_access_path(enum kc_path p, int dev, int amode);

/* ---- ioctl.c, write.c, read.c ---- */
int kc_ioctl(struct kc_ksock *ks, int fd, unsigned long req, uint64_t arg);
ssize_t kc_write(struct kc_ksock *ks, int fd, uint64_t buf, size_t n);
int kc_send(struct kc_ksock *ks, int fd, uint64_t arg);
int kc_discard(struct kc_ksock *ks, int fd);
ssize_t kc_read(struct kc_ksock *ks, uint64_t buf, size_t n);
int kc_nextmsg(struct kc_ksock *ks, int fd, uint64_t arg);
int kc_lenleft(struct kc_ksock *ks, int fd, uint64_t arg);

/* ---- poll.c: the engine of compat.md §7.3 ---- */
struct pollfd;
/* Like ppoll; ts NULL waits for ever; left (if not NULL) gets the time left. */
int kc_poll_engine(struct pollfd *fds, unsigned long n, const struct timespec *ts,
                   const sigset_t *mask, struct timespec *left);
/* ---- epoll.c ---- */
void kc_epoll_forget(int lo, int hi);
void kc_poll_atfork_child(void);

static inline int kc_fail(int e) {
  extern int *__errno_location(void);
  *__errno_location() = e;
  return -1;
}

#endif
