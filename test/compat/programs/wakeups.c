/*
 * Waits that must end, many times over: a thread blocked in poll while
 * another thread of the same process keeps using the Ksock (so that the
 * other thread reads the EVENT, and must wake the poller), and epoll over a
 * Ksock and a pipe. `wakeups CASE`.
 */
#include "kbus_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>

#define ROUNDS 300

struct shared {
  int ksock;
  int told; /* pipe: the poller writes a byte for each message it took */
  atomic_bool done;
};

/* Waits for each message in poll (bounded), takes it, and says so. */
static void *poller(void *arg) {
  struct shared *s = arg;
  for (int i = 0; i < ROUNDS; i++) {
    uint32_t len;
    unsigned char *m;
    while ((m = next_message(s->ksock, &len)) == NULL) wait_readable(s->ksock);
    free(m);
    REQUIRE(write(s->told, "x", 1) == 1, "pipe: %s", strerror(errno));
  }
  return NULL;
}

/* Keeps the Ksock's connection busy, so that it often reads the EVENT. */
static void *busy(void *arg) {
  struct shared *s = arg;
  while (!atomic_load(&s->done)) {
    uint32_t n;
    REQUIRE(ioctl(s->ksock, IOC_NUMMSGS, &n) == 0, "NUMMSGS: %s", strerror(errno));
  }
  return NULL;
}

static void another_thread_reads_the_event(void) {
  const char *name = unique("Busy");
  int sender = open_ksock(0, O_RDWR);
  struct shared s = {.ksock = open_ksock(0, O_RDWR)};
  REQUIRE(bind_name(s.ksock, name, 0) == 0, "bind: %s", strerror(errno));
  int p[2];
  REQUIRE(pipe(p) == 0, "pipe: %s", strerror(errno));
  s.told = p[1];
  pthread_t a, b;
  REQUIRE(pthread_create(&a, NULL, poller, &s) == 0, "thread");
  REQUIRE(pthread_create(&b, NULL, busy, &s) == 0, "thread");
  for (int i = 0; i < ROUNDS; i++) {
    CHECK_RET(send_pointy(sender, name, "tick", 4, 0, NULL), 0);
    char c;
    REQUIRE(read(p[0], &c, 1) == 1, "the poller stopped: %s", strerror(errno));
  }
  atomic_store(&s.done, 1);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  close(p[0]);
  close(p[1]);
  close(s.ksock);
  close(sender);
}

/* epoll_wait over a Ksock and a pipe reports whichever is ready, each time. */
static void epoll_ksock_and_pipe(void) {
  const char *name = unique("Epoll");
  int sender = open_ksock(0, O_RDWR);
  int ks = open_ksock(0, O_RDWR);
  REQUIRE(bind_name(ks, name, 0) == 0, "bind: %s", strerror(errno));
  int p[2];
  REQUIRE(pipe(p) == 0, "pipe: %s", strerror(errno));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 1};
  CHECK_RET(epoll_ctl(ep, EPOLL_CTL_ADD, ks, &e), 0);
  e.data.u64 = 2;
  CHECK_RET(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e), 0);
  for (int i = 0; i < ROUNDS && failures == 0; i++) {
    struct epoll_event out[2];
    CHECK_RET(send_pointy(sender, name, "tock", 4, 0, NULL), 0);
    int n = epoll_wait(ep, out, 2, 20000);
    REQUIRE(n == 1 && out[0].data.u64 == 1 && out[0].events == EPOLLIN,
            "round %d: epoll_wait gave %d (data %llu, events %#x), want the Ksock", i, n,
            n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL, n > 0 ? out[0].events : 0u);
    uint32_t len;
    free(next_message(ks, &len));
    REQUIRE(write(p[1], "x", 1) == 1, "pipe: %s", strerror(errno));
    n = epoll_wait(ep, out, 2, 20000);
    REQUIRE(n == 1 && out[0].data.u64 == 2, "round %d: epoll_wait gave %d, want the pipe alone",
            i, n);
    char c;
    REQUIRE(read(p[0], &c, 1) == 1, "pipe: %s", strerror(errno));
  }
  close(ep);
  close(p[0]);
  close(p[1]);
  close(ks);
  close(sender);
}

int main(int argc, char **argv) {
  static const struct test_case cases[] = {
      {"another-thread-reads-the-event", another_thread_reads_the_event},
      {"epoll-ksock-and-pipe", epoll_ksock_and_pipe},
      {NULL, NULL},
  };
  return run_case(argc, argv, cases);
}
