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

/* Which entries are the first of their Ksock (aliases share one notification),
 * with the union of what every entry of that Ksock asks. */
static unsigned wanted(struct pollfd *fds, struct kc_ksock **ks, unsigned long n, unsigned long i) {
  for (unsigned long j = 0; j < i; j++)
    if (ks[j] == ks[i]) return 0;
  unsigned bits = 0;
  for (unsigned long j = i; j < n; j++)
    if (ks[j] == ks[i]) bits |= notify_bits(fds[j].events);
  return bits;
}

static void waiters(struct kc_ksock *k, int fd, int add) {
  kc_lock(k);
  for (int i = 0; i < KC_MAX_WAITERS; i++) {
    if (add && k->waiters[i] == 0) { k->waiters[i] = fd; break; }
    if (!add && k->waiters[i] == fd) { k->waiters[i] = 0; break; }
  }
  kc_unlock(k);
}

int kc_poll_engine(struct pollfd *fds, unsigned long n, const struct timespec *ts,
                   const sigset_t *mask, struct timespec *left) {
  struct kc_ksock **ks = calloc(n ? n : 1, sizeof *ks);
  struct pollfd *rp = calloc(2 * n + 1, sizeof *rp);
  if (ks == NULL || rp == NULL) { free(ks); free(rp); return kc_fail(ENOMEM); }
  for (unsigned long i = 0; i < n; i++) ks[i] = fds[i].fd >= 0 ? kc_get(fds[i].fd) : NULL;
  struct timespec deadline = {0, 0}, tl;
  if (ts) {
    now(&deadline);
    deadline.tv_sec += ts->tv_sec;
    deadline.tv_nsec += ts->tv_nsec;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_nsec -= 1000000000L; deadline.tv_sec++; }
  }
  int result = 0, err = 0;
  /* 1: readiness now, without blocking */
  unsigned long nf = 0;
  for (unsigned long i = 0; i < n; i++) {
    fds[i].revents = 0;
    if (ks[i]) fds[i].revents = revents_of(poll_one(ks[i], fds[i].fd, 0), fds[i].events);
    else rp[nf++] = fds[i];
  }
  struct timespec zero = {0, 0};
  for (;;) {
    if (nf > 0 && kc_sys_ppoll(rp, nf, &zero, NULL) < 0 && errno != EINTR) {
      err = errno;
      break;
    }
    for (unsigned long i = 0, f = 0; i < n; i++) {
      if (!ks[i]) fds[i].revents = rp[f++].revents;
    }
    result = 0;
    for (unsigned long i = 0; i < n; i++) result += fds[i].revents != 0;
    if (result > 0 || (ts && !time_left(&deadline, &tl))) break;
    /* 2: arm */
    int ready = 0;
    for (unsigned long i = 0; i < n && !ready; i++) {
      unsigned bits = ks[i] ? wanted(fds, ks, n, i) : 0;
      if (bits == 0) continue;
      int r = poll_one(ks[i], fds[i].fd, bits);
      if (r < 0 || (r & (int)bits)) ready = 1;
    }
    /* 3: block */
    int w = ready ? -1 : my_waker();
    unsigned long m = nf;
    for (unsigned long i = 0; i < n; i++) {
      if (ks[i] && wanted(fds, ks, n, i)) {
        rp[m].fd = fds[i].fd;
        rp[m].events = POLLIN;
        rp[m].revents = 0;
        m++;
        if (w >= 0) waiters(ks[i], w, 1);
      }
    }
    if (w >= 0) { rp[m].fd = w; rp[m].events = POLLIN; rp[m].revents = 0; m++; }
    /* an EVENT already recorded by another thread: do not wait */
    for (unsigned long i = 0; i < n; i++) {
      if (ks[i] && (ks[i]->events || ks[i]->broken)) ready = 1;
    }
    int pr = 0;
    if (!ready) {
      if (ts) time_left(&deadline, &tl);
      pr = kc_sys_ppoll(rp, m, ts ? &tl : NULL, mask);
      if (pr < 0) err = errno;
    }
    for (unsigned long i = 0, k = nf; i < n; i++) {
      if (!ks[i] || !wanted(fds, ks, n, i)) continue;
      if (w >= 0) waiters(ks[i], w, 0);
      if (!ready && pr > 0 && rp[k].revents) { kc_lock(ks[i]); kc_pump(ks[i], fds[i].fd); kc_unlock(ks[i]); }
      k++;
    }
    if (w >= 0 && !ready && pr > 0) { uint64_t v; (void)kc_sys_read(w, &v, sizeof v); }
    /* 4: readiness now; POLL 0 also disarms */
    for (unsigned long i = 0; i < n; i++) {
      if (ks[i]) fds[i].revents = revents_of(poll_one(ks[i], fds[i].fd, 0), fds[i].events);
    }
    if (err == EINTR) break;
    if (err != 0) break;
    for (unsigned long i = 0, f = 0; i < n; i++) {
      if (!ks[i]) fds[i].revents = rp[f++].revents;
    }
    result = 0;
    for (unsigned long i = 0; i < n; i++) result += fds[i].revents != 0;
    if (result > 0 || (ts && !time_left(&deadline, &tl))) break;
    /* nothing yet: poll the foreign fds again without waiting, then re-arm */
    for (unsigned long i = 0, f = 0; i < n; i++) if (!ks[i]) rp[f++] = fds[i];
  }
  for (unsigned long i = 0; i < n; i++) kc_put(ks[i]);
  free(ks);
  free(rp);
  if (left && ts) time_left(&deadline, left);
  if (err) return kc_fail(err);
  return result;
}
