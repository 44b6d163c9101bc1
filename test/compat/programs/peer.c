/*
 * One party of a request/reply or announcement exchange on /dev/kbus0, as a
 * program written for the kernel module would be: `peer ROLE NAME COUNT`.
 * peer.ts does the same through the TypeScript client, with the same output,
 * so that the tests and the benchmark can set one beside the other.
 *
 *   replier NAME N    binds NAME as replier, answers N requests with "re:" + data
 *   requester NAME N  sends N requests ("req I"), checks each reply; prints
 *                     round-trip percentiles in microseconds as JSON
 *   listener NAME N   binds NAME as listener, prints N messages, one a line:
 *                     "request|reply|announcement NAME DATA"
 *   sender NAME N     sends N announcements; prints the monotonic start in ns
 *   counter NAME N    binds NAME, takes N messages; prints the monotonic ns of the last
 *
 * Binding roles print "ready" once bound. Every wait is bounded (20 s).
 */
#include "kbus_test.h"

#include <time.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void bind_or_die(int fd, const char *name, int replier) {
  REQUIRE(bind_name(fd, name, replier) == 0, "bind %s: %s", name, strerror(errno));
  printf("ready\n");
}

/* Waits for and reads the next message (malloc'd). */
static unsigned char *receive(int fd, uint32_t *len) {
  for (;;) {
    unsigned char *m = next_message(fd, len);
    if (m) return m;
    wait_readable(fd);
  }
}

static int compare_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

static void replier(int fd, const char *name, long count) {
  uint32_t max = 1000;
  ioctl(fd, IOC_MAXMSGS, &max);
  bind_or_die(fd, name, 1);
  char data[1100];
  for (long i = 0; i < count; i++) {
    uint32_t len;
    unsigned char *m = receive(fd, &len);
    const struct header *h = hdr(m);
    if (!(h->flags & FLAG_WANT_A_REPLY)) {
      free(m);
      i--;
      continue;
    }
    size_t n = h->data_len < 1000 ? h->data_len : 1000;
    memcpy(data, "re:", 3);
    memcpy(data + 3, msg_data(m), n);
    struct header r = make_header(name, data, n + 3, 0);
    r.to = h->from;
    r.in_reply_to = h->id;
    REQUIRE(write(fd, &r, sizeof r) == sizeof r, "write reply: %s", strerror(errno));
    struct msg_id id;
    REQUIRE(ioctl(fd, IOC_SEND, &id) == 0, "send reply: %s", strerror(errno));
    free(m);
  }
}

static void requester(int fd, const char *name, long count) {
  long long *rtt = calloc((size_t)count, sizeof *rtt);
  char data[64], want[64];
  for (long i = 0; i < count; i++) {
    int n = snprintf(data, sizeof data, "req %ld", i);
    long long t0 = now_ns();
    struct msg_id id;
    REQUIRE(send_pointy(fd, name, data, (size_t)n, FLAG_WANT_A_REPLY, &id) == 0, "request: %s",
            strerror(errno));
    uint32_t len;
    unsigned char *m = receive(fd, &len);
    rtt[i] = now_ns() - t0;
    int w = snprintf(want, sizeof want, "re:req %ld", i);
    REQUIRE(hdr(m)->in_reply_to.serial_num == id.serial_num, "reply %ld to %u, want %u", i,
            hdr(m)->in_reply_to.serial_num, id.serial_num);
    REQUIRE(hdr(m)->data_len == (uint32_t)w && memcmp(msg_data(m), want, (size_t)w) == 0,
            "reply %ld has the wrong data", i);
    free(m);
  }
  qsort(rtt, (size_t)count, sizeof *rtt, compare_ll);
  printf("{\"p50\":%.1f,\"p99\":%.1f}\n", rtt[count / 2] / 1000.0,
         rtt[(long)(count * 0.99) < count ? (long)(count * 0.99) : count - 1] / 1000.0);
  free(rtt);
}

static void listener(int fd, const char *name, long count) {
  uint32_t max = (uint32_t)(count > 100 ? count : 100);
  ioctl(fd, IOC_MAXMSGS, &max);
  bind_or_die(fd, name, 0);
  for (long i = 0; i < count; i++) {
    uint32_t len;
    unsigned char *m = receive(fd, &len);
    const struct header *h = hdr(m);
    const char *kind = h->in_reply_to.serial_num ? "reply"
                       : (h->flags & FLAG_WANT_A_REPLY) ? "request"
                                                         : "announcement";
    printf("%s %s %.*s\n", kind, msg_name(m), (int)h->data_len, (const char *)msg_data(m));
    free(m);
  }
}

static void sender(int fd, const char *name, long count) {
  char data[64];
  memset(data, 'a', sizeof data);
  long long t0 = now_ns();
  for (long i = 0; i < count; i++) {
    REQUIRE(send_pointy(fd, name, data, sizeof data, 0, NULL) == 0, "announce %ld: %s", i,
            strerror(errno));
  }
  printf("%lld\n", t0);
}

static void counter(int fd, const char *name, long count) {
  uint32_t max = (uint32_t)count + 100;
  REQUIRE(ioctl(fd, IOC_MAXMSGS, &max) == 0, "MAXMSGS: %s", strerror(errno));
  bind_or_die(fd, name, 0);
  long long last = 0;
  for (long i = 0; i < count; i++) {
    uint32_t len;
    free(receive(fd, &len));
    last = now_ns();
  }
  printf("%lld\n", last);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 4) {
    fprintf(stderr, "usage: peer replier|requester|listener|sender|counter NAME COUNT\n");
    return 2;
  }
  current_case = argv[1];
  const char *role = argv[1], *name = argv[2];
  long count = strtol(argv[3], NULL, 10);
  int fd = open_ksock(0, O_RDWR);
  if (strcmp(role, "replier") == 0) replier(fd, name, count);
  else if (strcmp(role, "requester") == 0) requester(fd, name, count);
  else if (strcmp(role, "listener") == 0) listener(fd, name, count);
  else if (strcmp(role, "sender") == 0) sender(fd, name, count);
  else if (strcmp(role, "counter") == 0) counter(fd, name, count);
  else return 2;
  close(fd);
  return failures ? 1 : 0;
}
