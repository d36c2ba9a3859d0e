"""Helpers for the REST API integration tests: a daemon under test, an HTTP
client over its Unix socket that checks every response against
vmm/api/openapi.yaml, and wrappers for curl and foldctl.

Environment (set by tests/api/meson.build): FOLDVM, FOLDCTL, GUEST_DIR, OPENAPI.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77

FOLDVM = os.environ.get("FOLDVM", "build/foldvm")
FOLDCTL = os.environ.get("FOLDCTL", "build/foldctl")
GUEST_DIR = os.environ.get("GUEST_DIR", "build/guest-kernels")
OPENAPI = os.environ.get("OPENAPI", "vmm/api/openapi.yaml")


def make_tmpdir(prefix):
    """A temporary directory removed when the test script exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def require_kvm():
    if not os.path.exists("/dev/kvm"):
        skip("/dev/kvm is missing")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("/dev/kvm is not accessible to this user")


def guest(name):
    return os.path.abspath(os.path.join(GUEST_DIR, name + ".elf"))


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# --- OpenAPI response validation --------------------------------------------

class Spec:
    def __init__(self, path=OPENAPI):
        try:
            import yaml
            import jsonschema
        except ImportError as e:  # pragma: no cover
            skip("python3-yaml and python3-jsonschema are needed (tools/dev installs them): %s" % e)
        self.jsonschema = jsonschema
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.routes = []
        for tmpl, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tmpl) + "$"
            self.routes.append((re.compile(rx), tmpl, item))
        self.lock = threading.Lock()
        self.validators = {}

    def operation(self, method, path):
        path = path.split("?", 1)[0]
        for rx, tmpl, item in self.routes:
            if rx.match(path):
                return tmpl, item.get(method.lower())
        return None, None

    def resolve(self, obj):
        while "$ref" in obj:
            ref = obj["$ref"]
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part]
            obj = node
        return obj

    def validate(self, method, path, status, content_type, body):
        """Checks one response; raises Failure if it breaks the document."""
        if method == "HEAD":
            check(not body, "a response to HEAD must have no body")
            return
        tmpl, op = self.operation(method, path)
        what = "%s %s -> %d" % (method, path, status)
        error_schema = self.doc["components"]["schemas"]["Error"]
        transport = (400, 413, 415, 431, 500, 503)  # possible before routing
        if tmpl is None:  # an undocumented path must be a 404
            check(status in (404,) + transport, what + ": undocumented path answered")
            return self._check(error_schema, body, what)
        if op is None:  # a documented path with another method must be a 405
            check(status in (405,) + transport, what + ": undocumented method answered")
            return self._check(error_schema, body, what)
        responses = op["responses"]
        resp = responses.get(str(status))
        if resp is None:
            # Any operation may meet transport-level errors.
            if status in transport:
                return self._check(error_schema, body, what)
            raise Failure("%s %s answered %d, which %s does not document (%s)"
                          % (method, tmpl, status, OPENAPI, sorted(responses)))
        resp = self.resolve(resp)
        content = resp.get("content")
        if not content:
            check(not body, "%s %s -> %d should have no body" % (method, path, status))
            return
        if "application/json" in content:
            check(content_type.startswith("application/json"),
                  "%s %s -> %d has content type %r" % (method, path, status, content_type))
            self._check(content["application/json"]["schema"], body,
                        "%s %s -> %d" % (method, path, status))
        else:
            check(content_type.startswith("text/plain"),
                  "%s %s -> %d has content type %r" % (method, path, status, content_type))

    def _check(self, schema, body, what):
        try:
            value = json.loads(body)
        except ValueError as e:
            raise Failure("%s: body is not JSON (%s): %r" % (what, e, body[:200]))
        key = json.dumps(schema, sort_keys=True)
        with self.lock:
            v = self.validators.get(key)
            if v is None:
                v = self.jsonschema.Draft202012Validator(schema, resolver=self.resolver)
                self.validators[key] = v
        errors = sorted(v.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            raise Failure("%s does not match %s: %s at %s\nbody: %s"
                          % (what, OPENAPI, e.message, list(e.path), body[:500]))


_spec = None


def spec():
    global _spec
    if _spec is None:
        _spec = Spec()
    return _spec


# --- HTTP over the Unix socket ----------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.text = body.decode("utf-8", "replace")
        self.raw = body

    def json(self):
        return json.loads(self.text)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:300])


class Client:
    """One keep-alive connection; validates every response against the spec."""

    def __init__(self, sock, timeout=30, validate=True):
        self.sock = sock
        self.timeout = timeout
        self.validate = validate
        self.conn = None

    def request(self, method, path, body=None, raw=None, headers=None, expect=None):
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.conn is None:
                self.conn = UnixHTTPConnection(self.sock, self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
        if r.will_close:
            self.conn.close()
            self.conn = None
        if self.validate:
            spec().validate(method, path, resp.status, resp.headers.get("content-type", ""),
                            resp.text)
        if expect is not None:
            check(resp.status == expect, "%s %s: expected %d, got %r" % (method, path, expect, resp))
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def _complete(data):
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return len(rest) >= (int(m.group(1)) if m else 0)


def raw_exchange(sock_path, data, timeout=10, shut_write=False, until_close=False):
    """Sends raw bytes and returns what the server sends back: the first
    complete response, or everything until it closes (until_close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if shut_write:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if not until_close and _complete(out):
                break
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


def parse_raw_response(data):
    """(status, headers, body) of the first response in raw bytes."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    if not m:
        raise Failure("not an HTTP response: %r" % data[:200])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    return int(m.group(1)), headers, rest[:n]


# --- curl and foldctl ------------------------------------------------------

def curl(sock, method, path, data=None, headers=()):
    cmd = ["curl", "-sS", "--unix-socket", sock, "-X", method, "-o", "-",
           "-w", "\n%{http_code}", "http://localhost" + path]
    if data is not None:
        cmd += ["-H", "Content-Type: application/json",
                "--data-binary", data if isinstance(data, str) else json.dumps(data)]
    for h in headers:
        cmd += ["-H", h]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "curl failed: %s" % p.stderr)
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def foldctl(sock, *args, expect_rc=0, timeout=60):
    p = subprocess.run([FOLDCTL, "--sock", sock] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    if expect_rc is not None:
        check(p.returncode == expect_rc,
              "foldctl %s: exit %d (expected %d)\nstdout: %s\nstderr: %s"
              % (" ".join(args), p.returncode, expect_rc, p.stdout, p.stderr))
    return p


# --- the daemon -------------------------------------------------------------

def thread_stacks(pid):
    """What every thread of a hung process is doing: each thread's kernel
    stack, then gdb's backtraces if gdb is installed."""
    out = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid)):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                wchan = f.read().strip()
            with open("/proc/%d/task/%s/stack" % (pid, tid)) as f:
                kstack = f.read()
        except OSError:
            continue
        out.append("%s %s %s\n%s" % (tid, comm, wchan, kstack))
    if shutil.which("gdb"):
        try:
            out.append(subprocess.run(
                ["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt"],
                capture_output=True, text=True, timeout=60).stdout)
        except subprocess.TimeoutExpired:
            out.append("gdb timed out")
    return "\n".join(out)


class Daemon:
    """`foldvm serve` on a socket in a private temporary directory."""

    def __init__(self, *extra, sock=None):
        self.dir = make_tmpdir("foldvm-api-")
        self.sock = sock or os.path.join(self.dir, "api.sock")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.extra = list(extra)
        self.proc = None

    def start(self, wait=True):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([FOLDVM, "serve", "--api-sock", self.sock] + self.extra,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        atexit.register(self.kill)  # never leave a daemon behind
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise Failure("foldvm serve exited with %d:\n%s" % (self.proc.returncode,
                                                                     self.read_log()))
            if not os.path.exists(self.sock):
                return False
            try:
                return Client(self.sock, validate=False).get("/healthz").status == 200
            except OSError:
                return False
        wait_until(ready, timeout, what="foldvm serve to answer on " + self.sock)

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def client(self, **kw):
        return Client(self.sock, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the daemon and checks the clean shutdown: exit 0, socket gone."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            raise Failure("foldvm serve did not stop within %d s after signal %d\n"
                          "--- log ---\n%s--- threads ---\n%s" %
                          (timeout, sig, self.read_log(), stacks))
        check(rc == 0, "foldvm serve exited with %d after signal %d:\n%s" % (rc, sig, self.read_log()))
        check(not os.path.exists(self.sock), "socket %s left behind after shutdown" % self.sock)
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self.kill()
            sys.stderr.write("--- foldvm serve log ---\n" + self.read_log())
        return False


def create_vm(client, name="memfill", expect=201, **fields):
    body = {"kernel": guest(name), "mem_mib": 32}
    if name == "memfill":
        body["cmdline"] = "shared=0.75 zero=0.05"
    body.update(fields)
    return client.request("POST", "/vms", body=body, expect=expect).json()


def console_has(client, vm_id, needle):
    lines = client.get("/vms/%d/console?tail=1000" % vm_id, expect=200).json()["lines"]
    return any(needle in line for line in lines)


def dedup_stats(client):
    return client.get("/dedup", expect=200).json()["stats"]


def run_tests(tests, finish=None):
    """Runs test functions in order, then `finish` (counted as a test);
    prints one line each and a summary."""
    if finish is not None:
        tests = list(tests) + [finish]
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print("ok   %s (%.2f s)" % (t.__name__, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
            import traceback
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)
