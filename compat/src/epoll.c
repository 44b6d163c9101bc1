/*
 * epoll.c: epoll over Ksocks (compat.md §1.3).
 *
 * A Ksock is never added to the kernel's epoll set: its socket's readiness is
 * not the device's. The layer keeps its own list of (epoll fd, Ksock fd,
 * events, data) and epoll_wait on an epoll fd with Ksocks runs the poll
 * engine over the epoll fd itself (readable when a foreign fd is ready) and
 * those Ksocks, then fills the foreign events with a non-blocking real
 * epoll_wait. Limits: EPOLLET is treated as level-triggered; an epoll fd
 * watching Ksocks is not itself readable when only a Ksock is ready (nested
 * epoll, or poll on the epoll fd, does not see them); a registration is
 * keyed by fd, and dropped when that fd (or the epoll fd) is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "kc.h"

struct reg {
  int epfd, fd, disabled;
  struct epoll_event ev;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg *regs;
static size_t nregs, capregs;
static atomic_size_t any_regs;

KC_SLOT(epoll_ctl);
KC_SLOT(epoll_wait);
KC_SLOT(epoll_pwait);
KC_SLOT(epoll_pwait2);

static struct reg *find(int epfd, int fd) {
  for (size_t i = 0; i < nregs; i++)
    if (regs[i].epfd == epfd && regs[i].fd == fd) return &regs[i];
  return NULL;
}

void kc_epoll_forget(int lo, int hi) {
  if (atomic_load(&any_regs) == 0) return;
  pthread_mutex_lock(&reg_lock);
  for (size_t i = 0; i < nregs;) {
    int e = regs[i].epfd, f = regs[i].fd;
    if ((e >= lo && e <= hi) || (f >= lo && f <= hi)) regs[i] = regs[--nregs];
    else i++;
  }
  atomic_store(&any_regs, nregs);
  pthread_mutex_unlock(&reg_lock);
}

static int ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  if (kc_sys_fcntl(epfd, F_GETFD, 0) < 0) return -EBADF;
  if (epfd == fd) return -EINVAL;
  if (op != EPOLL_CTL_DEL && ev == NULL) return -EFAULT;
  struct epoll_event copy;
  if (ev && kc_copy_in(&copy, (uint64_t)(uintptr_t)ev, sizeof copy) < 0) return -EFAULT;
  int r = 0;
  pthread_mutex_lock(&reg_lock);
  struct reg *g = find(epfd, fd);
  switch (op) {
    case EPOLL_CTL_ADD:
      if (g) { r = -EEXIST; break; }
      if (nregs == capregs) {
        size_t cap = capregs ? capregs * 2 : 16;
        struct reg *nr = realloc(regs, cap * sizeof *nr);
        if (nr == NULL) { r = -ENOMEM; break; }
        regs = nr;
        capregs = cap;
      }
      regs[nregs++] = (struct reg){epfd, fd, 0, copy};
      break;
    case EPOLL_CTL_MOD:
      if (!g) { r = -ENOENT; break; }
      g->ev = copy;
      g->disabled = 0;
      break;
    case EPOLL_CTL_DEL:
      if (!g) { r = -ENOENT; break; }
      *g = regs[--nregs];
      break;
    default: r = -EINVAL;
  }
  atomic_store(&any_regs, nregs);
  pthread_mutex_unlock(&reg_lock);
  return r;
}

KC_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  struct kc_ksock *ks = kc_any() ? kc_get(fd) : NULL;
  if (ks == NULL) {
    if (REAL(epoll_ctl) == NULL) return kc_fail(ENOSYS);
    return REAL(epoll_ctl)(epfd, op, fd, ev);
  }
  kc_put(ks);
  int r = ctl(epfd, op, fd, ev);
  return r < 0 ? kc_fail(-r) : 0;
}

static short to_poll(uint32_t e) {
  short p = 0;
  if (e & (EPOLLIN | EPOLLRDNORM)) p |= POLLIN;
  if (e & (EPOLLOUT | EPOLLWRNORM)) p |= POLLOUT;
  return p;
}

static uint32_t to_epoll(short p, uint32_t asked) {
  uint32_t e = 0;
  if (p & POLLIN) e |= EPOLLIN | (asked & EPOLLRDNORM);
  if (p & POLLOUT) e |= EPOLLOUT | (asked & EPOLLWRNORM);
  if (p & POLLERR) e |= EPOLLERR;
  return e;
}

/* -1 with errno, or the number of events; -2: no Ksock watched, use the real call. */
static int wait_ksocks(int epfd, struct epoll_event *out, int max, const struct timespec *ts,
                       const sigset_t *mask) {
  if (atomic_load(&any_regs) == 0) return -2;
  if (max <= 0) return kc_fail(EINVAL);
  pthread_mutex_lock(&reg_lock);
  size_t k = 0;
  for (size_t i = 0; i < nregs; i++) k += regs[i].epfd == epfd && !regs[i].disabled;
  struct reg *mine = k ? malloc(k * sizeof *mine) : NULL;
  struct pollfd *p = k ? calloc(k + 1, sizeof *p) : NULL;
  if (k && (mine == NULL || p == NULL)) {
    pthread_mutex_unlock(&reg_lock);
    free(mine);
    free(p);
    return kc_fail(ENOMEM);
  }
  for (size_t i = 0, j = 0; i < nregs; i++)
    if (regs[i].epfd == epfd && !regs[i].disabled) mine[j++] = regs[i];
  pthread_mutex_unlock(&reg_lock);
  if (k == 0) return -2;
  p[0] = (struct pollfd){epfd, POLLIN, 0};
  for (size_t j = 0; j < k; j++) p[j + 1] = (struct pollfd){mine[j].fd, to_poll(mine[j].ev.events), 0};
  struct timespec left, *t = NULL;
  if (ts) { left = *ts; t = &left; }
  int n = 0;
  for (;;) {
    int r = kc_poll_engine(p, k + 1, t, mask, t ? &left : NULL);
    if (r < 0) { n = -1; break; }
    for (size_t j = 0; j < k && n < max; j++) {
      if (p[j + 1].revents == 0) continue;
      out[n].events = to_epoll(p[j + 1].revents, mine[j].ev.events);
      out[n].data = mine[j].ev.data;
      n++;
      if (mine[j].ev.events & EPOLLONESHOT) {
        pthread_mutex_lock(&reg_lock);
        struct reg *g = find(epfd, mine[j].fd);
        if (g) g->disabled = 1;
        pthread_mutex_unlock(&reg_lock);
      }
    }
    if ((p[0].revents & POLLIN) && n < max) {
      int f = REAL(epoll_wait)(epfd, out + n, max - n, 0);
      if (f > 0) n += f;
    }
    if (n > 0 || (t && t->tv_sec == 0 && t->tv_nsec == 0)) break;
  }
  free(mine);
  free(p);
  return n;
}

static int ms_to_ts(int timeout, struct timespec *ts) {
  if (timeout < 0) return 0;
  ts->tv_sec = timeout / 1000;
  ts->tv_nsec = (long)(timeout % 1000) * 1000000L;
  return 1;
}

KC_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout) {
  struct timespec ts;
  int r = wait_ksocks(epfd, ev, max, ms_to_ts(timeout, &ts) ? &ts : NULL, NULL);
  return r != -2 ? r : REAL(epoll_wait)(epfd, ev, max, timeout);
}

KC_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                          const sigset_t *mask) {
  struct timespec ts;
  int r = wait_ksocks(epfd, ev, max, ms_to_ts(timeout, &ts) ? &ts : NULL, mask);
  return r != -2 ? r : REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
}

KC_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *t,
                           const sigset_t *mask) {
  int r = wait_ksocks(epfd, ev, max, t, mask);
  if (r != -2) return r;
  if (REAL(epoll_pwait2) == NULL) return kc_fail(ENOSYS);
  return REAL(epoll_pwait2)(epfd, ev, max, t, mask);
}
