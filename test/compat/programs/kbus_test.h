/*
 * What the compatibility test programs share: the x86-64 layouts and ioctl
 * numbers of the KBUS device (written from docs/compat.md's tables, not
 * copied from any header), message builders, and checks that report each
 * failure as "FAIL <case>: <what>" and keep count.
 *
 * Each program takes a case name as argv[1], runs that case against
 * /dev/kbus0 (served by the layer) and exits 0 when every check held.
 */
#ifndef KBUS_TEST_H
#define KBUS_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define START_GUARD 0x7375624Bu
#define END_GUARD 0x4B627573u

#define FLAG_WANT_A_REPLY 0x1u
#define FLAG_ALL_OR_WAIT 0x100u
#define FLAG_ALL_OR_FAIL 0x200u

struct msg_id {
  uint32_t network_id;
  uint32_t serial_num;
};

struct orig_from {
  uint32_t network_id;
  uint32_t local_id;
};

struct bind_request {
  uint32_t is_replier;
  uint32_t name_len;
  const char *name;
};

struct bind_query {
  uint32_t return_id;
  uint32_t name_len;
  const char *name;
};

struct header {
  uint32_t start_guard;
  struct msg_id id;
  struct msg_id in_reply_to;
  uint32_t to;
  uint32_t from;
  struct orig_from orig_from;
  struct orig_from final_to;
  uint32_t extra;
  uint32_t flags;
  uint32_t name_len;
  uint32_t data_len;
  const char *name;
  const void *data;
  uint32_t end_guard;
};

_Static_assert(sizeof(struct header) == 88, "the x86-64 header is 88 bytes");
_Static_assert(sizeof(struct bind_request) == 16, "bind request is 16 bytes");

#define IOC(dir, nr) ((unsigned long)(((dir) << 30) | (8 << 16) | (0x6b << 8) | (nr)))
#define IOC_RESET 0x00006b01ul
#define IOC_BIND IOC(1u, 2)
#define IOC_UNBIND IOC(1u, 3)
#define IOC_KSOCKID IOC(2u, 4)
#define IOC_REPLIER IOC(3u, 5)
#define IOC_NEXTMSG IOC(2u, 6)
#define IOC_LENLEFT IOC(2u, 7)
#define IOC_SEND IOC(2u, 8)
#define IOC_DISCARD 0x00006b09ul
#define IOC_LASTSENT IOC(2u, 10)
#define IOC_MAXMSGS IOC(3u, 11)
#define IOC_NUMMSGS IOC(2u, 12)
#define IOC_UNREPLIEDTO IOC(2u, 13)
#define IOC_MSGONLYONCE IOC(3u, 14)
#define IOC_VERBOSE IOC(3u, 15)
#define IOC_NEWDEVICE IOC(2u, 16)
#define IOC_REPORTREPLIERBINDS IOC(3u, 17)
#define IOC_MAXMSGSIZE IOC(3u, 18)

static int failures;
static const char *current_case = "?";

#define FAIL(...)                                                    \
  do {                                                               \
    fprintf(stdout, "FAIL %s (line %d): ", current_case, __LINE__); \
    fprintf(stdout, __VA_ARGS__);                                    \
    fputc('\n', stdout);                                             \
    fflush(stdout);                                                  \
    failures++;                                                      \
  } while (0)

/* `call` must return `want`. */
#define CHECK_RET(call, want)                                                      \
  do {                                                                             \
    errno = 0;                                                                     \
    long got_ = (long)(call);                                                      \
    if (got_ != (long)(want))                                                      \
      FAIL("%s returned %ld (errno %d %s), want %ld", #call, got_, errno,          \
           strerrorname_np(errno) ? strerrorname_np(errno) : "?", (long)(want)); \
  } while (0)

/* `call` must return -1 with errno `err`. */
#define CHECK_ERR(call, err)                                                          \
  do {                                                                                \
    errno = 0;                                                                        \
    long got_ = (long)(call);                                                         \
    int e_ = errno;                                                                   \
    if (got_ != -1 || e_ != (err))                                                    \
      FAIL("%s returned %ld, errno %s, want -1 with %s", #call, got_,                 \
           strerrorname_np(e_) ? strerrorname_np(e_) : "0", strerrorname_np(err)); \
  } while (0)

#define CHECK(cond, ...)         \
  do {                           \
    if (!(cond)) FAIL(__VA_ARGS__); \
  } while (0)

/* Stops the case at once: what follows depends on it. */
#define REQUIRE(cond, ...)   \
  do {                       \
    if (!(cond)) {           \
      FAIL(__VA_ARGS__);     \
      exit(1);               \
    }                        \
  } while (0)

/* An address no process can read or write (the compiler must not see through it). */
static inline void *bad_pointer(void) {
  volatile uintptr_t address = 8;
  return (void *)address;
}

static inline int open_ksock(int device, int flags) {
  char path[32];
  snprintf(path, sizeof path, "/dev/kbus%d", device);
  int fd = open(path, flags);
  REQUIRE(fd >= 0, "open(%s) failed: %s", path, strerror(errno));
  return fd;
}

static inline uint32_t ksock_id(int fd) {
  uint32_t id = 0;
  REQUIRE(ioctl(fd, IOC_KSOCKID, &id) == 0, "KSOCKID failed: %s", strerror(errno));
  return id;
}

static inline int bind_name(int fd, const char *name, int replier) {
  struct bind_request r = {(uint32_t)replier, (uint32_t)strlen(name), name};
  return ioctl(fd, IOC_BIND, &r);
}

/* A name unique to this process, so cases never see each other's messages. */
static inline const char *unique(const char *stem) {
  static char names[8][128];
  static int next;
  char *name = names[next++ % 8];
  snprintf(name, 128, "$.CompatTest.P%d.%s", (int)getpid(), stem);
  return name;
}

static inline size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* The C-form entire length of a message: 88 + name, NUL, padding + data, padding + guard. */
static inline size_t entire_len(size_t name_len, size_t data_len) {
  return 88 + pad4(name_len + 1) + pad4(data_len) + 4;
}

/* A header for a pointy message (or an entire one, with name and data NULL). */
static inline struct header make_header(const char *name, const void *data, size_t data_len,
                                        uint32_t flags) {
  struct header h;
  memset(&h, 0, sizeof h);
  h.start_guard = START_GUARD;
  h.end_guard = END_GUARD;
  h.flags = flags;
  h.name_len = (uint32_t)strlen(name);
  h.data_len = (uint32_t)data_len;
  h.name = name;
  h.data = data_len ? data : NULL;
  return h;
}

/* An entire message in a malloc'd buffer of entire_len() bytes. */
static inline unsigned char *make_entire(const char *name, const void *data, size_t data_len,
                                         uint32_t flags, size_t *len) {
  size_t n = strlen(name);
  *len = entire_len(n, data_len);
  unsigned char *buf = calloc(1, *len);
  struct header h = make_header(name, data, data_len, flags);
  h.name = NULL;
  h.data = NULL;
  memcpy(buf, &h, sizeof h);
  memcpy(buf + 88, name, n);
  if (data_len) memcpy(buf + 88 + pad4(n + 1), data, data_len);
  uint32_t guard = END_GUARD;
  memcpy(buf + *len - 4, &guard, 4);
  return buf;
}

/* Writes and sends an entire message; returns SEND's result (id in *id). */
static inline int send_entire(int fd, const char *name, const void *data, size_t data_len,
                              uint32_t flags, struct msg_id *id) {
  size_t len;
  unsigned char *buf = make_entire(name, data, data_len, flags, &len);
  ssize_t w = write(fd, buf, len);
  free(buf);
  if (w != (ssize_t)len) return -1;
  struct msg_id local;
  return ioctl(fd, IOC_SEND, id ? id : &local);
}

/* Writes and sends a pointy message; returns SEND's result. */
static inline int send_pointy(int fd, const char *name, const void *data, size_t data_len,
                              uint32_t flags, struct msg_id *id) {
  struct header h = make_header(name, data, data_len, flags);
  if (write(fd, &h, sizeof h) != (ssize_t)sizeof h) return -1;
  struct msg_id local;
  return ioctl(fd, IOC_SEND, id ? id : &local);
}

/* Pops and reads the next message whole into a malloc'd buffer; NULL if none. */
static inline unsigned char *next_message(int fd, uint32_t *len) {
  *len = 0;
  int r = ioctl(fd, IOC_NEXTMSG, len);
  if (r != 1) return NULL;
  unsigned char *buf = malloc(*len);
  size_t got = 0;
  while (got < *len) {
    ssize_t n = read(fd, buf + got, *len - got);
    REQUIRE(n > 0, "read gave %zd (%s) at %zu of %u", n, strerror(errno), got, *len);
    got += (size_t)n;
  }
  return buf;
}

/* Waits (bounded, 20 s) until fd is readable as a Ksock. */
static inline void wait_readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  int r = poll(&p, 1, 20000);
  REQUIRE(r == 1 && (p.revents & POLLIN), "no message within 20 s (poll %d, revents %#x)", r,
          p.revents);
}

static inline const struct header *hdr(const unsigned char *msg) {
  return (const struct header *)msg;
}

static inline const char *msg_name(const unsigned char *msg) { return (const char *)msg + 88; }

static inline const unsigned char *msg_data(const unsigned char *msg) {
  return msg + 88 + pad4(hdr(msg)->name_len + 1);
}

/* Runs the case named argv[1] from the table; prints "ok <case>" when it held. */
struct test_case {
  const char *name;
  void (*run)(void);
};

static inline int run_case(int argc, char **argv, const struct test_case *cases) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    for (const struct test_case *c = cases; c->name; c++) printf("%s\n", c->name);
    return 0;
  }
  for (const struct test_case *c = cases; c->name; c++) {
    if (strcmp(c->name, argv[1]) == 0) {
      current_case = c->name;
      alarm(60); /* nothing may hang: the test has its own deadline too */
      c->run();
      if (failures == 0) printf("ok %s\n", c->name);
      return failures ? 1 : 0;
    }
  }
  fprintf(stderr, "no case %s\n", argv[1]);
  return 2;
}

#endif
