/*
 * interpose-poll.c: poll, ppoll, select and pselect (compat.md §7.3). A call
 * with no Ksock among its fds goes straight to the real function.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/select.h>

#include "kc.h"

KC_SLOT(poll);
KC_SLOT(ppoll);
KC_SLOT(select);
KC_SLOT(pselect);

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
                size_t fdslen);
void __chk_fail(void) __attribute__((noreturn));

static int has_ksock(const struct pollfd *fds, nfds_t n) {
  if (!kc_any()) return 0;
  for (nfds_t i = 0; i < n; i++) {
    struct kc_ksock *ks = kc_get(fds[i].fd);
    if (ks) { kc_put(ks); return 1; }
  }
  return 0;
}

static const struct timespec *ms(int timeout, struct timespec *ts) {
  if (timeout < 0) return NULL;
  ts->tv_sec = timeout / 1000;
  ts->tv_nsec = (long)(timeout % 1000) * 1000000L;
  return ts;
}

KC_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout) {
  if (!has_ksock(fds, n)) return REAL(poll)(fds, n, timeout);
  struct timespec ts;
  return kc_poll_engine(fds, n, ms(timeout, &ts), NULL, NULL);
}

KC_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask) {
  if (!has_ksock(fds, n)) return REAL(ppoll)(fds, n, t, mask);
  return kc_poll_engine(fds, n, t, mask, NULL);
}

KC_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof *fds < n) __chk_fail();
  return poll(fds, n, timeout);
}

KC_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
                          const sigset_t *mask, size_t fdslen) {
  if (fdslen / sizeof *fds < n) __chk_fail();
  return ppoll(fds, n, t, mask);
}

/* select through the engine: Linux's POLLIN_SET, POLLOUT_SET and POLLEX_SET. */
static int select_engine(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                         const sigset_t *mask, struct timespec *left, int *handled) {
  *handled = 0;
  if (!kc_any() || nfds <= 0) return 0;
  int n = 0, any = 0;
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
    if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) {
      n++;
      if (!any) {
        struct kc_ksock *ks = kc_get(fd);
        if (ks) { any = 1; kc_put(ks); }
      }
    }
  }
  if (!any) return 0;
  *handled = 1;
  struct pollfd *p = calloc((size_t)n, sizeof *p);
  if (p == NULL) return kc_fail(ENOMEM);
  int k = 0;
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
    short ev = 0;
    if (r && FD_ISSET(fd, r)) ev |= POLLIN;
    if (w && FD_ISSET(fd, w)) ev |= POLLOUT;
    if (e && FD_ISSET(fd, e)) ev |= POLLPRI;
    if (ev) p[k++] = (struct pollfd){fd, ev, 0};
  }
  int res = kc_poll_engine(p, (unsigned long)n, t, mask, left);
  if (res < 0) { free(p); return -1; }
  for (int i = 0; i < n; i++) {
    if (p[i].revents & POLLNVAL) { free(p); return kc_fail(EBADF); }
  }
  int count = 0;
  for (int i = 0; i < n; i++) {
    int fd = p[i].fd;
    short rv = p[i].revents, ev = p[i].events;
    if (r) FD_CLR(fd, r);
    if (w) FD_CLR(fd, w);
    if (e) FD_CLR(fd, e);
    if ((ev & POLLIN) && (rv & (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR))) {
      FD_SET(fd, r);
      count++;
    }
    if ((ev & POLLOUT) && (rv & (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR))) {
      FD_SET(fd, w);
      count++;
    }
    if ((ev & POLLPRI) && (rv & POLLPRI)) {
      FD_SET(fd, e);
      count++;
    }
  }
  free(p);
  return count;
}

KC_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
  int handled;
  struct timespec ts, left;
  if (tv) {
    if (tv->tv_sec < 0 || tv->tv_usec < 0) return kc_fail(EINVAL);
    ts.tv_sec = tv->tv_sec + tv->tv_usec / 1000000;
    ts.tv_nsec = (tv->tv_usec % 1000000) * 1000L;
  }
  int res = select_engine(nfds, r, w, e, tv ? &ts : NULL, NULL, tv ? &left : NULL, &handled);
  if (!handled) return REAL(select)(nfds, r, w, e, tv);
  if (tv) { /* select updates its timeout with the time left, as Linux does */
    tv->tv_sec = left.tv_sec;
    tv->tv_usec = left.tv_nsec / 1000;
  }
  return res;
}

KC_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                      const sigset_t *mask) {
  int handled;
  int res = select_engine(nfds, r, w, e, t, mask, NULL, &handled);
  if (!handled) return REAL(pselect)(nfds, r, w, e, t, mask);
  return res;
}
