/* Reading, readiness, waiting sends, close, fork and dup through the layer (compat.md §2, §6.4, §7). */
#include "kbus_test.h"

#include <sys/select.h>
#include <sys/wait.h>

static void read_in_pieces_with_lenleft(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Fred");
  CHECK_RET(bind_name(fd, name, 0), 0);
  CHECK_RET(send_entire(fd, name, "abc1234", 7, 0, NULL), 0);
  uint32_t len = 0, left = 0;
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  size_t total = entire_len(strlen(name), 7);
  REQUIRE(len == total, "NEXTMSG length %u, want %zu", len, total);
  unsigned char msg[256];
  size_t at = 0, sizes[] = {1, 3, 56, 20, 8, 1, 2};
  for (size_t i = 0; at < total; i++) {
    size_t want = i < sizeof sizes / sizeof sizes[0] ? sizes[i] : 7;
    size_t expect = want < total - at ? want : total - at;
    CHECK_RET(read(fd, msg + at, want), (long)expect);
    at += expect;
    CHECK_RET(ioctl(fd, IOC_LENLEFT, &left), 0);
    CHECK(left == total - at, "LENLEFT %u after %zu bytes, want %zu", left, at, total - at);
  }
  /* The whole message has gone: a further read gives 0, so does a 0-byte read. */
  CHECK_RET(read(fd, msg, sizeof msg), 0);
  CHECK_RET(read(fd, msg, 0), 0);
  /* The C form: guards, zero padding and NULL pointers, name and data after 88 bytes. */
  const struct header *h = hdr(msg);
  CHECK(h->start_guard == START_GUARD && h->end_guard == END_GUARD, "guards %#x %#x",
        h->start_guard, h->end_guard);
  static const unsigned char zeros[20];
  CHECK(memcmp(msg + 60, zeros, 20) == 0 && memcmp(msg + 84, zeros, 4) == 0,
        "padding or pointers not zero");
  CHECK(h->name_len == strlen(name) && h->data_len == 7, "lengths %u %u", h->name_len,
        h->data_len);
  CHECK(h->from == ksock_id(fd), "from %u", h->from);
  CHECK(strcmp(msg_name(msg), name) == 0, "name %s", msg_name(msg));
  CHECK(memcmp(msg_data(msg), "abc1234", 7) == 0, "data");
  uint32_t guard;
  memcpy(&guard, msg + total - 4, 4);
  CHECK(guard == END_GUARD, "final guard %#x", guard);
  close(fd);
}

static void read_byte_by_byte(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Bytes");
  CHECK_RET(bind_name(fd, name, 0), 0);
  CHECK_RET(send_entire(fd, name, "xyz", 3, 0, NULL), 0);
  uint32_t len = 0, left = 0;
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  for (uint32_t i = 0; i < len; i++) {
    unsigned char b;
    CHECK_RET(read(fd, &b, 1), 1);
    CHECK_RET(ioctl(fd, IOC_LENLEFT, &left), 0);
    CHECK(left == len - i - 1, "LENLEFT %u after %u bytes", left, i + 1);
  }
  close(fd);
}

static void read_errors(void) {
  int w = open_ksock(0, O_WRONLY), r = open_ksock(0, O_RDWR);
  unsigned char buf[8];
  CHECK_ERR(read(w, buf, sizeof buf), EBADF);
  CHECK_RET(read(r, buf, sizeof buf), 0); /* no current message */
  const char *name = unique("Fault");
  CHECK_RET(bind_name(r, name, 0), 0);
  CHECK_RET(send_entire(r, name, "a", 1, 0, NULL), 0);
  uint32_t len;
  CHECK_RET(ioctl(r, IOC_NEXTMSG, &len), 1);
  CHECK_ERR(read(r, bad_pointer(), 4), EFAULT);
  close(w);
  close(r);
}

static void select_ksock_and_pipe(void) {
  int fd = open_ksock(0, O_RDWR), p[2];
  REQUIRE(pipe(p) == 0, "pipe");
  const char *name = unique("Select");
  CHECK_RET(bind_name(fd, name, 0), 0);
  int nfds = (fd > p[0] ? fd : p[0]) + 1;
  fd_set rd, wr, ex;
  struct timeval tv;
  /* Nothing to read; the Ksock is writable. */
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_ZERO(&ex);
  FD_SET(fd, &rd);
  FD_SET(p[0], &rd);
  FD_SET(fd, &wr);
  FD_SET(fd, &ex);
  tv = (struct timeval){0, 50000};
  CHECK_RET(select(nfds, &rd, &wr, &ex, &tv), 1);
  CHECK(!FD_ISSET(fd, &rd) && !FD_ISSET(p[0], &rd) && FD_ISSET(fd, &wr) && !FD_ISSET(fd, &ex),
        "readiness with nothing queued");
  /* Only the pipe readable. */
  CHECK_RET(write(p[1], "x", 1), 1);
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  FD_SET(p[0], &rd);
  tv = (struct timeval){0, 0};
  CHECK_RET(select(nfds, &rd, NULL, NULL, &tv), 1);
  CHECK(FD_ISSET(p[0], &rd) && !FD_ISSET(fd, &rd), "only the pipe should be readable");
  char c;
  CHECK_RET(read(p[0], &c, 1), 1);
  /* Only the Ksock readable, once a message is queued. */
  CHECK_RET(send_entire(fd, name, "m", 1, 0, NULL), 0);
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  FD_SET(p[0], &rd);
  tv = (struct timeval){20, 0};
  CHECK_RET(select(nfds, &rd, NULL, NULL, &tv), 1);
  CHECK(FD_ISSET(fd, &rd) && !FD_ISSET(p[0], &rd), "only the Ksock should be readable");
  /* Blocked in select, woken by another process's message. */
  uint32_t len;
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  pid_t child = fork();
  if (child == 0) {
    int s = open_ksock(0, O_WRONLY);
    _exit(send_entire(s, name, "late", 4, 0, NULL) == 0 ? 0 : 1);
  }
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  FD_SET(p[0], &rd);
  tv = (struct timeval){20, 0};
  CHECK_RET(select(nfds, &rd, NULL, NULL, &tv), 1);
  CHECK(FD_ISSET(fd, &rd), "the child's message did not wake select");
  int status;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed to send");
  close(fd);
}

static void poll_ksock_and_pipe(void) {
  int fd = open_ksock(0, O_RDWR), ro = open_ksock(0, O_RDONLY), p[2];
  REQUIRE(pipe(p) == 0, "pipe");
  const char *name = unique("Poll");
  CHECK_RET(bind_name(fd, name, 0), 0);
  /* Readiness is reported masked by what was asked for (POLLRDNORM, POLLWRNORM too), never POLLPRI. */
  short all = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLPRI;
  struct pollfd fds[3] = {{fd, all, 0}, {p[0], POLLIN, 0}, {ro, POLLIN | POLLOUT, 0}};
  CHECK_RET(poll(fds, 3, 0), 1);
  CHECK(fds[0].revents == (POLLOUT | POLLWRNORM), "empty Ksock revents %#x", fds[0].revents);
  CHECK(fds[1].revents == 0 && fds[2].revents == 0, "pipe %#x, read-only Ksock %#x",
        fds[1].revents, fds[2].revents);
  /* Only what was asked for is reported. */
  fds[0].events = POLLIN;
  CHECK_RET(poll(fds, 2, 30), 0);
  CHECK_RET(send_entire(fd, name, "m", 1, 0, NULL), 0);
  fds[0].events = all;
  CHECK_RET(poll(fds, 2, -1), 1);
  CHECK(fds[0].revents == (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM), "revents %#x",
        fds[0].revents);
  fds[0].events = POLLIN | POLLOUT;
  CHECK_RET(poll(fds, 2, 0), 1);
  CHECK(fds[0].revents == (POLLIN | POLLOUT), "asked POLLIN|POLLOUT: revents %#x", fds[0].revents);
  uint32_t len;
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  /* Blocked in poll on both, woken by the pipe. */
  pid_t child = fork();
  if (child == 0) _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
  fds[0].events = POLLIN;
  CHECK_RET(poll(fds, 2, 20000), 1);
  CHECK(fds[1].revents & POLLIN, "the pipe did not wake poll");
  CHECK(fds[0].revents == 0, "the Ksock is not readable: %#x", fds[0].revents);
  waitpid(child, NULL, 0);
  close(fd);
  close(ro);
}

static void all_or_wait(void) {
  int listener = open_ksock(0, O_RDWR), sender = open_ksock(0, O_RDWR);
  const char *name = unique("Wait");
  uint32_t one = 1, len = 0;
  CHECK_RET(ioctl(listener, IOC_MAXMSGS, &one), 0);
  CHECK_RET(bind_name(listener, name, 0), 0);
  CHECK_RET(send_entire(sender, name, "first", 5, FLAG_ALL_OR_WAIT, NULL), 0);
  /* The queue is full: the second send waits, and SEND says EAGAIN with its id. */
  size_t n;
  unsigned char *buf = make_entire(name, "second", 6, FLAG_ALL_OR_WAIT, &n);
  CHECK_RET(write(sender, buf, n), (long)n);
  struct msg_id id = {0, 0}, last = {0, 0};
  CHECK_ERR(ioctl(sender, IOC_SEND, &id), EAGAIN);
  CHECK(id.serial_num != 0, "SEND gave no id with EAGAIN");
  CHECK_RET(ioctl(sender, IOC_LASTSENT, &last), 0);
  CHECK(last.serial_num == id.serial_num, "LASTSENT %u, EAGAIN gave %u", last.serial_num,
        id.serial_num);
  /* While it waits: not writable, and writes are EALREADY (even 0 bytes). */
  struct pollfd pfd = {sender, POLLOUT, 0};
  CHECK_RET(poll(&pfd, 1, 0), 0);
  CHECK_ERR(write(sender, buf, n), EALREADY);
  CHECK_ERR(write(sender, buf, 0), EALREADY);
  /* Room appears: the send completes, the sender is writable again. */
  CHECK_RET(ioctl(listener, IOC_NEXTMSG, &len), 1);
  pfd.revents = 0;
  CHECK_RET(poll(&pfd, 1, 20000), 1);
  CHECK(pfd.revents & POLLOUT, "the sender never became writable: %#x", pfd.revents);
  wait_readable(listener);
  unsigned char *m = next_message(listener, &len);
  REQUIRE(m != NULL, "the waiting message did not arrive");
  CHECK(memcmp(msg_data(m), "second", 6) == 0, "got the wrong message");
  CHECK(hdr(m)->id.serial_num == id.serial_num, "arrived as %u, sent as %u", hdr(m)->id.serial_num,
        id.serial_num);
  free(m);
  /* And the sender writes again. */
  CHECK_RET(send_entire(sender, name, "third", 5, 0, NULL), 0);
  free(buf);
  close(listener);
  close(sender);
}

/* The status message `requester` has now, without waiting: its name. */
static void expect_status_now(int requester, const char *status) {
  uint32_t len = 0;
  unsigned char *m = next_message(requester, &len);
  REQUIRE(m != NULL, "no status message right after close (want %s)", status);
  CHECK(strcmp(msg_name(m), status) == 0, "got %s, want %s", msg_name(m), status);
  free(m);
}

static void close_then_status(void) {
  int requester = open_ksock(0, O_RDWR);
  const char *name = unique("Service");
  /* A replier that closes without reading the request: GoneAway. */
  int replier = open_ksock(0, O_RDWR);
  CHECK_RET(bind_name(replier, name, 1), 0);
  CHECK_RET(send_entire(requester, name, "q1", 2, FLAG_WANT_A_REPLY, NULL), 0);
  CHECK_RET(close(replier), 0);
  expect_status_now(requester, "$.KBUS.Replier.GoneAway");
  /* One that read it (popping counts as reading) and closes: Ignored. */
  replier = open_ksock(0, O_RDWR);
  CHECK_RET(bind_name(replier, name, 1), 0);
  CHECK_RET(send_entire(requester, name, "q2", 2, FLAG_WANT_A_REPLY, NULL), 0);
  uint32_t len;
  CHECK_RET(ioctl(replier, IOC_NEXTMSG, &len), 1);
  CHECK_RET(close(replier), 0);
  expect_status_now(requester, "$.KBUS.Replier.Ignored");
  /* And the binding has gone: nobody replies now. */
  struct bind_query q = {0, (uint32_t)strlen(name), name};
  CHECK_RET(ioctl(requester, IOC_REPLIER, &q), 0);
  close(requester);
}

static void forked_child(void) {
  int listener = open_ksock(0, O_RDWR), shared = open_ksock(0, O_RDWR);
  const char *name = unique("Fork");
  CHECK_RET(bind_name(listener, name, 0), 0);
  uint32_t id = ksock_id(shared);
  pid_t child = fork();
  if (child == 0) {
    /* The child uses the Ksock it inherited, then one of its own, and exits. */
    int ok = ksock_id(shared) == id && send_entire(shared, name, "child", 5, 0, NULL) == 0;
    int own = open_ksock(0, O_RDWR);
    ok = ok && ksock_id(own) != id && send_entire(own, name, "own", 3, 0, NULL) == 0;
    close(own);
    close(shared);
    _exit(ok ? 0 : 1);
  }
  int status;
  REQUIRE(waitpid(child, &status, 0) == child, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (%#x)", status);
  /* The parent's Ksock is still open after the child closed its copy. */
  CHECK(ksock_id(shared) == id, "the Ksock changed");
  CHECK_RET(send_entire(shared, name, "parent", 6, 0, NULL), 0);
  const char *want[] = {"child", "own", "parent"};
  for (int i = 0; i < 3; i++) {
    uint32_t len;
    unsigned char *m = next_message(listener, &len);
    REQUIRE(m != NULL, "message %d missing", i);
    CHECK(memcmp(msg_data(m), want[i], strlen(want[i])) == 0, "message %d", i);
    CHECK((hdr(m)->from == id) == (i != 1), "message %d from %u (shared Ksock %u)", i, hdr(m)->from, id);
    free(m);
  }
  close(listener);
  close(shared);
}

static void dup_shares_the_ksock(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Dup");
  CHECK_RET(bind_name(fd, name, 0), 0);
  int copy = dup(fd);
  REQUIRE(copy >= 0, "dup");
  CHECK(ksock_id(copy) == ksock_id(fd), "a dup is the same Ksock");
  /* Written through one, sent through the other. */
  size_t len;
  unsigned char *buf = make_entire(name, "dup", 3, 0, &len);
  CHECK_RET(write(fd, buf, 50), 50);
  CHECK_RET(write(copy, buf + 50, len - 50), (long)(len - 50));
  struct msg_id id;
  CHECK_RET(ioctl(fd, IOC_SEND, &id), 0);
  /* Closing one alias keeps the Ksock (and its binding). */
  uint32_t id_before = ksock_id(fd);
  CHECK_RET(close(fd), 0);
  CHECK(ksock_id(copy) == id_before, "KSOCKID through the dup after closing the original");
  uint32_t n;
  unsigned char *m = next_message(copy, &n);
  CHECK(m != NULL, "the message sent before the close is gone");
  free(m);
  /* dup2 onto a Ksock closes that Ksock. */
  int other = open_ksock(0, O_RDWR), p[2];
  REQUIRE(pipe(p) == 0, "pipe");
  CHECK_RET(dup2(p[0], other), other);
  CHECK_ERR(ioctl(other, IOC_KSOCKID, &n), ENOTTY);
  free(buf);
  close(copy);
}

static const struct test_case cases[] = {
    {"read-in-pieces-with-lenleft", read_in_pieces_with_lenleft},
    {"read-byte-by-byte", read_byte_by_byte},
    {"read-errors", read_errors},
    {"select-ksock-and-pipe", select_ksock_and_pipe},
    {"poll-ksock-and-pipe", poll_ksock_and_pipe},
    {"all-or-wait", all_or_wait},
    {"close-then-status", close_then_status},
    {"forked-child", forked_child},
    {"dup-shares-the-ksock", dup_shares_the_ksock},
    {NULL, NULL},
};

int main(int argc, char **argv) { return run_case(argc, argv, cases); }
