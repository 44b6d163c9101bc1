/*
 * fdtable.c: which descriptors are Ksocks, and their lifetime
 * (compat.md §2 "Per-fd state", "close", "fork").
 *
 * A two-level table indexed by fd, read without a lock, so that a descriptor
 * the layer does not own costs two atomic loads. Every dup alias points at
 * one reference-counted state.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kc.h"

#define CHUNK 1024
#define CHUNKS 1024 /* fds below 2^20 */

typedef _Atomic(struct kc_ksock *) slot_t;

static _Atomic(slot_t *) table[CHUNKS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int attached;


static slot_t *slot(int fd, int create) {
  if (fd < 0 || fd >= CHUNK * CHUNKS) return NULL;
  slot_t *c = atomic_load_explicit(&table[fd / CHUNK], memory_order_acquire);
  if (c == NULL && create) {
    c = calloc(CHUNK, sizeof *c);
    if (c == NULL) return NULL;
    atomic_store_explicit(&table[fd / CHUNK], c, memory_order_release);
  }
  return c ? &c[fd % CHUNK] : NULL;
}

int kc_any(void) { return atomic_load_explicit(&attached, memory_order_relaxed) > 0; }

struct kc_ksock *kc_get(int fd) {
  slot_t *s = slot(fd, 0);
  if (s == NULL || atomic_load_explicit(s, memory_order_acquire) == NULL) return NULL;
  pthread_mutex_lock(&table_lock);
  struct kc_ksock *ks = atomic_load(s);
  if (ks != NULL) atomic_fetch_add(&ks->refs, 1);
  pthread_mutex_unlock(&table_lock);
  return ks;
}

void kc_put(struct kc_ksock *ks) {
  if (ks == NULL || atomic_fetch_sub(&ks->refs, 1) != 1) return;
  pthread_mutex_destroy(&ks->lock);
  free(ks->rx);
  free(ks->cur);
  free(ks);
}

struct kc_ksock *kc_new(void) {
  struct kc_ksock *ks = calloc(1, sizeof *ks);
  if (ks == NULL) return NULL;
  if (pthread_mutex_init(&ks->lock, NULL) != 0) { free(ks); return NULL; }
  ks->ws = WS_EMPTY;
  return ks;
}

void kc_lock(struct kc_ksock *ks) { pthread_mutex_lock(&ks->lock); }
void kc_unlock(struct kc_ksock *ks) { pthread_mutex_unlock(&ks->lock); }

int kc_attach(int fd, struct kc_ksock *ks) {
  pthread_mutex_lock(&table_lock);
  slot_t *s = slot(fd, 1);
  if (s == NULL) { pthread_mutex_unlock(&table_lock); return -ENOMEM; }
  /* A stale entry (its fd closed behind the layer's back) is forgotten. */
  struct kc_ksock *old = atomic_exchange(s, ks);
  atomic_fetch_add(&ks->refs, 1);
  atomic_fetch_add(&ks->aliases, 1);
  if (old == NULL) atomic_fetch_add(&attached, 1);
  pthread_mutex_unlock(&table_lock);
  if (old != NULL) { atomic_fetch_sub(&old->aliases, 1); kc_put(old); }
  return 0;
}

struct kc_ksock *kc_detach(int fd) {
  slot_t *s = slot(fd, 0);
  if (s == NULL || atomic_load(s) == NULL) return NULL;
  pthread_mutex_lock(&table_lock);
  struct kc_ksock *ks = atomic_exchange(s, NULL);
  if (ks != NULL) atomic_fetch_sub(&attached, 1);
  pthread_mutex_unlock(&table_lock);
  return ks;
}

/* After kc_detach(fd), before the real close of fd: the synchronous release of
 * compat.md §2. kbusd releases the Ksock when it reads EOF and only then ends
 * its side, so reading to EOF means the release is complete, as after the
 * kernel's kbus_release (kbus.c:2576). A Ksock shared with another process
 * (after fork) is closed plainly: a shutdown would release it under the other. */
void kc_release(struct kc_ksock *ks, int fd) {
  if (atomic_fetch_sub(&ks->aliases, 1) != 1 || atomic_load(&ks->shared)) return;
  int saved = errno;
  kc_lock(ks);
  if (kc_sys_shutdown(fd, SHUT_WR) == 0) {
    unsigned char buf[4096];
    for (;;) {
      ssize_t r = kc_sys_recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) continue;
      if (r == 0) break;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) break;
      struct pollfd p = {fd, POLLIN, 0};
      kc_sys_ppoll(&p, 1, NULL, NULL);
    }
  }
  ks->broken = 1;
  kc_unlock(ks);
  errno = saved;
}

static void mark_all_shared(int child) {
  for (int c = 0; c < CHUNKS; c++) {
    slot_t *ch = atomic_load(&table[c]);
    if (ch == NULL) continue;
    for (int i = 0; i < CHUNK; i++) {
      struct kc_ksock *ks = atomic_load(&ch[i]);
      if (ks == NULL) continue;
      atomic_store(&ks->shared, 1);
      if (child) {
        pthread_mutex_init(&ks->lock, NULL);
        memset(ks->waiters, 0, sizeof ks->waiters);
      }
    }
  }
}

static void before_fork(void) { pthread_mutex_lock(&table_lock); }
static void after_fork_parent(void) {
  mark_all_shared(0);
  pthread_mutex_unlock(&table_lock);
}
static void after_fork_child(void) {
  pthread_mutex_init(&table_lock, NULL);
  mark_all_shared(1);
  kc_poll_atfork_child();
}

/* The fork rule of compat.md §2: both processes mark every Ksock shared. */
__attribute__((constructor)) static void kc_setup(void) {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
