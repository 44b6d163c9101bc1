/* Every ioctl of the device through the layer, and their error cases (compat.md §3). */
#include "kbus_test.h"

#include <termios.h>

static void ksockid(void) {
  int a = open_ksock(0, O_RDWR), b = open_ksock(0, O_RDWR);
  uint32_t ia = ksock_id(a), ib = ksock_id(b);
  CHECK(ia != 0 && ib != 0 && ia != ib, "Ksock ids %u and %u", ia, ib);
  CHECK_ERR(ioctl(a, IOC_KSOCKID, NULL), EFAULT);
  CHECK_ERR(ioctl(a, IOC_KSOCKID, bad_pointer()), EFAULT);
  close(a);
  close(b);
}

static void reset_ignores_argument(void) {
  int fd = open_ksock(0, O_RDWR);
  CHECK_RET(ioctl(fd, IOC_RESET, NULL), 0);
  CHECK_RET(ioctl(fd, IOC_RESET, bad_pointer()), 0);
  CHECK_RET(ioctl(fd, IOC_DISCARD, bad_pointer()), 0);
  close(fd);
}

static void unknown_requests(void) {
  int fd = open_ksock(0, O_RDWR);
  uint32_t v = 0;
  int n = 0;
  CHECK_ERR(ioctl(fd, IOC(2u, 0), &v), ENOTTY);          /* nr 0 */
  CHECK_ERR(ioctl(fd, IOC(3u, 19), &v), ENOTTY);         /* above the last */
  CHECK_ERR(ioctl(fd, 0x80086a04ul, &v), ENOTTY);        /* type 'j' */
  CHECK_ERR(ioctl(fd, 0x40046b02ul, &v), ENOTTY);        /* i386 BIND */
  CHECK_ERR(ioctl(fd, 0x80046b04ul, &v), ENOTTY);        /* i386 KSOCKID */
  CHECK_ERR(ioctl(fd, IOC(1u, 4), &v), ENOTTY);          /* KSOCKID, wrong direction */
  CHECK_ERR(ioctl(fd, FIONREAD, &n), ENOTTY);
  struct termios t;
  CHECK_ERR(ioctl(fd, TCGETS, &t), ENOTTY);
  /* A sign-extended request is the same request (truncated to 32 bits). */
  uint32_t id = 0;
  CHECK_RET(ioctl(fd, (unsigned long)(long)(int)IOC_KSOCKID, &id), 0);
  CHECK(id == ksock_id(fd), "sign-extended KSOCKID gave %u", id);
  close(fd);
}

static void fd_requests_pass_through(void) {
  int fd = open_ksock(0, O_RDWR);
  CHECK_RET(ioctl(fd, FIOCLEX), 0);
  CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "FIOCLEX did not set FD_CLOEXEC");
  CHECK_RET(ioctl(fd, FIONCLEX), 0);
  CHECK(!(fcntl(fd, F_GETFD) & FD_CLOEXEC), "FIONCLEX did not clear FD_CLOEXEC");
  int on = 1, off = 0;
  CHECK_RET(ioctl(fd, FIONBIO, &on), 0);
  CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "FIONBIO did not set O_NONBLOCK");
  /* Non-blocking, the layer's own exchanges still complete. */
  CHECK(ksock_id(fd) != 0, "KSOCKID on a non-blocking Ksock");
  CHECK_RET(ioctl(fd, FIONBIO, &off), 0);
  /* kbus has no asynchronous notification: asking for it is ENOTTY. */
  CHECK_RET(ioctl(fd, FIOASYNC, &off), 0);
  CHECK_ERR(ioctl(fd, FIOASYNC, &on), ENOTTY);
  close(fd);
}

static void bind_and_unbind(void) {
  int fd = open_ksock(0, O_RDWR), other = open_ksock(0, O_RDWR);
  const char *name = unique("Bind");
  CHECK_RET(bind_name(fd, name, 0), 0);
  CHECK_RET(bind_name(fd, name, 1), 0);
  CHECK_ERR(bind_name(other, name, 1), EADDRINUSE);
  CHECK_ERR(bind_name(fd, "$.KBUS.ReplierBindEvent", 1), EBADMSG);
  CHECK_ERR(bind_name(fd, "Fred", 0), EBADMSG);
  CHECK_ERR(bind_name(fd, "$.Fred.", 0), EBADMSG);
  struct bind_request empty = {0, 0, "$.Fred"};
  CHECK_ERR(ioctl(fd, IOC_BIND, &empty), EBADMSG);
  static char longname[1100];
  memset(longname, 'a', sizeof longname - 1);
  memcpy(longname, "$.", 2);
  struct bind_request toolong = {0, 1001, longname};
  CHECK_ERR(ioctl(fd, IOC_BIND, &toolong), ENAMETOOLONG);
  CHECK_ERR(ioctl(fd, IOC_BIND, NULL), EFAULT);
  struct bind_request nullname = {0, 6, NULL};
  CHECK_ERR(ioctl(fd, IOC_BIND, &nullname), EFAULT);
  struct bind_request badname = {0, 6, bad_pointer()};
  CHECK_ERR(ioctl(fd, IOC_BIND, &badname), EFAULT);
  struct bind_request unbind = {0, (uint32_t)strlen(name), name};
  CHECK_RET(ioctl(fd, IOC_UNBIND, &unbind), 0);
  CHECK_ERR(ioctl(fd, IOC_UNBIND, &unbind), EINVAL);
  CHECK_ERR(ioctl(fd, IOC_UNBIND, NULL), EFAULT);
  close(fd);
  close(other);
}

static void replier_query(void) {
  int fd = open_ksock(0, O_RDWR), replier = open_ksock(0, O_RDWR);
  const char *name = unique("Who");
  struct bind_query q = {77, (uint32_t)strlen(name), name};
  CHECK_RET(ioctl(fd, IOC_REPLIER, &q), 0);
  CHECK(q.return_id == 0, "no replier, return_id %u", q.return_id);
  CHECK_RET(bind_name(replier, name, 1), 0);
  CHECK_RET(ioctl(fd, IOC_REPLIER, &q), 1);
  CHECK(q.return_id == ksock_id(replier), "return_id %u, replier is %u", q.return_id,
        ksock_id(replier));
  struct bind_query empty = {0, 0, name};
  CHECK_ERR(ioctl(fd, IOC_REPLIER, &empty), ENAMETOOLONG);
  struct bind_query toolong = {0, 1001, name};
  CHECK_ERR(ioctl(fd, IOC_REPLIER, &toolong), ENAMETOOLONG);
  CHECK_ERR(ioctl(fd, IOC_REPLIER, NULL), EFAULT);
  close(fd);
  close(replier);
}

static void nextmsg_and_lenleft(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Next");
  uint32_t len = 99, left = 99;
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 0);
  CHECK(len == 0, "NEXTMSG with nothing queued gave length %u", len);
  CHECK_RET(ioctl(fd, IOC_LENLEFT, &left), 0);
  CHECK(left == 0, "LENLEFT with no message %u", left);
  CHECK_RET(bind_name(fd, name, 0), 0);
  CHECK_RET(send_entire(fd, name, "abc1234", 7, 0, NULL), 0);
  CHECK_RET(send_entire(fd, name, "x", 1, 0, NULL), 0);
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  size_t want = entire_len(strlen(name), 7);
  CHECK(len == want, "NEXTMSG length %u, want %zu (C form)", len, want);
  CHECK_RET(ioctl(fd, IOC_LENLEFT, &left), 0);
  CHECK(left == want, "LENLEFT %u, want %zu", left, want);
  /* NEXTMSG drops the current message, read or not. */
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  CHECK(len == entire_len(strlen(name), 1), "second NEXTMSG length %u", len);
  CHECK_ERR(ioctl(fd, IOC_LENLEFT, NULL), EFAULT);
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 0);
  CHECK_RET(ioctl(fd, IOC_LENLEFT, &left), 0);
  CHECK(left == 0, "LENLEFT after the queue emptied %u", left);
  /* A NULL argument: the message is popped and current before EFAULT. */
  CHECK_RET(send_entire(fd, name, "abc", 3, 0, NULL), 0);
  CHECK_ERR(ioctl(fd, IOC_NEXTMSG, NULL), EFAULT);
  CHECK_RET(ioctl(fd, IOC_LENLEFT, &left), 0);
  CHECK(left == entire_len(strlen(name), 3), "LENLEFT after NEXTMSG(NULL) %u", left);
  uint32_t n = 9;
  CHECK_RET(ioctl(fd, IOC_NUMMSGS, &n), 0);
  CHECK(n == 0, "NUMMSGS %u after the pop", n);
  close(fd);
}

static void queue_limits_and_counts(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Queue");
  uint32_t v = 0;
  CHECK_RET(ioctl(fd, IOC_MAXMSGS, &v), 0);
  CHECK(v > 0, "MAXMSGS asked gave %u", v);
  v = 3;
  CHECK_RET(ioctl(fd, IOC_MAXMSGS, &v), 0);
  CHECK(v == 3, "MAXMSGS set 3 gave %u", v);
  CHECK_ERR(ioctl(fd, IOC_MAXMSGS, NULL), EFAULT);
  CHECK_RET(bind_name(fd, name, 0), 0);
  for (int i = 0; i < 2; i++) CHECK_RET(send_entire(fd, name, "m", 1, 0, NULL), 0);
  uint32_t n = 0;
  CHECK_RET(ioctl(fd, IOC_NUMMSGS, &n), 0);
  CHECK(n == 2, "NUMMSGS %u, want 2", n);
  CHECK_ERR(ioctl(fd, IOC_NUMMSGS, NULL), EFAULT);
  close(fd);
}

static void unreplied_to(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Req");
  CHECK_RET(bind_name(fd, name, 1), 0);
  struct msg_id id;
  CHECK_RET(send_entire(fd, name, "q", 1, FLAG_WANT_A_REPLY, &id), 0);
  uint32_t n = 9, len = 0;
  CHECK_RET(ioctl(fd, IOC_UNREPLIEDTO, &n), 0);
  CHECK(n == 0, "UNREPLIEDTO before the pop %u", n);
  CHECK_RET(ioctl(fd, IOC_NEXTMSG, &len), 1);
  CHECK_RET(ioctl(fd, IOC_UNREPLIEDTO, &n), 0);
  CHECK(n == 1, "UNREPLIEDTO after popping a request %u", n);
  CHECK_ERR(ioctl(fd, IOC_UNREPLIEDTO, NULL), EFAULT);
  close(fd);
}

static void tristate(unsigned long request, const char *what) {
  int fd = open_ksock(0, O_RDWR);
  uint32_t v = 0xFFFFFFFFu;
  CHECK_RET(ioctl(fd, request, &v), 0);
  CHECK(v == 0, "%s asked: %u, want 0", what, v);
  v = 1;
  CHECK_RET(ioctl(fd, request, &v), 0);
  CHECK(v == 0, "%s set 1: previous %u, want 0", what, v);
  v = 0xFFFFFFFFu;
  CHECK_RET(ioctl(fd, request, &v), 0);
  CHECK(v == 1, "%s asked after setting: %u", what, v);
  v = 2;
  CHECK_ERR(ioctl(fd, request, &v), EINVAL);
  v = 0;
  CHECK_RET(ioctl(fd, request, &v), 0);
  CHECK(v == 1, "%s set 0: previous %u", what, v);
  CHECK_ERR(ioctl(fd, request, NULL), EFAULT);
  close(fd);
}

static void msgonlyonce(void) { tristate(IOC_MSGONLYONCE, "MSGONLYONCE"); }
static void verbose(void) { tristate(IOC_VERBOSE, "VERBOSE"); }
static void reportreplierbinds(void) { tristate(IOC_REPORTREPLIERBINDS, "REPORTREPLIERBINDS"); }

static void report_replier_binds_queues_events(void) {
  int fd = open_ksock(0, O_RDWR), replier = open_ksock(0, O_RDWR);
  const char *name = unique("Bound");
  CHECK_RET(bind_name(replier, name, 1), 0);
  uint32_t v = 1, len = 0;
  CHECK_RET(ioctl(fd, IOC_REPORTREPLIERBINDS, &v), 0);
  /* One event per existing replier, on the asker's queue. */
  unsigned char *m = next_message(fd, &len);
  REQUIRE(m != NULL, "no bind event queued");
  CHECK(strcmp(msg_name(m), "$.KBUS.ReplierBindEvent") == 0, "got %s", msg_name(m));
  free(m);
  v = 0;
  CHECK_RET(ioctl(fd, IOC_REPORTREPLIERBINDS, &v), 0);
  close(fd);
  close(replier);
}

static void maxmsgsize(void) {
  /* The limit is per device: use a device of this case's own. */
  int first = open_ksock(0, O_RDWR);
  uint32_t device = 0;
  CHECK_RET(ioctl(first, IOC_NEWDEVICE, &device), 0);
  close(first);
  int fd = open_ksock((int)device, O_RDWR);
  const char *name = unique("Size");
  uint32_t v = 0, absolute = 1;
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &v), 0);
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &absolute), 0);
  CHECK(v == absolute, "a device starts at the absolute maximum: %u, absolute %u", v, absolute);
  /* kbusd's default --max-message-size, in C form (+24). */
  CHECK(absolute == 1049648 + 24, "absolute maximum %u, want %u", absolute, 1049648 + 24);
  v = 2;
  CHECK_ERR(ioctl(fd, IOC_MAXMSGSIZE, &v), EINVAL);
  v = 99;
  CHECK_ERR(ioctl(fd, IOC_MAXMSGSIZE, &v), EINVAL);
  v = absolute + 1;
  CHECK_ERR(ioctl(fd, IOC_MAXMSGSIZE, &v), EINVAL);
  v = 100; /* the least the kernel took, kbusd's 76 in socket form */
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &v), 0);
  CHECK(v == 100, "MAXMSGSIZE set 100 gave %u", v);
  v = 0;
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &v), 0);
  CHECK(v == 100, "MAXMSGSIZE asked after setting 100: %u", v);
  /* Header check 7, in C form: this name alone makes a message over 100 bytes. */
  REQUIRE(entire_len(strlen(name), 0) > 100, "name too short for the check");
  char data[4] = {'d', 'a', 't', 'a'};
  struct header h = make_header(name, NULL, 0, 0);
  CHECK_ERR(write(fd, &h, sizeof h), EMSGSIZE);
  /* A message exactly at the limit is accepted, one byte over is not. */
  v = (uint32_t)entire_len(strlen(name), 4);
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &v), 0);
  CHECK_RET(send_pointy(fd, name, data, 4, 0, NULL), 0);
  size_t entire;
  unsigned char *buf = make_entire(name, data, 4, 0, &entire);
  CHECK_RET(write(fd, buf, entire), (long)entire);
  CHECK_RET(ioctl(fd, IOC_DISCARD, NULL), 0);
  v = (uint32_t)entire_len(strlen(name), 4) - 1;
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &v), 0);
  struct header h4 = make_header(name, data, 4, 0);
  CHECK_ERR(write(fd, &h4, sizeof h4), EMSGSIZE);
  CHECK_ERR(write(fd, buf, entire), EMSGSIZE);
  free(buf);
  v = 1;
  CHECK_RET(ioctl(fd, IOC_MAXMSGSIZE, &v), 0);
  CHECK(v == absolute, "back to the absolute maximum: %u", v);
  CHECK_ERR(ioctl(fd, IOC_MAXMSGSIZE, NULL), EFAULT);
  close(fd);
}

static void newdevice(void) {
  int fd = open_ksock(0, O_RDWR);
  uint32_t n = 0, m = 0;
  CHECK_RET(ioctl(fd, IOC_NEWDEVICE, &n), 0);
  CHECK(n >= 1, "NEWDEVICE gave %u", n);
  /* Usable at once (no udev delay). */
  int dev = open_ksock((int)n, O_RDWR);
  close(dev);
  /* Out-only: the device is made, then EFAULT. */
  CHECK_ERR(ioctl(fd, IOC_NEWDEVICE, NULL), EFAULT);
  CHECK_RET(ioctl(fd, IOC_NEWDEVICE, &m), 0);
  CHECK(m == n + 2, "NEWDEVICE after one made under EFAULT gave %u, want %u", m, n + 2);
  close(fd);
}

static void lastsent(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Last");
  struct msg_id last = {9, 9}, id = {0, 0};
  CHECK_RET(ioctl(fd, IOC_LASTSENT, &last), 0);
  CHECK(last.network_id == 0 && last.serial_num == 0, "LASTSENT before any send {%u,%u}",
        last.network_id, last.serial_num);
  CHECK_RET(send_entire(fd, name, "a", 1, 0, &id), 0);
  CHECK(id.serial_num != 0, "SEND gave serial 0");
  CHECK_RET(ioctl(fd, IOC_LASTSENT, &last), 0);
  CHECK(last.serial_num == id.serial_num, "LASTSENT %u, SEND gave %u", last.serial_num,
        id.serial_num);
  CHECK_ERR(ioctl(fd, IOC_LASTSENT, NULL), EFAULT);
  close(fd);
}

static void send_and_discard(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Discard");
  struct msg_id id;
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  size_t len;
  unsigned char *buf = make_entire(name, "data", 4, 0, &len);
  CHECK_RET(write(fd, buf, 40), 40);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), EINVAL); /* an unfinished header */
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG); /* ... and it was discarded */
  CHECK_RET(write(fd, buf, len - 4), (long)(len - 4));
  CHECK_RET(ioctl(fd, IOC_DISCARD, NULL), 0);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  /* SEND's id is out-only: sent, then EFAULT. */
  CHECK_RET(bind_name(fd, name, 0), 0);
  CHECK_RET(write(fd, buf, len), (long)len);
  CHECK_ERR(ioctl(fd, IOC_SEND, NULL), EFAULT);
  uint32_t n = 0;
  CHECK_RET(ioctl(fd, IOC_NUMMSGS, &n), 0);
  CHECK(n == 1, "the message SEND(NULL) sent is not queued (NUMMSGS %u)", n);
  free(buf);
  close(fd);
}

static void read_only_ksock(void) {
  int fd = open_ksock(0, O_RDONLY);
  struct msg_id id;
  size_t len;
  unsigned char *buf = make_entire(unique("RO"), "x", 1, 0, &len);
  CHECK_ERR(write(fd, buf, len), EBADF);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  free(buf);
  close(fd);
}

static const struct test_case cases[] = {
    {"ksockid", ksockid},
    {"reset-ignores-argument", reset_ignores_argument},
    {"unknown-requests", unknown_requests},
    {"fd-requests-pass-through", fd_requests_pass_through},
    {"bind-and-unbind", bind_and_unbind},
    {"replier-query", replier_query},
    {"nextmsg-and-lenleft", nextmsg_and_lenleft},
    {"queue-limits-and-counts", queue_limits_and_counts},
    {"unreplied-to", unreplied_to},
    {"msgonlyonce", msgonlyonce},
    {"verbose", verbose},
    {"reportreplierbinds", reportreplierbinds},
    {"report-replier-binds-queues-events", report_replier_binds_queues_events},
    {"maxmsgsize", maxmsgsize},
    {"newdevice", newdevice},
    {"lastsent", lastsent},
    {"send-and-discard", send_and_discard},
    {"read-only-ksock", read_only_ksock},
    {NULL, NULL},
};

int main(int argc, char **argv) { return run_case(argc, argv, cases); }
