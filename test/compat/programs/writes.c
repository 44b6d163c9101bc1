/* Writing and sending through the layer: entire and pointy forms, pieces, header checks (compat.md §6). */
#include "kbus_test.h"

/* A listener on `name` and a sender; the listener's next message must be `data`. */
static void expect_received(int listener, const char *name, const void *data, size_t data_len) {
  uint32_t len = 0;
  unsigned char *m = next_message(listener, &len);
  REQUIRE(m != NULL, "the listener got nothing");
  CHECK(len == entire_len(strlen(name), data_len), "length %u", len);
  CHECK(strcmp(msg_name(m), name) == 0, "name %s, want %s", msg_name(m), name);
  CHECK(hdr(m)->data_len == data_len && memcmp(msg_data(m), data, data_len) == 0,
        "data differs (data_len %u)", hdr(m)->data_len);
  free(m);
}

static void entire_in_one_write(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Entire");
  CHECK_RET(bind_name(fd, name, 0), 0);
  struct msg_id id = {0, 0};
  CHECK_RET(send_entire(fd, name, "abc1234", 7, 0, &id), 0);
  CHECK(id.serial_num != 0, "no id");
  expect_received(fd, name, "abc1234", 7);
  close(fd);
}

static void entire_one_byte_at_a_time(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Bytes");
  CHECK_RET(bind_name(fd, name, 0), 0);
  size_t len;
  unsigned char *buf = make_entire(name, "byte by byte", 12, 0, &len);
  for (size_t i = 0; i < len; i++) CHECK_RET(write(fd, buf + i, 1), 1);
  CHECK_RET(write(fd, buf, 0), 0);
  struct msg_id id;
  CHECK_RET(ioctl(fd, IOC_SEND, &id), 0);
  expect_received(fd, name, "byte by byte", 12);
  free(buf);
  close(fd);
}

static void entire_in_odd_pieces(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Pieces");
  CHECK_RET(bind_name(fd, name, 0), 0);
  char data[3000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 7);
  size_t len;
  unsigned char *buf = make_entire(name, data, sizeof data, 0, &len);
  size_t at = 0, step = 1;
  while (at < len) {
    size_t n = step < len - at ? step : len - at;
    CHECK_RET(write(fd, buf + at, n), (long)n);
    at += n;
    step = step * 3 + 1; /* 1, 4, 13, 40 ...: splits inside and across the header */
  }
  struct msg_id id;
  CHECK_RET(ioctl(fd, IOC_SEND, &id), 0);
  expect_received(fd, name, data, sizeof data);
  free(buf);
  close(fd);
}

static void pointy(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Pointy");
  CHECK_RET(bind_name(fd, name, 0), 0);
  char namebuf[128], data[16];
  strcpy(namebuf, name);
  strcpy(data, "pointy data");
  struct header h = make_header(namebuf, data, 11, 0);
  CHECK_RET(write(fd, &h, sizeof h), 88);
  struct msg_id id;
  CHECK_RET(ioctl(fd, IOC_SEND, &id), 0);
  /* Read at SEND: the program may reuse its buffers now. */
  memset(data, 'X', sizeof data);
  namebuf[2] = 'Z';
  expect_received(fd, name, "pointy data", 11);
  close(fd);
}

static void pointy_header_one_byte_at_a_time(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("PointyBytes");
  CHECK_RET(bind_name(fd, name, 0), 0);
  struct header h = make_header(name, "ab", 2, 0);
  const unsigned char *p = (const unsigned char *)&h;
  for (size_t i = 0; i < sizeof h; i++) CHECK_RET(write(fd, p + i, 1), 1);
  struct msg_id id;
  CHECK_RET(ioctl(fd, IOC_SEND, &id), 0);
  expect_received(fd, name, "ab", 2);
  close(fd);
}

static void pointy_wildcard_refused_at_send(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = "$.CompatTest.*";
  struct header h = make_header(name, NULL, 0, 0);
  CHECK_RET(write(fd, &h, sizeof h), 88);
  struct msg_id id;
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), EBADMSG);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  /* The same name written entire fails at the write that completes it. */
  size_t len;
  unsigned char *buf = make_entire(name, NULL, 0, 0, &len);
  CHECK_ERR(write(fd, buf, len), EBADMSG);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  free(buf);
  close(fd);
}

static void pointy_byte_after_header(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("After");
  unsigned char buf[89];
  struct header h = make_header(name, NULL, 0, 0);
  memcpy(buf, &h, 88);
  buf[88] = 0;
  struct msg_id id;
  CHECK_ERR(write(fd, buf, 89), EMSGSIZE);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  CHECK_RET(write(fd, buf, 88), 88);
  CHECK_ERR(write(fd, buf, 1), EMSGSIZE);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  close(fd);
}

static void pointy_bad_pointers(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Fault");
  struct msg_id id;
  /* An unreadable name pointer: the write is fine, SEND faults. */
  struct header h = make_header(name, NULL, 0, 0);
  h.name = bad_pointer();
  CHECK_RET(write(fd, &h, sizeof h), 88);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), EFAULT);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  /* Unreadable data under a good name: EFAULT; under a wildcard: EBADMSG (name checked first). */
  h = make_header(name, bad_pointer(), 4, 0);
  CHECK_RET(write(fd, &h, sizeof h), 88);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), EFAULT);
  h = make_header("$.CompatTest.%", bad_pointer(), 4, 0);
  CHECK_RET(write(fd, &h, sizeof h), 88);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), EBADMSG);
  /* An unreadable buffer for write itself. */
  CHECK_ERR(write(fd, bad_pointer(), 88), EFAULT);
  close(fd);
}

/* Writes the 88 header bytes; returns write's result. */
static long write_header(int fd, const struct header *h) { return write(fd, h, sizeof *h); }

static void header_checks_in_order(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Checks");
  char data[4] = "abc";
  struct header h;

  /* 1: start guard, then end guard. */
  h = make_header(name, NULL, 0, 0);
  h.start_guard = 0;
  h.name_len = 1001; /* check 2 would say ENAMETOOLONG: check 1 comes first */
  CHECK_ERR(write_header(fd, &h), EINVAL);
  h = make_header(name, NULL, 0, 0);
  h.end_guard = 0;
  h.name_len = 0;
  CHECK_ERR(write_header(fd, &h), EINVAL);
  /* 2: name_len 0, then too long (before check 6). */
  h = make_header(name, NULL, 0, FLAG_ALL_OR_WAIT | FLAG_ALL_OR_FAIL);
  h.name_len = 0;
  CHECK_ERR(write_header(fd, &h), EINVAL);
  h.name_len = 1001;
  CHECK_ERR(write_header(fd, &h), ENAMETOOLONG);
  /* 3: name NULL and data not NULL. */
  h = make_header(name, data, 3, 0);
  h.name = NULL;
  CHECK_ERR(write_header(fd, &h), EINVAL);
  /* 4: name set, data NULL, data_len not 0. */
  h = make_header(name, data, 3, 0);
  h.data = NULL;
  CHECK_ERR(write_header(fd, &h), EINVAL);
  /* 5: data_len 0 and data not NULL. */
  h = make_header(name, NULL, 0, 0);
  h.data = data;
  CHECK_ERR(write_header(fd, &h), EINVAL);
  /* 6: both ALL_OR_WAIT and ALL_OR_FAIL. */
  h = make_header(name, NULL, 0, FLAG_ALL_OR_WAIT | FLAG_ALL_OR_FAIL);
  CHECK_ERR(write_header(fd, &h), EINVAL);
  /* Each failure emptied the message. */
  struct msg_id id;
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  close(fd);
}

static void check_at_the_88th_byte(void) {
  int fd = open_ksock(0, O_RDWR);
  struct header h = make_header(unique("Late"), NULL, 0, 0);
  h.end_guard = 0;
  const unsigned char *p = (const unsigned char *)&h;
  /* Bytes before the 88th are only buffered; the call holding the 88th fails. */
  CHECK_RET(write(fd, p, 60), 60);
  CHECK_RET(write(fd, p + 60, 27), 27);
  CHECK_ERR(write(fd, p + 87, 1), EINVAL);
  /* Any write error empties the message, earlier calls' bytes included. */
  struct msg_id id;
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  close(fd);
}

static void entire_tail_errors(void) {
  int fd = open_ksock(0, O_RDWR);
  const char *name = unique("Tail");
  size_t len;
  unsigned char *buf = make_entire(name, "1234", 4, 0, &len);
  struct msg_id id;
  /* A wrong final end guard: EINVAL from the write holding its last byte. */
  buf[len - 1] ^= 0xff;
  CHECK_RET(write(fd, buf, len - 1), (long)(len - 1));
  CHECK_ERR(write(fd, buf + len - 1, 1), EINVAL);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  buf[len - 1] ^= 0xff;
  /* A byte after the message: EMSGSIZE. */
  CHECK_RET(write(fd, buf, len), (long)len);
  CHECK_ERR(write(fd, buf, 1), EMSGSIZE);
  CHECK_ERR(ioctl(fd, IOC_SEND, &id), ENOMSG);
  free(buf);
  close(fd);
}

static const struct test_case cases[] = {
    {"entire-in-one-write", entire_in_one_write},
    {"entire-one-byte-at-a-time", entire_one_byte_at_a_time},
    {"entire-in-odd-pieces", entire_in_odd_pieces},
    {"pointy", pointy},
    {"pointy-header-one-byte-at-a-time", pointy_header_one_byte_at_a_time},
    {"pointy-wildcard-refused-at-send", pointy_wildcard_refused_at_send},
    {"pointy-byte-after-header", pointy_byte_after_header},
    {"pointy-bad-pointers", pointy_bad_pointers},
    {"header-checks-in-order", header_checks_in_order},
    {"check-at-the-88th-byte", check_at_the_88th_byte},
    {"entire-tail-errors", entire_tail_errors},
    {NULL, NULL},
};

int main(int argc, char **argv) { return run_case(argc, argv, cases); }
