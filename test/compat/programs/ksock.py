"""A Python 3 program for the KBUS kernel module, standard library only, as the
original Python bindings drive the device: `python3 ksock.py CASE`. Prints
"ok CASE" when every check held, else "FAIL CASE: ..." lines and exits 1.
The numbers and layouts are written from docs/compat.md (x86-64)."""

import ctypes
import errno
import fcntl
import os
import select
import selectors
import stat
import struct
import sys

START_GUARD = 0x7375624B
END_GUARD = 0x4B627573
WANT_A_REPLY = 0x1


def ioc(direction, nr):
    return (direction << 30) | (8 << 16) | (0x6B << 8) | nr


BIND = ioc(1, 2)
KSOCKID = ioc(2, 4)
NEXTMSG = ioc(2, 6)
LENLEFT = ioc(2, 7)
SEND = ioc(2, 8)
HEADER = struct.Struct("<15I4xQQI4x")  # 88 bytes: 15 words, padding, name, data, end guard
assert HEADER.size == 88

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def expect_errno(err, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        check(e.errno == err, "%s: errno %s, want %s" % (fn.__name__, errno.errorcode.get(e.errno), errno.errorcode[err]))
        return
    failures.append("%s: no error, want %s" % (fn.__name__, errno.errorcode[err]))


def unique(stem):
    return "$.CompatTest.Py%d.%s" % (os.getpid(), stem)


def pad4(n):
    return (n + 3) & ~3


def header(name_len, data_len, name_ptr=0, data_ptr=0, flags=0, to=0, in_reply_to=(0, 0)):
    words = [START_GUARD, 0, 0, in_reply_to[0], in_reply_to[1], to, 0, 0, 0, 0, 0, 0, flags, name_len, data_len]
    return HEADER.pack(*words, name_ptr, data_ptr, END_GUARD)


def entire(name, data=b"", flags=0):
    n = name.encode()
    return (header(len(n), len(data), flags=flags) + n + b"\0" * (pad4(len(n) + 1) - len(n))
            + data + b"\0" * (pad4(len(data)) - len(data)) + struct.pack("<I", END_GUARD))


def open_ksock(device=0, mode="r+b"):
    return open("/dev/kbus%d" % device, mode, buffering=0)


def ksock_id(f):
    buf = bytearray(4)
    fcntl.ioctl(f, KSOCKID, buf)
    return struct.unpack("<I", buf)[0]


class BindRequest(ctypes.Structure):
    _fields_ = [("is_replier", ctypes.c_uint32), ("name_len", ctypes.c_uint32), ("name", ctypes.c_char_p)]


def bind(f, name, replier=False):
    encoded = name.encode()
    request = BindRequest(1 if replier else 0, len(encoded), encoded)
    fcntl.ioctl(f, BIND, bytearray(bytes(request)))


def send(f):
    buf = bytearray(8)
    fcntl.ioctl(f, SEND, buf)
    return struct.unpack("<II", buf)


def next_len(f):
    buf = bytearray(4)
    ret = fcntl.ioctl(f, NEXTMSG, buf)
    length = struct.unpack("<I", buf)[0]
    check(ret == (1 if length else 0), "NEXTMSG returned %d with length %d" % (ret, length))
    return length


def receive(f):
    """Waits (select, bounded) and reads one message in one read, as the bindings do."""
    readable, _, _ = select.select([f], [], [], 20)
    if not readable:
        raise AssertionError("no message within 20 s")
    length = next_len(f)
    data = f.read(length)
    check(len(data) == length, "read gave %d of %d bytes" % (len(data), length))
    words = struct.unpack_from("<15I", data)
    name_len, data_len = words[13], words[14]
    name = data[88:88 + name_len].decode()
    body_at = 88 + pad4(name_len + 1)
    return {"name": name, "data": data[body_at:body_at + data_len], "from": words[6], "flags": words[12], "bytes": data}


def case_basic():
    with open_ksock() as f:
        name = unique("Basic")
        bind(f, name)
        check(ksock_id(f) > 0, "Ksock id 0")
        message = entire(name, b"hello from python")
        f.write(message)
        msg_id = send(f)
        check(msg_id[1] > 0, "no message id")
        m = receive(f)
        check(m["name"] == name and m["data"] == b"hello from python", "received %r" % m)
        check(m["from"] == ksock_id(f), "from %d" % m["from"])
        check(m["bytes"][60:80] == b"\0" * 20, "pointers and padding not zero")
        check(len(m["bytes"]) == len(message), "C-form length %d, wrote %d" % (len(m["bytes"]), len(message)))
        # A read of 0 bytes with nothing current, and LENLEFT after the message was read whole.
        check(f.read(0) == b"", "read(0)")
        left = bytearray(4)
        fcntl.ioctl(f, LENLEFT, left)
        check(struct.unpack("<I", left)[0] == 0, "LENLEFT after reading")
        # An int argument is passed as the pointer value: 0 is NULL, EFAULT.
        expect_errno(errno.EFAULT, fcntl.ioctl, f, KSOCKID, 0)


def case_pointy():
    with open_ksock() as f:
        name = unique("Pointy")
        bind(f, name)
        name_buf = ctypes.create_string_buffer(name.encode())
        data_buf = ctypes.create_string_buffer(b"pointy from python", 18)
        f.write(header(len(name), 18, ctypes.addressof(name_buf), ctypes.addressof(data_buf)))
        send(f)
        m = receive(f)
        check(m["name"] == name and m["data"] == b"pointy from python", "received %r" % m)
        # A wildcard written pointy: accepted by write, refused by SEND.
        wild = ctypes.create_string_buffer(b"$.CompatTest.*")
        f.write(header(14, 0, ctypes.addressof(wild)))
        expect_errno(errno.EBADMSG, send, f)


def bindings():
    """Parsed as the original bindings parse it: '#' lines skipped, five fields."""
    result = []
    with open("/proc/kbus/bindings") as text:
        for line in text:
            if line.startswith("#"):
                continue
            fields = line.split()
            check(len(fields) == 5, "bindings line %r has %d fields" % (line, len(fields)))
            check(fields[3] in ("R", "L"), "bindings line %r: %r is not R or L" % (line, fields[3]))
            result.append((int(fields[0].rstrip(":")), int(fields[1]), int(fields[2]), fields[3] == "R", fields[4]))
    return result


def case_proc():
    name = unique("Proc")
    with open_ksock() as f, open_ksock() as g:
        bind(f, name, replier=True)
        bind(g, name)
        found = bindings()
        mine = [b for b in found if b[4] == name]
        check((0, ksock_id(f), os.getpid(), True, name) in mine, "replier binding missing: %r" % found)
        check((0, ksock_id(g), os.getpid(), False, name) in mine, "listener binding missing: %r" % found)
        with open("/proc/kbus/stats") as text:
            stats = text.read()
        check(stats.startswith("dev  0: next ksock "), "stats starts %r" % stats[:40])
        check(("    ksock %d last msg" % ksock_id(f)) in stats, "stats lacks Ksock %d" % ksock_id(f))
        f.close()
        # Released as close returned: the binding is gone from the very next read.
        check(not any(b[4] == name and b[3] for b in bindings()), "replier binding outlived close")
    check(not any(b[4] == name for b in bindings()), "bindings outlived close")
    expect_errno(errno.EACCES, open, "/proc/kbus/bindings", "w")


def case_stat():
    # kbusd runs with three devices here: 0, 1 and 2.
    for n in range(3):
        st = os.stat("/dev/kbus%d" % n)
        check(st.st_mode == 0o20666, "/dev/kbus%d mode %o" % (n, st.st_mode))
        check(stat.S_ISCHR(st.st_mode) and os.minor(st.st_rdev) == n, "/dev/kbus%d rdev" % n)
    check(os.path.exists("/dev/kbus2"), "/dev/kbus2 should exist")
    check(not os.path.exists("/dev/kbus3"), "/dev/kbus3 should not exist")
    expect_errno(errno.ENOENT, os.stat, "/dev/kbus9")
    expect_errno(errno.ENOENT, open_ksock, 9)
    st = os.stat("/proc/kbus/bindings")
    check(st.st_mode == stat.S_IFREG | 0o444, "/proc/kbus/bindings mode %o" % st.st_mode)
    with open_ksock() as f:
        check(not stat.S_ISDIR(os.fstat(f.fileno()).st_mode), "a Ksock is not a directory")


def case_epoll():
    sel = selectors.DefaultSelector()
    check(type(sel).__name__ == "EpollSelector", "selectors chose %s" % type(sel).__name__)
    r, w = os.pipe()
    with open_ksock() as f:
        name = unique("Epoll")
        bind(f, name)
        sel.register(f, selectors.EVENT_READ, "ksock")
        sel.register(r, selectors.EVENT_READ, "pipe")
        check(sel.select(timeout=0) == [], "something ready before anything was sent")
        os.write(w, b"x")
        check([k.data for k, _ in sel.select(timeout=20)] == ["pipe"], "only the pipe should be ready")
        os.read(r, 1)
        f.write(entire(name, b"e"))
        send(f)
        check([k.data for k, _ in sel.select(timeout=20)] == ["ksock"], "only the Ksock should be ready")
        next_len(f)
        check(sel.select(timeout=0) == [], "ready after the message was popped")
        sel.unregister(f)
    sel.close()


def case_daemon_killed():
    with open_ksock() as f:
        bind(f, unique("Gone"))
        p = select.poll()
        p.register(f, select.POLLIN)
        print("polling", flush=True)
        events = p.poll(20000)
        check(events != [], "poll timed out instead of reporting the daemon gone")
        check(all(ev & select.POLLERR for _, ev in events), "poll gave %r, want POLLERR" % events)
        expect_errno(errno.EIO, next_len, f)
        expect_errno(errno.EIO, f.write, entire(unique("Gone"), b"x"))
        readable, writable, _ = select.select([f], [f], [], 20)
        check(readable and writable, "select after the daemon went: %r %r" % (readable, writable))
    # With no daemon there are no devices.
    expect_errno(errno.ENOENT, open_ksock, 0)
    check(not os.path.exists("/dev/kbus0"), "/dev/kbus0 exists with no daemon")


CASES = {
    "basic": case_basic,
    "pointy": case_pointy,
    "proc": case_proc,
    "stat": case_stat,
    "epoll": case_epoll,
    "daemon-killed": case_daemon_killed,
}


def main():
    case = sys.argv[1]
    try:
        CASES[case]()
    except Exception as e:  # a failure to report, not a crash to hide
        failures.append("%s: %s" % (type(e).__name__, e))
    for f in failures:
        print("FAIL %s: %s" % (case, f), flush=True)
    if not failures:
        print("ok %s" % case)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
