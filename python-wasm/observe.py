# sdistill guest observer. Runs ONLY inside the WASI sandbox, as the first part of the
# driver (the host joins this file and driver.py into one program); it never runs on the
# host. It reports what the sdist's build code tries to do; the host decides what that
# means (src/observe/rules.rs) and computes the verdict.
#
# The design, and why the sdist cannot make the report cleaner:
# - One PEP 578 audit hook, added before any sdist code runs (in the interpreter snapshot
#   too: a resumed run has it from the start). Audit hooks cannot be removed.
# - The hook keeps no state and looks up no global or builtin name when it runs: every
#   function and constant it uses is bound as a default argument when it is installed,
#   and those are builtins, ints, strings, tuples and frozensets (immutable). Rebinding
#   its code or defaults, walking the heap (gc.get_objects/get_referrers), tracing or
#   profiling (which would hand its frames to sdist code) all raise audit events; the
#   hook records them and refuses them.
# - Each event is written at once, as one JSON record in one os.write on the event
#   channel, a descriptor that exists only in the host's WASI guard (opened once, below,
#   before any sdist code): the host captures the bytes of each call as it happens. There
#   is no buffer in the guest to clear, and closing or redirecting the descriptor, or
#   opening the channel again, is refused and recorded by the host.
# - What the hook cannot see it cannot report: a payload that detects the sandbox and
#   stays quiet, or code that reaches the same effects without any audited call (see
#   SECURITY.md, "What observation can and cannot see").
#
# Record fields: e event, t target, s source path (renames), b who asked (s sdist file,
# x code with no sdist file (exec'd strings), d build requirement, t setuptools, l stdlib
# helper on the build code's behalf, p sdistill's driver), l location (file:line in the
# sdist), w write, m HTTP method, x/h/n normalized source text/sha256/length, r refused.


def _sdistill_obs_install(module_code):
    import sys
    import posix
    import _json
    import _sha2
    import os

    # The event channel: the host's WASI guard answers this one open with a descriptor of
    # its own and captures every write to it (src/sandbox/guard.rs). Without it there is
    # nothing to report to, and no hook is installed (the host then says the run was not
    # observed); answers never depend on it.
    try:
        event_fd = os.open("/out/.sdistill-events", os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    # Stand-ins first: the objects whose patching the hook refuses must exist before it.
    protected = _sdistill_obs_standins()

    # The driver's own code objects (this file and driver.py are one module): their frames
    # are plumbing, never "who asked". Identity, not equality: a copy is not the driver.
    codes = []
    todo = [module_code]
    code_type = type(module_code)
    while todo:
        c = todo.pop()
        codes.append(c)
        todo.extend(k for k in c.co_consts if type(k) is code_type)
    driver_codes = tuple(codes)
    driver_ids = frozenset(id(c) for c in codes)

    files_read = frozenset(("os.listdir", "os.scandir", "glob.glob"))
    files_one = frozenset(("os.remove", "os.rmdir", "shutil.rmtree", "os.mkdir", "os.chmod",
                           "os.truncate", "os.utime"))
    files_two = frozenset(("os.rename", "os.symlink", "os.link"))
    processes = frozenset(("subprocess.Popen", "os.system", "os.exec", "os.spawn",
                           "os.posix_spawn", "os.startfile", "pty.spawn"))
    net_address = frozenset(("socket.connect", "socket.bind", "socket.sendto",
                             "socket.sendmsg"))
    net_host_port = frozenset(("http.client.connect", "ftplib.connect", "smtplib.connect",
                               "poplib.connect", "imaplib.open", "nntplib.connect",
                               "telnetlib.Telnet.open"))
    net_name = frozenset(("socket.getaddrinfo", "socket.gethostbyname",
                          "socket.gethostbyname_ex", "socket.gethostbyaddr",
                          "socket.getnameinfo", "webbrowser.open"))
    refused = frozenset(("gc.get_objects", "gc.get_referrers", "gc.get_referents",
                         "sys.settrace", "sys.setprofile", "sys.monitoring.register_callback"))
    registry = frozenset(("winreg.SetValue", "winreg.CreateKey", "winreg.DeleteKey",
                          "winreg.DeleteValue"))
    # Top-level modules whose import is worth recording (the host decides what each is).
    imports = frozenset((
        "requests", "ssl", "urllib3", "httpx", "aiohttp", "pycurl", "websocket", "websockets",
        "paramiko", "ftplib", "smtplib", "telnetlib", "poplib", "imaplib", "nntplib", "dns",
        "scapy", "discord", "discord_webhook", "telegram",
        "ctypes", "_ctypes", "cffi", "_cffi_backend", "win32api", "win32con", "win32com",
        "win32crypt", "win32gui", "win32process", "pywintypes", "_winapi", "msvcrt",
        "winreg", "_winreg", "pty"))
    wanted = (files_read | files_one | files_two | processes | net_address | net_host_port
              | net_name | refused | registry | frozenset((
                  "open", "socket.__new__", "urllib.Request", "sdistill.environ.get",
                  "sdistill.environ.list", "compile", "marshal.loads", "marshal.load",
                  "code.__new__", "pickle.find_class", "import", "ctypes.dlopen",
                  "ctypes.dlsym", "object.__setattr__", "object.__delattr__",
                  "sys.addaudithook", "sdistill.ready")))
    # Where code files live: the standard library (frozen, or in the interpreter's zip,
    # whose code objects carry the build machine's paths), the guest wheels, the build
    # requirements. Code compiled with one of these names by the sdist is refused (it
    # would pass for ours).
    stdlib = ("<frozen ", "/wlr/", "/usr/local/lib/python3")
    trusted_names = stdlib + ("/site/", "/deps/")
    importers = ("<frozen importlib", "<frozen zipimport")
    env_plumbing = ("<frozen os>", "<frozen _collections_abc>")
    # Paths whose opens are never reported: the sdist's tree, the guest wheels, build
    # requirements, the interpreter's own files and headers, scratch (but HOME, where
    # ~/.ssh lands).
    quiet = ("/sdist/", "/site/", "/deps/", "/usr/local/lib/python3",
             "/usr/local/include/python3", "/scratch/")
    home = "/scratch/home/"
    # Strings in code compiled by a stdlib helper that make it worth a look.
    code_words = ("import", "exec", "eval", "compile", "system", "popen", "socket",
                  "subprocess", "urllib", "http", "b64decode", "marshal", "environ",
                  "getattr", "open(")
    write_mask = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    rdwr = os.O_RDWR
    function_type = type(_sdistill_obs_install)
    observer_prefix = "_sdistill_obs"
    import socket
    socket_names = tuple((getattr(socket, n), n) for n in (
        "AF_INET", "AF_INET6", "AF_UNIX", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW")
        if hasattr(socket, n))
    code_attrs = frozenset(("__code__", "__defaults__", "__kwdefaults__"))
    attrs = code_attrs | frozenset(("__class__",))

    def _sdistill_obs_emit(e, t, b, l, more, _w=posix.write, _fd=event_fd,
                           _enc=_json.encode_basestring_ascii):
        s = '{"e":' + _enc(e)
        if t is not None:
            s = s + ',"t":' + _enc(t[:1024])
        s = s + ',"b":"' + b + '"'
        if l is not None:
            s = s + ',"l":' + _enc(l)
        _w(_fd, (s + more + '}').encode())

    def _sdistill_obs_where(mode, _getframe=sys._getframe, _id=id, _driver=driver_ids,
                            _stdlib=stdlib, _importers=importers, _env=env_plumbing,
                            _str=str):
        # Walks the stack from the code that raised the event. Returns (near, owner,
        # location): the innermost frame that is not plumbing, the innermost that is
        # the sdist's, a build requirement's or setuptools', and file:line of the
        # innermost frame in the sdist's tree. Plumbing is the driver, and (mode 0) the
        # standard library or (mode 1, environment reads) only os and the mapping ABCs.
        # Mode 2 (code) marks the importers.
        # Each frame's f_code raises an audit event of its own, so the walk stops as soon
        # as the answer is known: at an importer (mode 2), at a frame that decides an
        # environment read is not the build code's (mode 1), at the first sdist frame.
        f = _getframe(3)
        near = None
        owner = None
        n = 0
        while f is not None and n < 1000:
            n += 1
            code = f.f_code
            name = code.co_filename
            if name == "<string>" and _id(code) in _driver:
                c = "p"
            else:
                if name.startswith("/sdist/"):
                    c = "s"
                elif name.startswith(_stdlib):
                    if mode == 0 or (mode == 1 and name in _env):
                        c = "p"
                    elif mode == 2 and name.startswith(_importers):
                        c = "i"
                    else:
                        c = "l"
                elif name.startswith("/site/"):
                    c = "t"
                elif name.startswith("/deps/"):
                    c = "d"
                else:
                    c = "x"
            if near is None and c != "p":
                near = c
                if c == "i" or (mode == 1 and c != "s" and c != "x") or (
                        mode == 2 and (c == "t" or c == "d")):
                    return near, c, None
            if owner is None and c in "sxdt":
                owner = c
                if mode == 2 and near == "l" and (c == "t" or c == "d"):
                    return near, c, None
            if c == "s":
                return near, owner, name[7:] + ":" + _str(f.f_lineno)
            f = f.f_back
        return near or "p", owner or "p", None

    def _sdistill_obs_text(v, _type=type, _str=str, _bytes=bytes, _bytearray=bytearray,
                           _list=list, _tuple=tuple, _base=BaseException):
        # Any argument (or a list of them: a command line) as text, calling no code of the
        # sdist's classes for the common types. No recursion: a nested function would
        # reach itself through a closure cell, which the sdist could rebind.
        t = _type(v)
        if t is _list or t is _tuple:
            items = v[:64]
        else:
            items = (v,)
        words = []
        for a in items:
            t = _type(a)
            if t is _str:
                words.append(a)
            elif t is _bytes or t is _bytearray:
                words.append(a.decode("utf-8", "replace"))
            elif a is None:
                words.append("")
            else:
                try:
                    words.append(_str(a))
                except _base:
                    words.append("<" + t.__name__ + ">")
        return " ".join(words)

    def _sdistill_obs_path(p, _type=type, _str=str, _int=int, _fspath=posix.fspath,
                           _getcwd=posix.getcwd, _quiet=quiet, _home=home,
                           _base=BaseException):
        # An absolute, normalized path if it is one to report, else None.
        t = _type(p)
        if t is _int or p is None:
            return None
        if t is not _str:
            try:
                p = _fspath(p)
            except _base:
                return "?"
            if _type(p) is not _str:
                p = p.decode("utf-8", "surrogateescape")
        if p[1:3] == ":\\" or p[1:3] == ":/" or p.startswith("\\\\"):
            return p  # a Windows path: outside everything the guest has
        if not p.startswith("/"):
            cwd = _getcwd()
            if ".." not in p and (cwd + "/").startswith("/sdist/"):
                return None
            p = cwd + "/" + p
        if "/." in p or "//" in p:
            parts = []
            for seg in p.split("/"):
                if seg == "" or seg == ".":
                    continue
                if seg == "..":
                    if parts:
                        parts.pop()
                    continue
                parts.append(seg)
            p = "/" + "/".join(parts)
        q = p + "/"
        if q.startswith(_quiet) and not q.startswith(_home):
            return None
        return p

    def _sdistill_obs_code(src, _type=type, _str=str, _bytes=bytes, _bytearray=bytearray,
                           _len=len, _sha=_sha2.sha256, _enc=_json.encode_basestring_ascii):
        # The extra fields for run-time code: text (first 4,096 characters), sha256 and
        # length of the normalized text, which the host looks up in the sdist's files.
        t = _type(src)
        if t is _bytes or t is _bytearray:
            src = src.decode("utf-8", "replace")
        elif t is not _str:
            return ',"x":' + _enc("<" + t.__name__ + ">"), "<" + t.__name__ + ">"
        norm = src.replace("\r", "").strip()
        raw = norm.encode("utf-8", "surrogatepass")
        return (',"x":' + _enc(norm[:4096]) + ',"h":"' + _sha(raw).hexdigest()
                + '","n":' + _str(_len(raw))), norm

    def _sdistill_obs_handle(event, args, _emit=_sdistill_obs_emit,
                           _where=_sdistill_obs_where, _text=_sdistill_obs_text,
                           _path=_sdistill_obs_path, _code=_sdistill_obs_code,
                           _files_read=files_read, _files_one=files_one,
                           _files_two=files_two, _processes=processes,
                           _net_address=net_address, _net_host_port=net_host_port,
                           _net_name=net_name, _refused=refused, _registry=registry,
                           _imports=imports, _trusted=trusted_names, _words=code_words,
                           _wmask=write_mask, _rdwr=rdwr, _ftype=function_type,
                           _prefix=observer_prefix, _attrs=attrs, _code_attrs=code_attrs,
                           _protected=protected, _keep=driver_codes,
                           _socket_names=socket_names,
                           _enc=_json.encode_basestring_ascii, _type=type, _str=str,
                           _int=int, _bytes=bytes, _tuple=tuple, _len=len,
                           _refuse=PermissionError, _base=BaseException):
        # Decide what to record (and whether to refuse) inside the try; raise outside it.
        deny = None
        try:
            if event == "open":
                p = _path(args[0])
                if p is None:
                    return
                flags = args[2] if _len(args) > 2 and _type(args[2]) is _int else 0
                write = (flags & _wmask) != 0 or (flags & _rdwr) == _rdwr
                near, owner, loc = _where(0)
                out = (p + "/").startswith("/out/")
                if owner == "p" or (out and owner not in "sxd"):
                    return  # the driver's own files (its result, written via setuptools too)
                _emit(event, p, owner, loc, ',"w":1' if write else "")
                if write and out:
                    deny = "sdistill's result directory"
            elif event in _files_read or event in _files_one:
                p = _path(args[0] if args else None)
                if p is None:
                    return
                near, owner, loc = _where(0)
                out = (p + "/").startswith("/out/")
                if owner == "p" or (out and owner not in "sxd"):
                    return
                write = event in _files_one
                _emit(event, p, owner, loc, ',"w":1' if write else "")
                if write and out:
                    deny = "sdistill's result directory"
            elif event in _files_two:
                src = _path(args[0])
                dst = _path(args[1])
                if src is None and dst is None:
                    return
                near, owner, loc = _where(0)
                out = ((src or "") + "/").startswith("/out/") or (
                    (dst or "") + "/").startswith("/out/")
                if owner == "p" or (out and owner not in "sxd"):
                    return
                more = ',"w":1'
                if src is not None:
                    more = more + ',"s":' + _enc(src)
                _emit(event, dst if dst is not None else _text(args[1]), owner, loc, more)
                if out:
                    deny = "sdistill's result directory"
            elif event in _processes:
                if event == "subprocess.Popen":
                    target = _text(args[1]) or _text(args[0])
                elif event == "os.spawn":
                    target = _text(args[2]) or _text(args[1])
                elif event == "os.startfile" or event == "os.system":
                    target = _text(args[0])
                else:
                    target = _text(args[1]) or _text(args[0])
                near, owner, loc = _where(0)
                _emit(event, target, owner, loc, "")
            elif event == "sdistill.environ.get" or event == "sdistill.environ.list":
                near, owner, loc = _where(1)
                if near not in "sxd":
                    return
                _emit(event, _text(args[0]) if args else None, near, loc, "")
            elif event == "compile" or event == "code.__new__":
                near, owner, loc = _where(2)
                if near == "i" or near == "p":
                    return
                name = args[1] if event == "compile" else (args[1] if _len(args) > 1 else "")
                if near in "sx" and _type(name) is _str and name.startswith(_trusted):
                    _emit("sdistill.forged-filename", name, near, loc, "")
                    deny = "code named like sdistill's or the standard library's"
                elif event == "code.__new__":
                    if near in "sx":
                        _emit(event, _text(name), near, loc, "")
                elif near in "sx":
                    more, norm = _code(args[0])
                    _emit(event, None, near, loc, more)
                elif owner in "sx":
                    more, norm = _code(args[0])
                    for w in _words:
                        if w in norm:
                            _emit(event, None, "l", loc, more)
                            break
            elif event == "marshal.loads" or event == "marshal.load":
                near, owner, loc = _where(2)
                if near == "i" or near == "p" or owner == "t":
                    return
                size = _str(_len(args[0])) + " bytes" if args and _type(args[0]) is _bytes else ""
                _emit(event, size, near if near in "sxd" else owner, loc, "")
            elif event == "import":
                top = args[0].partition(".")[0] if _type(args[0]) is _str else ""
                if top not in _imports:
                    return
                near, owner, loc = _where(0)
                if owner not in "sxd":
                    return
                _emit(event, args[0], owner, loc, "")
            elif event == "socket.__new__":
                kinds = []
                for i in (1, 2):
                    name = _text(args[i]) if _len(args) > i else "?"
                    for value, known in _socket_names:
                        if _len(args) > i and args[i] == value and (
                                (i == 1) == known.startswith("AF_")):
                            name = known
                            break
                    kinds.append(name)
                near, owner, loc = _where(0)
                _emit(event, " ".join(kinds), owner, loc, "")
            elif event in _net_address:
                a = args[1]
                if _type(a) is _tuple and _len(a) >= 2:
                    target = _text(a[0]) + ":" + _text(a[1])
                else:
                    target = _text(a)
                near, owner, loc = _where(0)
                _emit(event, target, owner, loc, "")
            elif event in _net_host_port:
                near, owner, loc = _where(0)
                _emit(event, _text(args[1]) + ":" + _text(args[2]), owner, loc, "")
            elif event in _net_name:
                a = args[0]
                if event == "socket.getaddrinfo" and _len(args) > 1 and args[1] is not None:
                    target = _text(a) + ":" + _text(args[1])
                elif _type(a) is _tuple:
                    target = _text(a[0]) if a else ""
                else:
                    target = _text(a)
                near, owner, loc = _where(0)
                _emit(event, target, owner, loc, "")
            elif event == "urllib.Request":
                method = args[3] if _len(args) > 3 and args[3] else (
                    "POST" if args[1] is not None else "GET")
                near, owner, loc = _where(0)
                _emit(event, _text(args[0]), owner, loc, ',"m":' + _enc(_text(method)))
            elif event in _refused:
                near, owner, loc = _where(0)
                _emit(event, event, near, loc, ',"r":1')
                deny = event
            elif event == "object.__setattr__" or event == "object.__delattr__":
                obj = args[0]
                attr = args[1]
                if attr not in _attrs:
                    return
                ours = False
                if _type(obj) is _ftype and attr in _code_attrs:
                    ours = obj.__code__.co_name.startswith(_prefix)
                else:
                    for x in _protected:
                        if obj is x:
                            ours = True
                            break
                if not ours:
                    return
                near, owner, loc = _where(0)
                _emit(event, attr, near, loc, ',"r":1')
                deny = "the observer"
            elif event in _registry:
                near, owner, loc = _where(0)
                _emit(event, _text(args[0]), owner, loc, "")
            elif event == "pickle.find_class":
                near, owner, loc = _where(0)
                if owner not in "sxd":
                    return
                _emit(event, _text(args[0]) + "." + _text(args[1]), owner, loc, "")
            elif event == "ctypes.dlopen" or event == "ctypes.dlsym":
                near, owner, loc = _where(0)
                _emit(event, _text(args[0]), owner, loc, "")
            elif event == "sys.addaudithook":
                near, owner, loc = _where(0)
                if owner == "p":
                    return
                _emit(event, "sys.addaudithook", owner, loc, "")
            elif event == "sdistill.ready":
                _emit(event, None, "p", None, "")
        except _base:
            # Never let an observer failure hide the event: report what it was. If even
            # that fails (memory, recursion), the operation fails with it.
            _emit(event, "?", "x", None, "")
        if deny is not None:
            raise _refuse("refused by the sdistill observer: " + deny)

    def _sdistill_obs_hook(event, args, _wanted=wanted, _handle=_sdistill_obs_handle):
        # Every audit event of the interpreter comes here (the observer's own frame reads
        # included): the few it wants go on, the rest cost one set lookup.
        if event in _wanted:
            _handle(event, args)

    sys.addaudithook(_sdistill_obs_hook)


def _sdistill_obs_standins():
    # Stand-ins that make what WASI lacks observable: the environment (reads raise an
    # audit event; os.environ is otherwise a plain dict access), name lookups and sockets
    # (WASI has neither; the stand-ins raise the same audit events CPython's would, then
    # fail as a machine without network does).
    import os
    import sys
    import errno
    import socket
    import _socket

    environ_type = type(os.environ)
    protected = []

    class _SdistillEnviron(environ_type):
        def __getitem__(self, key, _audit=sys.audit, _get=environ_type.__getitem__):
            _audit("sdistill.environ.get", key)
            return _get(self, key)

        def __iter__(self, _audit=sys.audit, _iter=environ_type.__iter__):
            _audit("sdistill.environ.list")
            return _iter(self)

        def _sdistill_snapshot(self):
            return {self.decodekey(k): self.decodevalue(v) for k, v in self._data.items()}

        # One enumeration event, not one read per variable.
        def items(self, _audit=sys.audit):
            _audit("sdistill.environ.list")
            return self._sdistill_snapshot().items()

        def values(self, _audit=sys.audit):
            _audit("sdistill.environ.list")
            return self._sdistill_snapshot().values()

        def copy(self, _audit=sys.audit):
            _audit("sdistill.environ.list")
            return self._sdistill_snapshot()

        def __repr__(self, _audit=sys.audit, _repr=environ_type.__repr__):
            _audit("sdistill.environ.list")
            return _repr(self)

    for env in (os.environ, getattr(os, "environb", None)):
        if env is not None:
            env.__class__ = _SdistillEnviron
            protected.append(env)

    gaierror = socket.gaierror
    no_name = getattr(socket, "EAI_NONAME", -2)
    offline = "no network in the sdistill sandbox"

    def _lookup(event):
        def lookup(*args, _audit=sys.audit, _event=event, **kwargs):
            _audit(_event, *args)
            raise gaierror(no_name, "Name or service not known (%s)" % offline)
        lookup.__name__ = event.rpartition(".")[2]
        return lookup

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "getnameinfo"):
        if not hasattr(_socket, name):
            setattr(socket, name, _lookup("socket." + name))

    base = socket.socket

    class _SdistillSocket(base):
        # Creation succeeds (as it would on a machine without network); every attempt to
        # reach an address raises its audit event, with the address, then fails.
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None, _audit=sys.audit):
            _audit("socket.__new__", self, family, type, proto)
            self._io_refs = 0
            self._closed = False
            self._sdistill = (family, type, proto)

        family = property(lambda self: self._sdistill[0])
        type = property(lambda self: self._sdistill[1])
        proto = property(lambda self: self._sdistill[2])

        def connect(self, address, _audit=sys.audit):
            _audit("socket.connect", self, address)
            raise OSError(errno.ENETUNREACH, "Network is unreachable (%s)" % offline)

        def connect_ex(self, address, _audit=sys.audit):
            _audit("socket.connect", self, address)
            return errno.ENETUNREACH

        def bind(self, address, _audit=sys.audit):
            _audit("socket.bind", self, address)
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address (%s)" % offline)

        def sendto(self, data, *args, _audit=sys.audit):
            _audit("socket.sendto", self, args[-1] if args else None)
            raise OSError(errno.ENETUNREACH, "Network is unreachable (%s)" % offline)

        def _not_connected(self, *args, **kwargs):
            raise OSError(errno.ENOTCONN, "Socket is not connected (%s)" % offline)

        send = sendall = recv = recv_into = recvfrom = recvfrom_into = _not_connected
        listen = accept = shutdown = _not_connected

        def settimeout(self, value):
            pass

        def setblocking(self, flag):
            pass

        def setsockopt(self, *args):
            pass

        def close(self):
            self._closed = True

    _SdistillSocket.__name__ = _SdistillSocket.__qualname__ = "socket"
    _SdistillSocket.__module__ = "socket"
    socket.socket = socket.SocketType = _SdistillSocket
    # Objects whose __class__ may not be reassigned (the hook refuses it).
    return tuple(protected)


def _sdistill_obs_bait(target):
    # Only in runs whose output is never an answer (the --observe build, or the extra run
    # after the metadata step tried a network client the guest lacks): make the guest look
    # more like the machine a payload waits for, so that it goes further and shows more.
    # HTTP client libraries the build environment lacks import (every request raises its
    # audit event, then fails as without network); a Windows target gets Windows'
    # environment, a registry that accepts writes, and os.startfile.
    import os
    import sys
    import types

    _sdistill_obs_bait_http()
    _sdistill_obs_bait_concurrency()
    if target != "windows":
        return
    profile = "C:\\Users\\user"
    for key, value in (("USERPROFILE", profile), ("USERNAME", "user"),
                       ("APPDATA", profile + "\\AppData\\Roaming"),
                       ("LOCALAPPDATA", profile + "\\AppData\\Local"),
                       ("PROGRAMDATA", "C:\\ProgramData"), ("SYSTEMROOT", "C:\\Windows"),
                       ("WINDIR", "C:\\Windows"), ("PROGRAMFILES", "C:\\Program Files"),
                       ("COMPUTERNAME", "SDISTILL"), ("HOMEDRIVE", "C:"),
                       ("HOMEPATH", "\\Users\\user")):
        os.environ.setdefault(key, value)

    def startfile(path, operation="open", *args, _audit=sys.audit, **kwargs):
        _audit("os.startfile", path, operation)
        raise FileNotFoundError(2, "The system cannot find the file specified", path)

    os.startfile = startfile

    reg = types.ModuleType("winreg")
    roots = {}
    for i, name in enumerate(("HKEY_CLASSES_ROOT", "HKEY_CURRENT_USER", "HKEY_LOCAL_MACHINE",
                              "HKEY_USERS", "HKEY_PERFORMANCE_DATA", "HKEY_CURRENT_CONFIG",
                              "HKEY_DYN_DATA")):
        setattr(reg, name, 0x80000000 + i)
        roots[0x80000000 + i] = name
    for i, name in enumerate(("REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY",
                              "REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_LINK",
                              "REG_MULTI_SZ")):
        setattr(reg, name, i)
    for name, value in (("KEY_QUERY_VALUE", 1), ("KEY_SET_VALUE", 2), ("KEY_CREATE_SUB_KEY", 4),
                        ("KEY_ENUMERATE_SUB_KEYS", 8), ("KEY_READ", 0x20019),
                        ("KEY_WRITE", 0x20006), ("KEY_ALL_ACCESS", 0xF003F),
                        ("KEY_WOW64_64KEY", 0x100), ("KEY_WOW64_32KEY", 0x200)):
        setattr(reg, name, value)

    class HKEYType:
        def __init__(self, path):
            self.path = path

        def Close(self):
            pass

        def Detach(self):
            return 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def path_of(key, sub_key=None):
        base = key.path if isinstance(key, HKEYType) else roots.get(key, str(key))
        return base + ("\\" + str(sub_key) if sub_key else "")

    def open_key(key, sub_key, *args, **kwargs):
        return HKEYType(path_of(key, sub_key))

    def create_key(key, sub_key, *args, _audit=sys.audit, **kwargs):
        _audit("winreg.CreateKey", path_of(key, sub_key))
        return HKEYType(path_of(key, sub_key))

    def set_value_ex(key, name, reserved, kind, value, _audit=sys.audit):
        _audit("winreg.SetValue", "%s\\%s = %s" % (path_of(key), name, str(value)[:200]))

    def set_value(key, sub_key, kind, value, _audit=sys.audit):
        _audit("winreg.SetValue", "%s = %s" % (path_of(key, sub_key), str(value)[:200]))

    def delete(event):
        def delete_(key, name, *args, _audit=sys.audit, _event=event):
            _audit(_event, path_of(key, name))
        return delete_

    def missing(*args, **kwargs):
        raise FileNotFoundError(2, "The system cannot find the file specified")

    reg.HKEYType = HKEYType
    reg.error = OSError
    reg.OpenKey = reg.OpenKeyEx = open_key
    reg.CreateKey = reg.CreateKeyEx = create_key
    reg.SetValueEx = set_value_ex
    reg.SetValue = set_value
    reg.DeleteKey = reg.DeleteKeyEx = delete("winreg.DeleteKey")
    reg.DeleteValue = delete("winreg.DeleteValue")
    reg.QueryValue = reg.QueryValueEx = reg.EnumKey = reg.EnumValue = missing
    reg.QueryInfoKey = missing
    reg.CloseKey = lambda key: None
    reg.ConnectRegistry = lambda machine, key: HKEYType(roots.get(key, str(key)))
    reg.FlushKey = lambda key: None
    sys.modules["winreg"] = sys.modules["_winreg"] = reg


def _sdistill_obs_bait_http():
    # A `requests` that imports when no real one is on the path (a finder consulted last):
    # every request raises urllib's audit event (method, URL, data) and then fails with
    # requests' own ConnectionError, as on a machine without network.
    import sys
    import types
    import importlib.abc
    import importlib.util

    offline = "Failed to establish a new connection: no network in the sdistill sandbox"
    exceptions = types.ModuleType("requests.exceptions")

    class RequestException(IOError):
        pass

    class ConnectionError(RequestException):
        pass

    for name, base in (("HTTPError", RequestException), ("Timeout", RequestException),
                       ("ConnectTimeout", ConnectionError), ("ReadTimeout", RequestException),
                       ("TooManyRedirects", RequestException), ("SSLError", ConnectionError),
                       ("InvalidURL", RequestException), ("ProxyError", ConnectionError)):
        setattr(exceptions, name, type(name, (base,), {}))
    exceptions.RequestException = RequestException
    exceptions.ConnectionError = ConnectionError

    def request(method, url, *args, _audit=sys.audit, **kwargs):
        data = kwargs.get("data", kwargs.get("json", kwargs.get("files")))
        _audit("urllib.Request", str(url), data, kwargs.get("headers") or {}, str(method).upper())
        raise ConnectionError(offline)

    def verb(method):
        def call(url, *args, **kwargs):
            return request(method, url, *args, **kwargs)
        return call

    class Session:
        def __init__(self):
            self.headers = {}
            self.cookies = {}
            self.proxies = {}

        def request(self, method, url, *args, **kwargs):
            return request(method, url, *args, **kwargs)

        def mount(self, *args):
            pass

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    for method in ("get", "post", "put", "patch", "delete", "head", "options"):
        setattr(Session, method, (lambda m: lambda self, url, *a, **k: request(m, url, *a, **k))(
            method.upper()))

    module = types.ModuleType("requests")
    module.__version__ = "2.32.3"
    module.exceptions = exceptions
    module.request = request
    module.Session = module.session = Session
    for method in ("get", "post", "put", "patch", "delete", "head", "options"):
        setattr(module, method, verb(method.upper()))
    for name in dir(exceptions):
        if not name.startswith("_"):
            setattr(module, name, getattr(exceptions, name))
    modules = {"requests": module, "requests.exceptions": exceptions}

    class Bait(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name in modules:
                return importlib.util.spec_from_loader(name, self)
            return None

        def create_module(self, spec):
            return modules[spec.name]

        def exec_module(self, module):
            pass

    sys.meta_path.append(Bait())
    _sdistill_obs_bait_tls(modules)


def _sdistill_obs_bait_tls(modules):
    # TLS: WASI CPython has no ssl module, so `urlopen(url, context=ssl.create_default_
    # context())` and http.client.HTTPSConnection fail before any request. A stand-in ssl
    # (contexts that wrap nothing) and an HTTPS connection class let such code reach its
    # request, which then fails on the name lookup like every other.
    import http.client
    import types
    import urllib.request

    try:
        import ssl  # noqa: F401
    except ImportError:
        ssl = types.ModuleType("ssl")

        class SSLError(OSError):
            pass

        class SSLContext:
            check_hostname = False
            verify_mode = 0

            def __init__(self, protocol=2, *args, **kwargs):
                self.protocol = protocol

            def wrap_socket(self, sock, *args, **kwargs):
                raise SSLError("no TLS in the sdistill sandbox")

            def load_verify_locations(self, *args, **kwargs):
                pass

            load_cert_chain = load_default_certs = set_ciphers = set_alpn_protocols = \
                load_verify_locations

        ssl.SSLError = ssl.SSLCertVerificationError = ssl.CertificateError = SSLError
        ssl.SSLContext = SSLContext
        ssl.create_default_context = lambda *a, **k: SSLContext()
        ssl._create_unverified_context = ssl._create_default_https_context = \
            ssl.create_default_context
        for name, value in (("CERT_NONE", 0), ("CERT_OPTIONAL", 1), ("CERT_REQUIRED", 2),
                            ("PROTOCOL_TLS", 2), ("PROTOCOL_TLS_CLIENT", 16),
                            ("PROTOCOL_SSLv23", 2), ("HAS_SNI", True),
                            ("OPENSSL_VERSION", "OpenSSL 3.0.2 15 Mar 2022")):
            setattr(ssl, name, value)
        modules["ssl"] = ssl
    if not hasattr(http.client, "HTTPSConnection"):
        class HTTPSConnection(http.client.HTTPConnection):
            default_port = 443

            def __init__(self, host, port=None, *args, context=None, **kwargs):
                super().__init__(host, port, *args, **kwargs)

        http.client.HTTPSConnection = HTTPSConnection
    if not hasattr(urllib.request, "HTTPSHandler"):
        class HTTPSHandler(urllib.request.AbstractHTTPHandler):
            def __init__(self, debuglevel=None, context=None, check_hostname=None):
                super().__init__(debuglevel or 0)

            def https_open(self, req):
                return self.do_open(http.client.HTTPSConnection, req)

            https_request = urllib.request.AbstractHTTPHandler.do_request_

        urllib.request.HTTPSHandler = HTTPSHandler


def _sdistill_obs_bait_concurrency():
    # Payloads often start themselves in a thread, or fork and go on in the child; WASI
    # has neither, so they would fail before doing anything. Here a thread runs its target
    # at once, and fork returns 0 (the child's path).
    import os
    import threading

    def start(self):
        self._started.set()
        try:
            self.run()
        except BaseException:  # noqa: BLE001 - as an unhandled exception in a thread
            pass
        self._is_stopped = True

    threading.Thread.start = start
    if not hasattr(os, "fork"):
        os.fork = lambda: 0
    if not hasattr(os, "setsid"):
        os.setsid = lambda: None
