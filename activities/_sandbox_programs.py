"""The two small Python programs the code sandbox runs, as source text passed with ``-c``.

Private to :mod:`activities._sandbox`: ``STAGE`` runs first inside the namespaces, ``BOOTSTRAP``
is what it execs as the code's own process.
"""

# The stage: root (or the worker's uid) inside the namespaces. Mounts the private /tmp and an
# empty /sys, forks the code's process (limits and a low CPU priority, then the uid, then
# no new privileges and the seccomp filter, then exec) and waits for it. Exits with the code's
# exit status, 128 + signal, or 125 when it could not start it. A probe (cfg["probe"]) only
# checks that the mounts and the filter work, and exits 0 if they do.
STAGE = r"""
import ctypes, json, os, resource, struct, sys, traceback
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
if cfg["result_fd"] not in (-1, 3):  # the result channel is fd 3 from here on
    os.dup2(cfg["result_fd"], 3)
    os.close(cfg["result_fd"])

def mount(source, target, fstype, flags, data):
    if libc.mount(source, target.encode(), fstype, flags, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount " + target + ": " + os.strerror(err))

def setup():
    uid = cfg["uid"]
    if not cfg["private_tmp"]:
        return cfg["home"]
    owner = ",uid=%d,gid=%d" % (uid, uid) if uid is not None else ""
    data = "size=%dm,mode=0700%s" % (cfg["tmp_mb"], owner)
    mount(b"kworkflow-code", "/tmp", b"tmpfs", 2 | 4, data.encode())  # nosuid, nodev
    for path in ("/var/tmp", "/dev/shm", "/run/lock"):
        if os.path.isdir(path):
            mount(b"/tmp", path, None, 4096, None)  # bind
    if os.path.isdir("/sys"):  # an empty read-only directory hides the host's devices
        mount(b"kworkflow-sys", "/sys", b"tmpfs", 1 | 2 | 4 | 8, b"size=4k,mode=0555")
    return "/tmp"

def no_new_user_namespaces():
    program = cfg["seccomp"]
    if program is None:
        return
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HxxxxxxQ", len(program), ctypes.addressof(buffer))  # struct sock_fprog
    header = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(22, 2, ctypes.addressof(header), 0, 0) != 0:  # PR_SET_SECCOMP, MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")

def low_priority():
    os.setpriority(os.PRIO_PROCESS, 0, cfg["nice"])
    try:  # with autogroups, a session's weight is its autogroup's: the sandbox has its own
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(cfg["nice"]))
    except OSError:
        pass

def probe():
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    no_new_user_namespaces()
    if cfg["seccomp"] is not None:  # unshare(CLONE_NEWUSER) must now fail with EPERM
        if libc.unshare(0x10000000) != -1 or ctypes.get_errno() != 1:
            raise OSError(0, "the seccomp filter let unshare(CLONE_NEWUSER) through")

def child(cwd):
    os.chdir(cwd)
    for name, value in cfg["limits"].items():
        resource.setrlimit(getattr(resource, name), tuple(value))
    low_priority()
    uid = cfg["uid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    no_new_user_namespaces()
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": cwd, "TMPDIR": cwd}
    py = cfg["python"]
    os.execve(py, [py, "-I", "-S", "-u", "-c", cfg["bootstrap"]], env)

def fail(exc):
    reason = "%s: %s" % (type(exc).__name__, exc)
    try:
        os.write(3, json.dumps({"status": "setup", "reason": reason}).encode())
    except OSError:
        pass
    traceback.print_exc()
    return 125

def main():
    try:
        cwd = setup()
        if cfg["probe"]:
            probe()
            return 0
        pid = os.fork()
    except Exception as exc:
        return fail(exc)
    if pid == 0:
        try:
            child(cwd)
        except BaseException as exc:
            fail(exc)
        os._exit(125)
    while True:  # as pid 1 of the namespace, also reap orphans
        found, status, usage = os.wait4(-1, 0)
        if found == pid:
            break
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return code
    cpu = usage.ru_utime + usage.ru_stime
    os.ftruncate(3, 0)
    os.lseek(3, 0, os.SEEK_SET)
    os.write(3, json.dumps({"status": "signal", "signal": -code, "cpu": cpu}).encode())
    return 128 - code

sys.exit(main())
"""
# The code's process: reads the request from stdin, runs the source with `input` bound and
# writes `{"status": ...}` to fd 3. Tracebacks leave out this bootstrap's own frame.
BOOTSTRAP = r"""
import json, linecache, os, sys, traceback

def run(request):
    source = request["source"]
    linecache.cache["<code>"] = (len(source), None, source.splitlines(True), "<code>")
    scope = {"__name__": "__main__", "__builtins__": __builtins__, "input": request["input"]}
    try:
        exec(compile(source, "<code>", "exec"), scope)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return {"status": "exit", "code": repr(exc.code)}
    except MemoryError as exc:
        scope.clear()
        return {"status": "memory", "traceback": tail(exc)}
    except BaseException as exc:
        return {"status": "error", "traceback": tail(exc)}
    if "output" not in scope:
        return {"status": "no_output"}
    return {"status": "ok", "output": scope["output"]}

def tail(exc, keep=15):
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next))
    lines = lines.rstrip("\n").split("\n")
    if len(lines) > keep:
        lines = ["Traceback (most recent call last, earlier lines left out):"] + lines[-keep:]
    return "\n".join(lines)

def main():
    request = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    result = run(request)
    try:
        output = json.dumps(result.pop("output", None), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        result = {"status": "unserializable", "reason": "%s: %s" % (type(exc).__name__, exc)}
        output = "null"
    size = len(output.encode("utf-8"))
    if result["status"] == "ok" and size > request["limit"]:
        result = {"status": "too_large", "size": size}
    data = json.dumps(result, ensure_ascii=False)
    if result["status"] == "ok":
        data = data[:-1] + ', "output": ' + output + "}"
    with os.fdopen(3, "wb") as channel:
        channel.write(data.encode("utf-8"))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)

main()
"""
