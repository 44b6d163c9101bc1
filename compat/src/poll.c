/*
 * poll.c: readiness (compat.md §7.3). A Ksock's readiness is the device's,
 * from kbusd's POLL, not its socket's. The engine arms a one-shot POLL
 * notification on every Ksock, then blocks in the real ppoll on the foreign
 * fds, each Ksock's socket (where the EVENT will arrive) and this thread's
 * wake-up eventfd (another thread may read the EVENT first, §2 "Threads").
 * It never busy-waits.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#include "kc.h"

static __thread int waker = -1;
static pthread_key_t waker_key;
static pthread_once_t waker_once = PTHREAD_ONCE_INIT;

static void waker_gone(void *p) {
  (void)p;
  if (waker >= 0) kc_sys_close(waker);
  waker = -1;
}

static void waker_setup(void) { pthread_key_create(&waker_key, waker_gone); }

/* The forking thread's eventfd is shared with the parent: the child makes its own. */
void kc_poll_atfork_child(void) {
  if (waker >= 0) kc_sys_close(waker);
  waker = -1;
}

/* This thread's eventfd, placed high so that it does not take the lowest
 * free number a program may expect from its next open. */
static int my_waker(void) {
  if (waker >= 0) return waker;
  pthread_once(&waker_once, waker_setup);
  int e = (int)syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e < 0) return -1;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 256 && rl.rlim_cur != RLIM_INFINITY) {
    int high = kc_sys_fcntl(e, F_DUPFD_CLOEXEC, (long)(rl.rlim_cur / 2));
    if (high >= 0) { kc_sys_close(e); e = high; }
  }
  waker = e;
  pthread_setspecific(waker_key, &waker);
  return e;
}

static unsigned notify_bits(short events) {
  unsigned n = 0;
  if (events & (POLLIN | POLLRDNORM)) n |= KC_POLLIN;
  if (events & (POLLOUT | POLLWRNORM)) n |= KC_POLLOUT;
  return n;
}

static short revents_of(int ready, short events) {
  if (ready < 0) return POLLERR; /* the daemon is gone */
  short r = 0;
  if (ready & KC_POLLIN) r |= (short)((POLLIN | POLLRDNORM) & events);
  if (ready & KC_POLLOUT) r |= (short)((POLLOUT | POLLWRNORM) & events);
  return r;
}

static int poll_one(struct kc_ksock *ks, int fd, unsigned notify) {
  kc_lock(ks);
  int r = kc_poll_ksock(ks, fd, notify);
  kc_unlock(ks);
  return r;
}

static void now(struct timespec *t) { clock_gettime(CLOCK_MONOTONIC, t); }

static int time_left(const struct timespec *deadline, struct timespec *left) {
  struct timespec t;
  now(&t);
  left->tv_sec = deadline->tv_sec - t.tv_sec;
  left->tv_nsec = deadline->tv_nsec - t.tv_nsec;
  if (left->tv_nsec < 0) { left->tv_nsec += 1000000000L; left->tv_sec--; }
  if (left->tv_sec < 0) { left->tv_sec = 0; left->tv_nsec = 0; return 0; }
  return left->tv_sec > 0 || left->tv_nsec > 0;
}

/* Aliases of one Ksock share one notification: the first entry of each Ksock
 * arms it with the union of what every entry of that Ksock asks. */
static void group(struct pollfd *fds, struct kc_ksock **ks, unsigned long n, unsigned char *first,
                  unsigned *bits) {
  for (unsigned long i = 0; i < n; i++) {
    first[i] = 0;
    bits[i] = 0;
    if (ks[i] == NULL) continue;
    unsigned long j = 0;
    while (j < i && ks[j] != ks[i]) j++;
    if (j == i) first[i] = 1;
    bits[j] |= notify_bits(fds[i].events);
  }
}

/* Registers (or not) this thread's wake-up fd; says whether a fresh EVENT or a
 * broken connection is already there, so that waiting would be wrong. */
static int waiters(struct kc_ksock *k, int fd, int add) {
  kc_lock(k);
  for (int i = 0; fd >= 0 && i < KC_MAX_WAITERS; i++) {
    if (add && k->waiters[i] == 0) { k->waiters[i] = fd; break; }
    if (!add && k->waiters[i] == fd) { k->waiters[i] = 0; break; }
  }
  int now_ready = k->events != 0 || k->broken;
  kc_unlock(k);
  return now_ready;
}

static int count_ready(const struct pollfd *fds, unsigned long n) {
  int c = 0;
  for (unsigned long i = 0; i < n; i++) c += fds[i].revents != 0;
  return c;
}

static void foreign_results(struct pollfd *fds, struct kc_ksock **ks, unsigned long n,
                            const struct pollfd *rp) {
  for (unsigned long i = 0, f = 0; i < n; i++)
    if (!ks[i]) fds[i].revents = rp[f++].revents;
}

/* Every entry of a Ksock gets the readiness found for its group's first entry. */
static void ksock_results(struct pollfd *fds, struct kc_ksock **ks, unsigned long n,
                          const int *ready) {
  for (unsigned long i = 0; i < n; i++) {
    if (!ks[i]) continue;
    unsigned long j = 0;
    while (ks[j] != ks[i]) j++;
    fds[i].revents = revents_of(ready[j], fds[i].events);
  }
}

/* Steps 1 and 2 of compat.md §7.3 in one exchange per Ksock: a POLL armed with
 * the bits asked for answers the readiness now as POLL 0 would, and when a bit
 * is already ready kbusd fires at once and disarms, so nothing is left armed.
 * A zero timeout never arms. Returns whether a Ksock is ready (or broken). */
static int arm_all(struct pollfd *fds, struct kc_ksock **ks, unsigned long n,
                   const unsigned char *first, const unsigned *bits, int arm, int *ready,
                   unsigned char *armed) {
  int any = 0;
  for (unsigned long i = 0; i < n; i++) {
    armed[i] = 0;
    if (!first[i]) continue;
    unsigned notify = arm ? bits[i] : 0;
    ready[i] = poll_one(ks[i], fds[i].fd, notify);
    if (ready[i] < 0 || (ready[i] & (int)bits[i])) any = 1;
    else armed[i] = notify != 0;
  }
  return any;
}

/* Step 4: POLL 0 on each Ksock still armed (readiness now; it also disarms). A
 * Ksock whose EVENT came is disarmed already (one-shot), and when the EVENT
 * names every bit asked for it is the readiness: no exchange is needed. */
static void settle(struct pollfd *fds, struct kc_ksock **ks, unsigned long n,
                   const unsigned char *first, const unsigned *bits, int *ready,
                   unsigned char *armed) {
  for (unsigned long i = 0; i < n; i++) {
    if (!first[i] || !armed[i]) continue;
    armed[i] = 0;
    kc_lock(ks[i]);
    unsigned fired = ks[i]->events;
    int broken = ks[i]->broken, still = ks[i]->armed;
    kc_unlock(ks[i]);
    if (broken) ready[i] = -EIO;
    else if (!still && (fired & bits[i]) == bits[i]) ready[i] = (int)fired;
    else ready[i] = poll_one(ks[i], fds[i].fd, 0);
  }
}

int kc_poll_engine(struct pollfd *fds, unsigned long n, const struct timespec *ts,
                   const sigset_t *mask, struct timespec *left) {
  size_t cells = n ? n : 1;
  struct kc_ksock **ks = calloc(cells, sizeof *ks);
  struct pollfd *rp = calloc(2 * cells + 1, sizeof *rp);
  unsigned char *first = calloc(cells, 2);
  unsigned *bits = calloc(cells, sizeof *bits);
  int *ready = calloc(cells, sizeof *ready);
  if (ks == NULL || rp == NULL || first == NULL || bits == NULL || ready == NULL) {
    free(ks); free(rp); free(first); free(bits); free(ready);
    return kc_fail(ENOMEM);
  }
  unsigned char *armed = first + cells;
  for (unsigned long i = 0; i < n; i++) ks[i] = fds[i].fd >= 0 ? kc_get(fds[i].fd) : NULL;
  group(fds, ks, n, first, bits);
  struct timespec deadline = {0, 0}, tl;
  if (ts) {
    now(&deadline);
    deadline.tv_sec += ts->tv_sec;
    deadline.tv_nsec += ts->tv_nsec;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_nsec -= 1000000000L; deadline.tv_sec++; }
  }
  int result = 0, err = 0, saved = errno;
  const struct timespec zero = {0, 0};
  unsigned long nf = 0;
  for (unsigned long i = 0; i < n; i++) {
    fds[i].revents = 0;
    if (!ks[i]) rp[nf++] = fds[i];
  }
  for (;;) {
    /* 1-2: readiness now, arming each Ksock unless the call must not wait */
    int may_wait = !ts || time_left(&deadline, &tl);
    int now_ready = arm_all(fds, ks, n, first, bits, may_wait, ready, armed);
    for (unsigned long f = 0; f < nf; f++) rp[f].revents = 0;
    if (nf > 0 && kc_sys_ppoll(rp, nf, &zero, NULL) < 0 && errno != EINTR) err = errno;
    foreign_results(fds, ks, n, rp);
    now_ready |= count_ready(fds, n) > 0;
    if (err != 0 || now_ready || !may_wait) {
      settle(fds, ks, n, first, bits, ready, armed); /* disarms what is armed */
      break;
    }
    /* 3: block on the foreign fds, each Ksock's socket and the wake-up fd */
    int w = my_waker(), woken = 0;
    unsigned long m = nf;
    for (unsigned long i = 0; i < n; i++) {
      if (!first[i]) continue;
      rp[m++] = (struct pollfd){fds[i].fd, POLLIN, 0};
      if (waiters(ks[i], w, 1)) woken = 1; /* another thread read the EVENT already */
    }
    if (w >= 0) rp[m++] = (struct pollfd){w, POLLIN, 0};
    int pr = 0;
    if (!woken) {
      if (ts) time_left(&deadline, &tl);
      pr = kc_sys_ppoll(rp, m, ts ? &tl : NULL, mask);
      if (pr < 0) err = errno;
    }
    for (unsigned long i = 0, k = nf; i < n; i++) {
      if (!first[i]) continue;
      if (w >= 0) waiters(ks[i], w, 0);
      if (pr > 0 && rp[k].revents) {
        kc_lock(ks[i]);
        kc_pump(ks[i], fds[i].fd); /* records a fresh EVENT; EOF marks it broken */
        kc_unlock(ks[i]);
      }
      k++;
    }
    if (w >= 0 && pr > 0 && rp[m - 1].revents) {
      uint64_t v;
      (void)kc_sys_read(w, &v, sizeof v);
    }
    /* 4: readiness now; armed Ksocks are disarmed */
    settle(fds, ks, n, first, bits, ready, armed);
    if (err != 0) break; /* EINTR included: disarmed, and returned */
    if (pr <= 0) for (unsigned long f = 0; f < nf; f++) rp[f].revents = 0;
    foreign_results(fds, ks, n, rp);
    ksock_results(fds, ks, n, ready);
    result = count_ready(fds, n);
    if (result > 0 || (ts && !time_left(&deadline, &tl))) break;
  }
  if (err == 0) {
    ksock_results(fds, ks, n, ready);
    result = count_ready(fds, n);
  }
  for (unsigned long i = 0; i < n; i++) kc_put(ks[i]);
  free(ks);
  free(rp);
  free(first);
  free(bits);
  free(ready);
  if (left && ts) time_left(&deadline, left);
  if (err) return kc_fail(err);
  errno = saved;
  return result;
}
