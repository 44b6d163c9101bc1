/* Small programs for the compatibility layer's smoke test, one per argv[1].
 * Each prints what it saw, one fact a line, for the test to compare. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

struct bind_request { uint32_t is_replier, name_len; const char *name; };
struct header {
  uint32_t start_guard, id_net, id_serial, irt_net, irt_serial, to, from, of_net, of_local,
      ft_net, ft_local, extra, flags, name_len, data_len;
  uint32_t pad;
  const char *name;
  const void *data;
  uint32_t end_guard, pad2;
};

#define BIND 0x40086b02u
#define KSOCKID 0x80086b04u
#define NEXTMSG 0x80086b06u
#define LENLEFT 0x80086b07u
#define SEND 0x80086b08u
#define WANT_A_REPLY 1u

static int ksock(void) {
  int fd = open("/dev/kbus0", O_RDWR);
  if (fd < 0) { printf("open %s\n", strerror(errno)); exit(1); }
  return fd;
}

static int bind_name(int fd, const char *name, uint32_t replier) {
  struct bind_request b = {replier, (uint32_t)strlen(name), name};
  return ioctl(fd, BIND, &b);
}

/* A pointy message: only the 88-byte header is written. */
static int send_pointy(int fd, const char *name, const char *data, uint32_t flags, uint32_t *id) {
  struct header h;
  memset(&h, 0, sizeof h);
  h.start_guard = 0x7375624B;
  h.end_guard = 0x4B627573;
  h.name_len = (uint32_t)strlen(name);
  h.data_len = (uint32_t)strlen(data);
  h.flags = flags;
  h.name = name;
  h.data = h.data_len ? data : NULL;
  if (write(fd, &h, sizeof h) != (ssize_t)sizeof h) return -1;
  uint32_t mid[2] = {0, 0};
  int r = ioctl(fd, SEND, mid);
  if (id) *id = mid[1];
  return r;
}

static void roundtrip(void) {
  int fd = ksock();
  uint32_t id = 0;
  int r = ioctl(fd, KSOCKID, &id);
  printf("ksockid %d %u\n", r, id);
  printf("bind %d\n", bind_name(fd, "$.Fred", 0));
  uint32_t serial = 0;
  r = send_pointy(fd, "$.Fred", "abc1234", 0, &serial);
  printf("send %d %u\n", r, serial);
  uint32_t len = 0;
  r = ioctl(fd, NEXTMSG, &len);
  printf("nextmsg %d %u\n", r, len);
  unsigned char buf[256];
  ssize_t got = read(fd, buf, 10);
  uint32_t left = 0;
  ioctl(fd, LENLEFT, &left);
  printf("read %zd lenleft %u\n", got, left);
  got += read(fd, buf + 10, sizeof buf - 10);
  struct header m;
  memcpy(&m, buf, sizeof m);
  printf("message %zd name_len %u data_len %u from %u name %.6s data %.7s pointers %d\n", got,
         m.name_len, m.data_len, m.from, (char *)buf + 88, (char *)buf + 96,
         m.name == NULL && m.data == NULL);
  ioctl(fd, LENLEFT, &left);
  printf("after lenleft %u read %zd\n", left, read(fd, buf, sizeof buf));
  printf("close %d\n", close(fd));
}

static void proc(void) {
  int fd = ksock();
  bind_name(fd, "$.Fred", 0);
  bind_name(fd, "$.Sensors.*", 1);
  printf("pid %d\n", (int)getpid());
  FILE *f = fopen("/proc/kbus/bindings", "r");
  if (f == NULL) { printf("fopen %s\n", strerror(errno)); exit(1); }
  char line[512];
  while (fgets(line, sizeof line, f)) fputs(line, stdout);
  fclose(f);
  close(fd);
}

static void stat_dev(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) printf("%s %s\n", path, strerror(errno));
  else printf("%s mode %o minor %u\n", path, (unsigned)st.st_mode, minor(st.st_rdev));
}

static void stats(void) {
  stat_dev("/dev/kbus0");
  stat_dev("/dev/kbus1");
  stat_dev("/dev/kbus00");
  int fd = ksock();
  struct stat st;
  fstat(fd, &st);
  printf("fstat mode %o\n", (unsigned)st.st_mode);
  close(fd);
}

/* poll across a Ksock and a pipe; the message arrives while poll blocks. */
static void pollmix(void) {
  int fd = ksock();
  bind_name(fd, "$.Fred", 0);
  int p[2];
  if (pipe(p) != 0) exit(1);
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {p[0], POLLIN, 0}};
  int r = poll(fds, 2, 0);
  printf("idle %d %x %x\n", r, fds[0].revents, fds[1].revents);
  fds[0].events = POLLIN | POLLOUT;
  r = poll(fds, 2, 0);
  printf("writable %d %x %x\n", r, fds[0].revents, fds[1].revents);
  fds[0].events = POLLIN;
  if (write(p[1], "x", 1) != 1) exit(1);
  r = poll(fds, 2, -1);
  printf("pipe %d %x %x\n", r, fds[0].revents, fds[1].revents);
  char c;
  if (read(p[0], &c, 1) != 1) exit(1);
  pid_t child = fork();
  if (child == 0) {
    int s = ksock(); /* a Ksock of the child's own */
    usleep(100000);
    send_pointy(s, "$.Fred", "late", 0, NULL);
    close(s);
    _exit(0);
  }
  r = poll(fds, 2, -1);
  printf("ksock %d %x %x\n", r, fds[0].revents, fds[1].revents);
  waitpid(child, NULL, 0);
  close(fd);
}

/* A replier closes without reading: the requester's status is there at once. */
static void status(void) {
  int a = ksock(), b = ksock();
  bind_name(a, "$.Q", 1);
  printf("request %d\n", send_pointy(b, "$.Q", "", WANT_A_REPLY, NULL));
  printf("close %d\n", close(a));
  uint32_t len = 0;
  int r = ioctl(b, NEXTMSG, &len);
  unsigned char buf[512];
  ssize_t got = read(b, buf, sizeof buf);
  struct header m;
  memcpy(&m, buf, sizeof m);
  printf("nextmsg %d %zd %.*s\n", r, got, (int)m.name_len, (char *)buf + 88);
  close(b);
}

/* The daemon is killed while poll blocks: POLLERR, then EIO, and close succeeds. */
static void gone(void) {
  int fd = ksock();
  struct pollfd pf = {fd, POLLIN, 0};
  printf("polling\n");
  int r = poll(&pf, 1, -1);
  printf("poll %d %x\n", r, pf.revents);
  uint32_t len;
  r = ioctl(fd, NEXTMSG, &len);
  printf("nextmsg %d %s\n", r, strerror(errno));
  printf("close %d\n", close(fd));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *what = argc > 1 ? argv[1] : "";
  if (strcmp(what, "roundtrip") == 0) roundtrip();
  else if (strcmp(what, "proc") == 0) proc();
  else if (strcmp(what, "stat") == 0) stats();
  else if (strcmp(what, "poll") == 0) pollmix();
  else if (strcmp(what, "status") == 0) status();
  else if (strcmp(what, "gone") == 0) gone();
  else return 2;
  return 0;
}
