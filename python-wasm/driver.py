# sdistill guest driver. Runs ONLY inside the WASI sandbox (CPython 3.12 under wasmtime),
# never on the host. The host passes one JSON argument and reads one JSON file back from
# /out/result.json; nothing the sdist prints on stdout/stderr is part of the answer.
# observe.py comes first in the same program: its audit hook is installed below, before
# anything else, and reports what the build code tries on the host's event channel.
#
# Guest filesystem (all the guest can see):
#   /sdist    private, writable copy of the unpacked sdist (cwd)
#   /site     pinned guest wheels, one directory each, read-only, bytecode precompiled
#   /scratch  fresh writable scratch dir: HOME, TMPDIR, egg-info output
#   /out      where this driver writes its single result file
#   /deps/N   build requirements, read-only
#
# Two ways in: an ordinary start runs main() with the JSON argument; a snapshot run
# ("mode": "snapshot", once per runtime, no sdist) imports everything, then freezes
# itself with os._exit(SNAPSHOT_EXIT); every later run resumes a fresh copy of that state
# through _Resume.__repr__, which reads its request from /out/request.json.
#
# Phases: "metadata" (egg_info / prepare_metadata_for_build_wheel: the answer); with
# --observe, "build" (bdist_wheel / build_wheel, run only to be observed; its result says
# how the build went and is never an answer); "bait" (the metadata step again with
# stand-ins for what a payload waits for, run only to be observed); "wheel" (the wheel of
# a build requirement published only as an sdist, for another sdist's build).
import sys

sys.dont_write_bytecode = True
_sdistill_obs_install(sys._getframe(0).f_code)

import errno
import io
import json
import os
import traceback

CONFIG = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
# The setuptools tree chosen by the host (the current one first, a pkg_resources-shipping
# one on retry), then the build requirements.
sys.path[:0] = [CONFIG.get("setuptools_path", "/site")] + (CONFIG.get("paths") or [])
RESULT = "/out/result.json"
WARNINGS = []
CAPTURED_KWARGS = {}


def write_result(obj):
    data = json.dumps(obj)
    with open(RESULT, "w", encoding="utf-8") as f:
        f.write(data)


def finish(obj):
    # Exit at once: atexit handlers and stray threads of the sdist must not run after
    # the answer, nor rewrite it.
    write_result(obj)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(0)


def fail(kind, exc=None, message=None):
    tb = traceback.format_exc() if exc is not None else ""
    if message is None:
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip() if exc else kind
    if (kind == "setup-failed" and WANTED_2TO3 and CONFIG.get("phase") == "metadata"
            and not CONFIG.get("provide_2to3")):
        # The build failed after looking for distutils' 2to3 helpers: run it again with
        # them (the host decides, and reports it).
        finish({"ok": False, "kind": "needs-2to3", "message": message,
                "traceback": tb[-8000:], "wanted": sorted(set(WANTED_2TO3)),
                "warnings": WARNINGS})
    if (kind == "setup-failed" and PROBES_FAILED and CONFIG.get("phase") == "metadata"
            and CONFIG.get("compiler_probes") != "succeed"):
        # The build stopped after a compiler probe failed: on the machine with a compiler
        # where pip built it, that probe succeeds. The host may run it again that way.
        finish({"ok": False, "kind": "needs-compiler-probes", "message": message,
                "traceback": tb[-8000:], "probes": sorted(set(PROBES_FAILED)),
                "warnings": WARNINGS})
    if (kind == "setup-failed" and WANTED_STAND_INS and CONFIG.get("phase") == "metadata"
            and not CONFIG.get("provide_stand_ins")):
        # The build failed after importing Cython, ctypes or ssl, which the guest lacks:
        # the host may run it again with the stand-ins.
        finish({"ok": False, "kind": "needs-stand-ins", "message": message,
                "traceback": tb[-8000:], "wanted": sorted(set(WANTED_STAND_INS)),
                "warnings": WARNINGS})
    finish({"ok": False, "kind": kind, "message": message, "traceback": tb[-8000:],
            "warnings": WARNINGS})


# --- What WASI lacks and setuptools (or common setup.py code) expects --------------------

def _install_stand_ins():
    for name, value in (("getuid", 1000), ("geteuid", 1000), ("getgid", 1000),
                        ("getegid", 1000), ("getppid", 1)):
        if not hasattr(os, name):
            setattr(os, name, (lambda v: (lambda: v))(value))
    if not hasattr(os, "getlogin"):
        os.getlogin = lambda: "user"
    if not hasattr(os, "umask"):
        os.umask = lambda mask: 0o022

    def not_installed(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory (no processes in the sdistill sandbox)")

    # Every stand-in raises the audit event CPython's real call would (the observer
    # records the command line), then behaves as a machine without the program. The last
    # program refused names what an --observe build failed on (a compiler, usually).
    audit = sys.audit

    def refused(event, shape):
        def stand_in(*args, _audit=audit, **kwargs):
            _audit(event, *shape(args))
            _refused_program(shape(args)[1])
            not_installed()
        return stand_in

    import subprocess

    class _NoProcess(subprocess.Popen):
        # Without a shell a missing program raises ENOENT; through a shell it is a process
        # that printed "not found" and exited 127. Code written for a machine without the
        # tool (pkg-config, xslt-config, git) expects exactly that.
        def __init__(self, args, *a, shell=False, stdout=None, stderr=None, text=None,
                     universal_newlines=None, encoding=None, errors=None, executable=None,
                     cwd=None, env=None, _audit=audit, **kw):
            _audit("subprocess.Popen", executable, args, cwd, env)
            _refused_program(args)
            self.args = args
            self.pid = 0
            self.returncode = None
            if not shell:
                self.returncode = 127
                not_installed()
            textual = bool(text or universal_newlines or encoding or errors)
            cmd = args if isinstance(args, str) else " ".join(map(str, args))
            name = cmd.split()[0] if cmd.split() else cmd
            message = "sh: 1: %s: not found\n" % name
            self._out = "" if textual else b""
            self._err = message if textual else message.encode()
            self.stdin = None
            self.stdout = (io.StringIO(self._out) if textual else io.BytesIO(self._out)) if stdout == subprocess.PIPE else None
            self.stderr = (io.StringIO(self._err) if textual else io.BytesIO(self._err)) if stderr == subprocess.PIPE else None
            if stderr == subprocess.STDOUT and stdout == subprocess.PIPE:
                self.stdout = io.StringIO(self._err) if textual else io.BytesIO(self._err)
            self.returncode = 127

        def communicate(self, input=None, timeout=None):
            out = self.stdout.read() if self.stdout is not None else None
            err = self.stderr.read() if self.stderr is not None else None
            return out, err

        def poll(self):
            return self.returncode

        def wait(self, timeout=None):
            return self.returncode

        def kill(self):
            pass

        terminate = kill

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __del__(self):
            pass

    subprocess.Popen = _NoProcess

    def system(command, _audit=audit):
        _audit("os.system", command)
        _refused_program(command)
        return 127 << 8

    os.system = system
    os.popen = refused("subprocess.Popen", lambda a: (None, a[0] if a else None, None, None))
    # Replace only what exists: adding os.fork would make the stdlib think it can fork.
    shapes = {
        "exec": lambda a: (a[0] if a else None, a[1] if len(a) > 1 else None, None),
        "spawn": lambda a: (a[0] if a else None, a[1] if len(a) > 1 else None,
                            a[2] if len(a) > 2 else None, None),
        "posix_spawn": lambda a: (a[0] if a else None, a[1] if len(a) > 1 else None, None),
    }
    for name in ("execv", "execve", "execvp", "execvpe", "spawnv", "spawnve", "spawnvp",
                 "spawnvpe", "posix_spawn", "posix_spawnp"):
        # os.execl*/execvp* (Python, always there) end in execv/execve, which WASI lacks:
        # those two are added so that an exec is seen, not an AttributeError.
        if hasattr(os, name) or name in ("execv", "execve"):
            kind = "posix_spawn" if name.startswith("posix_spawn") else name[:5].rstrip("v")
            setattr(os, name, refused("os." + kind, shapes[kind]))


LAST_REFUSED = [""]


def _refused_program(args):
    # The base name of the program a stand-in refused (for the build outcome only).
    try:
        words = args.split() if isinstance(args, (str, bytes)) else [str(a) for a in args]
        first = words[0] if words else ""
        if isinstance(first, bytes):
            first = first.decode("utf-8", "replace")
        LAST_REFUSED[0] = os.path.basename(first)
    except Exception:
        LAST_REFUSED[0] = ""


_COMPILERS = ("cc", "gcc", "g++", "c++", "clang", "clang++", "cl", "cl.exe", "link.exe",
              "icc", "nvcc", "gfortran")


# --- Names removed from the stdlib that old setup.py files still use -------------------
# Installed lazily: an alias costs nothing unless used, and each use is reported, so a
# result that needed one says so in its warnings.

def _note(what, template="compatibility: provided removed stdlib name %s"):
    msg = template % what
    if msg not in WARNINGS:
        WARNINGS.append(msg)


def _install_compat():
    import collections
    import collections.abc
    import configparser

    abc_names = set(collections.abc.__all__)

    def collections_getattr(name):
        if name in abc_names:
            _note("collections.%s" % name)
            return getattr(collections.abc, name)
        raise AttributeError("module 'collections' has no attribute %r" % name)

    collections.__getattr__ = collections_getattr

    def configparser_getattr(name):
        if name == "SafeConfigParser":
            _note("configparser.SafeConfigParser")
            return configparser.ConfigParser
        raise AttributeError("module 'configparser' has no attribute %r" % name)

    configparser.__getattr__ = configparser_getattr

    def readfp(self, fp, filename=None):
        _note("configparser.RawConfigParser.readfp")
        return self.read_file(fp, filename)

    if not hasattr(configparser.RawConfigParser, "readfp"):
        configparser.RawConfigParser.readfp = readfp

    # Python 3.11 refuses global inline flags after the start of a pattern
    # (`'__version__ = (.*)(?m)'`, as in MarkupSafe 1.0's setup.py); move them to the front.
    import re

    original_compile = re._compile
    flag_group = re.compile(r"\(\?([aiLmsux]+)\)")

    def compile_moving_flags(pattern, flags):
        try:
            return original_compile(pattern, flags)
        except re.error as e:
            if not isinstance(pattern, str) or "global flags not at the start" not in str(e):
                raise
            letters = "".join(sorted(set("".join(flag_group.findall(pattern)))))
            _note("inline regex flags (?%s) after the start of a pattern" % letters,
                  "compatibility: moved %s to the start (Python 3.11 refuses them elsewhere)")
            return original_compile("(?%s)" % letters + flag_group.sub("", pattern), flags)

    re._compile = compile_moving_flags

    # platform.linux_distribution() and platform.dist() (removed in 3.8): what they
    # returned on Python 3.7 where no /etc/*-release file is readable, as in the sandbox.
    import platform

    def platform_getattr(name):
        if name in ("linux_distribution", "dist"):
            _note("platform.%s" % name)
            return lambda *args, **kwargs: ("", "", "")
        raise AttributeError("module 'platform' has no attribute %r" % name)

    platform.__getattr__ = platform_getattr

    # open(name, "U") / "rU" (removed in 3.11): universal newlines, which text mode has
    # always done in Python 3; 3.7 accepted "U" for reading only, and so does this.
    import builtins

    real_open = builtins.open

    def open_accepting_u(file, mode="r", *args, **kwargs):
        if type(mode) is str and "U" in mode:
            rest = mode.replace("U", "")
            if not set(rest) & set("wax+b") and mode.count("U") == 1:
                _note("open() mode %r" % mode,
                      "compatibility: accepted removed %s (universal newlines, what text "
                      "mode does since Python 3)")
                mode = rest or "r"
        return real_open(file, mode, *args, **kwargs)

    builtins.open = open_accepting_u

    import importlib.abc
    import importlib.util
    import types

    def make_imp():
        import importlib
        mod = types.ModuleType("imp")
        mod.reload = importlib.reload
        mod.new_module = types.ModuleType
        mod.PY_SOURCE, mod.PY_COMPILED, mod.C_EXTENSION, mod.PKG_DIRECTORY = 1, 2, 3, 5

        def load_source(name, path, file=None):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module

        def find_module(name, path=None):
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None:
                raise ImportError("No module named %s" % name)
            if spec.submodule_search_locations:
                return (None, spec.submodule_search_locations[0], ("", "", mod.PKG_DIRECTORY))
            return (open(spec.origin), spec.origin, (".py", "r", mod.PY_SOURCE))

        def load_module(name, file, pathname, description):
            if description and description[2] == mod.PKG_DIRECTORY:
                pathname = os.path.join(pathname, "__init__.py")
            return load_source(name, pathname)

        mod.load_source = load_source
        mod.load_module = load_module
        mod.find_module = find_module
        mod.get_suffixes = lambda: [(".py", "r", mod.PY_SOURCE)]
        return mod

    def make_userdict():
        import collections
        mod = types.ModuleType("UserDict")
        mod.UserDict = collections.UserDict
        mod.IterableUserDict = collections.UserDict

        class DictMixin:
            # Python 2's concrete mixin: everything from __getitem__ and keys().
            def __iter__(self):
                return iter(self.keys())

            def __len__(self):
                return len(self.keys())

            def __contains__(self, key):
                try:
                    self[key]
                except KeyError:
                    return False
                return True

            has_key = __contains__

            def get(self, key, default=None):
                try:
                    return self[key]
                except KeyError:
                    return default

            def items(self):
                return [(k, self[k]) for k in self.keys()]

            def values(self):
                return [self[k] for k in self.keys()]

        mod.DictMixin = DictMixin
        return mod

    def _no_process():
        raise OSError(errno.ENOSYS, "no processes in the sdistill sandbox")

    def make_multiprocessing():
        # WASI has no processes: a serial stand-in that build scripts can import.
        mod = types.ModuleType("multiprocessing")
        mod.cpu_count = lambda: 1

        class TimeoutError(Exception):
            pass

        class AsyncResult:
            def __init__(self, fn, args, kwds):
                try:
                    self._value, self._error = fn(*args, **kwds), None
                except Exception as e:  # re-raised by get(), like a worker's error
                    self._value, self._error = None, e

            def get(self, timeout=None):
                if self._error is not None:
                    raise self._error
                return self._value

            def wait(self, timeout=None):
                pass

            def ready(self):
                return True

            def successful(self):
                return self._error is None

        class Pool:
            def __init__(self, *a, **k):
                pass

            def map(self, fn, it, *a):
                return list(map(fn, it))

            imap = imap_unordered = map

            def apply(self, fn, args=(), kwds=None):
                return fn(*args, **(kwds or {}))

            def apply_async(self, fn, args=(), kwds=None, callback=None, error_callback=None):
                return AsyncResult(fn, args, kwds or {})

            def map_async(self, fn, it, *a, **k):
                return AsyncResult(lambda: list(map(fn, it)), (), {})

            def close(self):
                pass

            def join(self):
                pass

            def terminate(self):
                pass

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        mod.Pool = Pool
        mod.TimeoutError = TimeoutError
        mod.Process = lambda *a, **k: _no_process()
        pool = types.ModuleType("multiprocessing.pool")
        pool.Pool = pool.ThreadPool = Pool
        pool.AsyncResult = pool.ApplyResult = AsyncResult
        mod.pool = pool
        sys.modules["multiprocessing.pool"] = pool
        return mod

    legacy = {"imp": make_imp, "UserDict": make_userdict}
    try:
        import multiprocessing  # noqa: F401
    except ImportError:
        legacy["multiprocessing"] = make_multiprocessing

    class LegacyModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name in legacy:
                return importlib.util.spec_from_loader(name, self)
            return None

        def create_module(self, spec):
            _note(spec.name)
            return legacy[spec.name]()

        def exec_module(self, module):
            pass

    sys.meta_path.append(LegacyModules())

    class LegacyFinders(importlib.abc.MetaPathFinder):
        # Python 3.12 ignores meta-path finders that only have find_module (old vendored
        # six, for one); ask them the old way.
        def find_spec(self, name, path=None, target=None):
            for finder in list(sys.meta_path):
                if finder is self or hasattr(finder, "find_spec"):
                    continue
                find_module = getattr(finder, "find_module", None)
                if find_module is None:
                    continue
                loader = find_module(name, path)
                if loader is not None:
                    _note(type(finder).__name__, "compatibility: served the find_module()-only "
                          "import hook %s (Python 3.12 ignores those)")
                    return importlib.util.spec_from_loader(name, loader)
            return None

    sys.meta_path.append(LegacyFinders())


# --- Capture setup() kwargs as a last-resort answer ---------------------------------------

def _wrap_setup(module):
    original = getattr(module, "setup", None)
    if original is None or getattr(original, "_sdistill", False):
        return

    def setup(**kwargs):
        CAPTURED_KWARGS.update(kwargs)
        return original(**kwargs)

    setup._sdistill = True
    module.setup = setup


def _patch_build_eggs():
    # setup_requires: setuptools would run pip in a subprocess. Instead, report what is
    # missing so the host can provide real wheels and run again (once).
    import setuptools.dist
    from importlib import metadata as md

    def fetch_build_eggs(self, requires):
        from packaging.requirements import Requirement

        missing = []
        for text in _as_list(requires):
            try:
                req = Requirement(text)
            except Exception:
                missing.append(text)
                continue
            if req.marker is not None and not req.marker.evaluate():
                continue
            try:
                have = md.version(req.name)
            except md.PackageNotFoundError:
                missing.append(text)
                continue
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                missing.append(text)
        if missing:
            if CONFIG.get("allow_build_retry"):
                finish({"ok": False, "kind": "needs-build-requires", "requires": missing,
                        "warnings": WARNINGS})
            WARNINGS.append("setup_requires could not be provided: " + ", ".join(missing))
        return []

    setuptools.dist.Distribution.fetch_build_eggs = fetch_build_eggs


def _accept_removed_keywords():
    # setuptools >= 58 rejects use_2to3 & co.; old sdists still pass them. Accept and say so.
    import setuptools.dist

    original = getattr(setuptools.dist, "invalid_unless_false", None)
    if original is None:
        return

    def invalid_unless_false(dist, attr, value):
        if value:
            msg = "compatibility: ignored removed setup() keyword %s" % attr
            if msg not in WARNINGS:
                WARNINGS.append(msg)

    setuptools.dist.invalid_unless_false = invalid_unless_false
    # setuptools.dist._get_unpatched (removed in setuptools 36; d2to1 imports it) is
    # setuptools.monkey.get_unpatched.
    if not hasattr(setuptools.dist, "_get_unpatched"):
        def dist_getattr(name):
            if name == "_get_unpatched":
                import setuptools.monkey
                _note("setuptools.dist._get_unpatched", "compatibility: provided removed "
                      "setuptools name %s")
                return setuptools.monkey.get_unpatched
            raise AttributeError("module 'setuptools.dist' has no attribute %r" % name)

        setuptools.dist.__getattr__ = dist_getattr
    if not hasattr(setuptools, "Feature"):
        class Feature:
            def __init__(self, *args, **kwargs):
                _note("setuptools.Feature")

        setuptools.Feature = Feature


TARGETS = {
    # platform: (sys.platform, os.name, platform.system(), sysconfig platform tag)
    "linux": ("linux", "posix", "Linux", "linux-{machine}"),
    "macos": ("darwin", "posix", "Darwin", "macosx-11.0-{machine}"),
    "windows": ("win32", "nt", "Windows", "win-amd64"),
}


def _fake_target():
    # Make the guest look like the machine the user resolves for, so setup.py branches
    # (sys.platform, os.name, platform.system(), 64-bit maxsize) go the way they would
    # there. sysconfig is loaded first: its data module is named after the real platform.
    target = CONFIG.get("target") or {}
    name = target.get("platform", "linux")
    machine = target.get("machine", "x86_64")
    if name not in TARGETS:
        return
    sys_platform, os_name, system, tag = TARGETS[name]
    import platform
    import sysconfig

    sysconfig.get_config_vars()
    tag = tag.format(machine=machine.lower())
    if os_name == "nt":
        # pathlib picks its flavour from os.name on every Path(): keep the real one.
        import pathlib

        def path_new(cls, *args, **kwargs):
            if cls is pathlib.Path:
                cls = pathlib.PosixPath
            return object.__new__(cls)

        pathlib.Path.__new__ = path_new
    sys.platform = sys_platform
    os.name = os_name
    sys.maxsize = 2 ** 63 - 1
    os.cpu_count = lambda: 4
    platform.system = lambda: system
    platform.machine = lambda: machine
    release = {"linux": "6.1.0", "macos": "23.0.0", "windows": "10"}[name]
    uname = platform.uname_result(system, "sdistill", release, "", machine)
    platform.uname = lambda: uname
    platform.platform = lambda *a, **k: "%s-%s-%s" % (system, release, machine)
    sysconfig.get_platform = lambda: tag
    try:
        import distutils.util

        distutils.util.get_platform = lambda: tag
    except Exception:
        pass


# --- NumPy at setup time: a declared stand-in ---------------------------------------------
# NumPy has no pure-Python wheel and no WASI build this runtime can import. Old scientific
# setup.py files use it in three ways: a version check, numpy.get_include() for
# Extension(include_dirs=...), and numpy.distutils' Configuration/setup, which only
# collect packages, extensions and data files before handing the setup() keywords (where
# the dependency metadata is) to setuptools. This stand-in serves exactly those, when no
# real numpy is importable; anything else is an AttributeError, as a missing feature
# should be. Every answer that used it carries a warning starting "numpy stand-in", which
# the host treats as degraded (flagged, never cached).

NUMPY_VERSION = "1.26.4"  # the last NumPy with numpy.distutils


NUMPY_NOTE = ("numpy stand-in: setup.py imported numpy; no real NumPy runs in the sandbox "
              "(numpy.distutils' configuration is emulated, numpy.get_include() is a "
              "placeholder, __version__ says " + NUMPY_VERSION + "), so this answer is "
              "flagged")


def _numpy_note(what):
    # One warning whatever was used (`what` is for reading the code).
    if NUMPY_NOTE not in WARNINGS:
        WARNINGS.append(NUMPY_NOTE)


def _make_numpy(name):
    import types

    mod = types.ModuleType(name)
    mod.__sdistill_stand_in__ = True
    if name == "numpy":
        mod.__path__ = []
        mod.__version__ = NUMPY_VERSION

        def get_include():
            _numpy_note("numpy.get_include()")
            return "/numpy-stand-in/include"

        mod.get_include = get_include
        mod.get_numpy_include = get_include
    elif name == "numpy.version":
        mod.version = mod.full_version = mod.short_version = NUMPY_VERSION
        mod.release = True
    elif name == "numpy.distutils":
        mod.__path__ = []
    elif name == "numpy.distutils.core":
        _numpy_distutils_core(mod)
    elif name == "numpy.distutils.misc_util":
        _numpy_misc_util(mod)
    elif name == "numpy.distutils.system_info":
        _numpy_system_info(mod)
    elif name in ("numpy.distutils.extension",):
        mod.Extension = _numpy_extension_class()
    elif name == "numpy.distutils.command":
        mod.__path__ = []
    elif name.startswith("numpy.distutils.command."):
        import importlib
        command = name.rsplit(".", 1)[1]
        try:
            real = importlib.import_module("setuptools.command." + command)
        except ImportError:
            real = importlib.import_module("distutils.command." + command)
        setattr(mod, command, getattr(real, command))
    elif name == "numpy.distutils.log":
        import distutils.log as log
        mod.__dict__.update({k: v for k, v in vars(log).items() if not k.startswith("__")})
    return mod


NUMPY_MODULES = ("numpy", "numpy.version", "numpy.distutils", "numpy.distutils.core",
                 "numpy.distutils.misc_util", "numpy.distutils.system_info",
                 "numpy.distutils.extension", "numpy.distutils.command",
                 "numpy.distutils.command.build_ext", "numpy.distutils.command.build_py",
                 "numpy.distutils.command.build_clib", "numpy.distutils.command.build",
                 "numpy.distutils.command.sdist", "numpy.distutils.command.install",
                 "numpy.distutils.command.develop", "numpy.distutils.command.egg_info",
                 "numpy.distutils.log")


def _numpy_extension_class():
    import setuptools

    class Extension(setuptools.Extension):
        # numpy.distutils.extension.Extension: setuptools' plus the Fortran/f2py options.
        def __init__(self, name, sources, *args, f2py_options=None, module_dirs=None,
                     extra_f77_compile_args=None, extra_f90_compile_args=None, **kwargs):
            setuptools.Extension.__init__(self, name, sources, *args, **kwargs)
            self.f2py_options = f2py_options or []
            self.module_dirs = module_dirs or []

    return Extension


def _dict_append(d, **kws):
    # numpy.distutils.core._dict_append: lists and tuples extend, dicts merge, strings
    # are replaced.
    for k, v in kws.items():
        if k not in d:
            d[k] = v
            continue
        dv = d[k]
        if isinstance(dv, tuple):
            d[k] = dv + tuple(v)
        elif isinstance(dv, list):
            d[k] = dv + list(v)
        elif isinstance(dv, dict):
            _dict_append(dv, **v)
        elif isinstance(dv, str):
            d[k] = v
        else:
            raise TypeError(repr(type(dv)))


def _numpy_distutils_core(mod):
    import setuptools

    def setup(**attr):
        # numpy.distutils.core.setup: configuration() → todict() appended to the keywords,
        # then setuptools' setup. Extensions and libraries are never built for metadata,
        # so they are left out.
        _numpy_note("numpy.distutils.core.setup")
        new_attr = dict(attr)
        configuration = new_attr.pop("configuration", None)
        if configuration is not None:
            config = configuration()
            if hasattr(config, "todict"):
                config = config.todict()
            _dict_append(new_attr, **config)
        for key in ("ext_modules", "libraries", "headers", "installed_libraries",
                    "installed_pkg_config", "define_macros", "include_dirs"):
            new_attr.pop(key, None)
        return setuptools.setup(**new_attr)

    mod.setup = setup
    mod.Extension = _numpy_extension_class()
    mod.numpy_cmdclass = {}


def _numpy_misc_util(mod):
    def dot_join(*args):
        return ".".join([a for a in args if a])

    class Configuration:
        # numpy.distutils.misc_util.Configuration, the parts that decide setup() keywords:
        # name, version, packages and package_dir, py_modules, data_files, scripts.
        # add_subpackage records the package without running its setup.py (that file
        # only adds extensions and data, which metadata does not depend on).
        _list_keys = ["packages", "ext_modules", "data_files", "include_dirs", "libraries",
                      "headers", "scripts", "py_modules", "installed_libraries",
                      "define_macros"]
        _dict_keys = ["package_dir", "installed_pkg_config"]
        _extra_keys = ["name", "version"]

        def __init__(self, package_name=None, parent_name=None, top_path=None,
                     package_path=None, caller_level=1, setup_name="setup.py", **attrs):
            _numpy_note("numpy.distutils.misc_util.Configuration")
            self.name = dot_join(parent_name, package_name)
            self.version = None
            self.top_path = top_path or os.getcwd()
            self.local_path = package_path or os.path.join(
                self.top_path, *(package_name or "").split(".")) if package_name else self.top_path
            for key in self._list_keys:
                setattr(self, key, list(attrs.get(key, [])))
            for key in self._dict_keys:
                setattr(self, key, dict(attrs.get(key, {})))
            for key in self._extra_keys:
                if key in attrs and attrs[key]:
                    setattr(self, key, attrs[key])
            self.options = {}
            if package_name is not None:
                self.packages.append(self.name)
                if package_path is not None:
                    self.package_dir[self.name] = package_path

        def set_options(self, **options):
            self.options.update(options)

        def add_subpackage(self, subpackage_name, subpackage_path=None, standalone=False):
            name = dot_join(self.name, subpackage_name)
            if name not in self.packages:
                self.packages.append(name)
            if subpackage_path is not None:
                self.package_dir[name] = subpackage_path

        def get_subpackage(self, subpackage_name, subpackage_path=None, parent_name=None,
                           caller_level=1):
            return [Configuration(subpackage_name, parent_name or self.name,
                                  self.top_path, subpackage_path).todict()]

        def add_data_files(self, *files):
            self.data_files.extend(f for f in files)

        def add_data_dir(self, data_path):
            pass

        def add_extension(self, name, sources, **kw):
            return None

        def add_library(self, name, sources, **build_info):
            pass

        def add_installed_library(self, *args, **kwargs):
            pass

        def add_npy_pkg_config(self, *args, **kwargs):
            pass

        def add_include_dirs(self, *paths):
            pass

        def add_headers(self, *files):
            pass

        def add_define_macros(self, macros):
            pass

        def add_scripts(self, *files):
            self.scripts.extend(files)

        def add_py_modules(self, *modules):
            self.py_modules.extend(modules)

        def paths(self, *paths, **kws):
            return [os.path.join(self.local_path, p) for p in paths]

        def make_config_py(self, name="__config__"):
            pass

        def make_svn_version_py(self, delete=True):
            pass

        make_hg_version_py = make_svn_version_py

        def have_f77c(self):
            return False

        def have_f90c(self):
            return False

        def get_build_temp_dir(self):
            return "/scratch/build-temp"

        def get_distribution(self):
            from distutils.core import _setup_distribution
            return _setup_distribution

        def get_info(self, *names):
            return {}

        def get_version(self, version_file=None, version_variable=None):
            # As numpy.distutils does: run the version file and read a version variable.
            if self.version:
                return self.version
            short = (self.name or "").split(".")[-1]
            files = [version_file] if version_file else [
                "__version__.py", short + "_version.py", "version.py",
                "__svn_version__.py", "__hg_version__.py"]
            names = [version_variable] if version_variable else [
                "version", "__version__", short + "_version"]
            for f in files:
                path = os.path.join(self.local_path, f)
                if not os.path.isfile(path):
                    continue
                scope = {"__name__": "version", "__file__": path}
                with open(path, encoding="utf-8", errors="replace") as fh:
                    exec(compile(fh.read(), path, "exec"), scope)
                for n in names:
                    if scope.get(n):
                        self.version = str(scope[n])
                        return self.version
            return None

        def todict(self):
            d = {}
            for key in self._list_keys + self._dict_keys + self._extra_keys:
                value = getattr(self, key, None)
                if value:
                    d[key] = value
            return d

    mod.Configuration = Configuration
    mod.dot_join = dot_join
    mod.get_numpy_include_dirs = lambda: ["/numpy-stand-in/include"]
    mod.get_info = lambda *a, **k: {}
    mod.get_mathlibs = lambda *a, **k: []
    mod.allpath = lambda name: os.path.join(*name.split("/"))
    mod.is_sequence = lambda x: isinstance(x, (list, tuple))
    mod.is_string = lambda x: isinstance(x, str)
    mod.gpaths = lambda paths, local_path="", include_non_existing=True: list(
        paths if isinstance(paths, (list, tuple)) else [paths])


def _numpy_system_info(mod):
    # As on a machine where none of the libraries it looks for (BLAS, LAPACK, FFTW...)
    # is installed: empty information, or NotFoundError when asked to raise.
    class NotFoundError(Exception):
        pass

    def get_info(name, notfound_action=0):
        if notfound_action == 2:
            raise NotFoundError("%s not found (numpy stand-in: no system libraries)" % name)
        return {}

    mod.NotFoundError = NotFoundError
    for n in ("BlasNotFoundError", "LapackNotFoundError", "AtlasNotFoundError",
              "FFTWNotFoundError", "DJBFFTNotFoundError", "NumericNotFoundError",
              "X11NotFoundError", "UmfpackNotFoundError"):
        setattr(mod, n, type(n, (NotFoundError,), {}))
    mod.get_info = get_info
    mod.dict_append = lambda d, **kws: _dict_append(d, **kws)

    class system_info:
        def __init__(self, *a, **k):
            pass

        def get_info(self, notfound_action=0):
            return {}

    mod.system_info = system_info


def _install_numpy_stand_in():
    # Served only when no real numpy is importable (a finder at the end of sys.meta_path).
    import importlib.abc
    import importlib.util

    class NumpyStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name in NUMPY_MODULES:
                return importlib.util.spec_from_loader(
                    name, self, is_package=name in ("numpy", "numpy.distutils",
                                                    "numpy.distutils.command"))
            return None

        def create_module(self, spec):
            _numpy_note("import %s" % spec.name)
            return _make_numpy(spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.append(NumpyStandIn())


# --- Cython, ctypes and ssl at setup time: stand-ins on a second run ---------------------
# Modules the guest does not have, which old setup.py files import: Cython (undeclared:
# `from Cython.Build import cythonize`), ctypes (no native code under WASI) and ssl (no
# OpenSSL). On pip's machine they exist. At first they are missing, as the guest is, and
# each import by the sdist's code is remembered; many setup.py files guard the import and
# take another path, which then stays unflagged. Only when the build then fails does the
# host run it again with the stand-ins served ("provide_stand_ins"). Each stand-in covers
# what metadata needs and nothing more: anything needing the real thing (translating
# .pyx, loading a native library, TLS) raises, and every answer that used one carries a
# warning starting "<name> stand-in", which the host treats as degraded (flagged, never
# cached). Served only when the real module is not importable (a finder at the end of
# sys.meta_path), and never to the standard library or setuptools, whose guarded imports
# keep seeing a guest without them.

WANTED_STAND_INS = []

CYTHON_VERSION = "3.0.11"

STAND_IN_NOTES = {
    "Cython": ("cython stand-in: setup.py imported Cython, which the build does not "
               "declare; no real Cython runs (cythonize() only renames .pyx sources to "
               "the .c files Cython would write, __version__ says " + CYTHON_VERSION +
               "), so this answer is flagged"),
    "ctypes": ("ctypes stand-in: setup.py imported ctypes, which the WASI guest lacks; "
               "the stand-in behaves like a machine where no native library can be "
               "found or loaded, so this answer is flagged"),
    "ssl": ("ssl stand-in: setup.py imported ssl, which the WASI guest lacks; the "
            "stand-in has its names (classes, exceptions) but no TLS, so this answer "
            "is flagged"),
}

_TRUSTED_IMPORTERS = ("<frozen ", "/wlr/", "/usr/local/lib/python3", "/site/")


def _imported_by_sdist():
    # The first frame outside the import machinery: whose import is this?
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith("<frozen importlib") or name.endswith("importlib/__init__.py")):
            return not name.startswith(_TRUSTED_IMPORTERS)
        frame = frame.f_back
    return False


def _stand_in_note(top):
    note = STAND_IN_NOTES[top]
    if note not in WARNINGS:
        WARNINGS.append(note)


def _module(name, doc):
    import types

    mod = types.ModuleType(name, doc)
    mod.__sdistill_stand_in__ = True
    return mod


def _cython_module_name(path):
    # Cython's fully qualified name: the path's parents that are packages, then the stem.
    stem = os.path.splitext(os.path.basename(path))[0]
    parts = [stem]
    folder = os.path.dirname(os.path.abspath(path))
    while any(os.path.isfile(os.path.join(folder, "__init__" + ext))
              for ext in (".py", ".pyx", ".pxd")):
        parts.append(os.path.basename(folder))
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return ".".join(reversed(parts))


def _cythonize(module_list, exclude=None, nthreads=0, aliases=None, quiet=False,
               force=None, language=None, exclude_failures=False, **options):
    import copy
    import glob
    import setuptools

    _stand_in_note("Cython")
    if isinstance(module_list, (str, setuptools.Extension)) or not isinstance(
            module_list, (list, tuple)):
        import distutils.extension
        if not isinstance(module_list, (str, distutils.extension.Extension)):
            raise TypeError("cythonize (sdistill stand-in): unsupported module list %r"
                            % type(module_list).__name__)
        module_list = [module_list]
    excluded = set()
    for pattern in ([exclude] if isinstance(exclude, str) else (exclude or [])):
        excluded.update(os.path.normpath(p) for p in glob.glob(pattern, recursive=True))

    def translated(source, lang):
        base, ext = os.path.splitext(source)
        if ext in (".pyx", ".py"):
            return base + (".cpp" if lang == "c++" else ".c")
        return source

    out = []
    for item in module_list:
        if isinstance(item, str):
            template, patterns = None, [item]
        elif hasattr(item, "sources") and hasattr(item, "name"):
            template, patterns = item, list(item.sources)
        else:
            raise TypeError("cythonize (sdistill stand-in): unsupported module %r"
                            % type(item).__name__)
        lang = language or getattr(template, "language", None)
        if template is not None and "*" not in template.name:
            ext = copy.copy(template)
            ext.sources = [translated(s, lang) for s in template.sources]
            out.append(ext)
            continue
        # A glob (a string, or an Extension named "*" or "pkg.*"): one module per file.
        for pattern in patterns:
            files = sorted(glob.glob(pattern, recursive=True))
            if not files and isinstance(item, str):
                raise ValueError("'%s' doesn't match any files" % pattern)
            for path in files:
                if os.path.normpath(path) in excluded or not path.endswith((".pyx", ".py")):
                    continue
                name = _cython_module_name(path)
                if template is None:
                    out.append(setuptools.Extension(name, [translated(path, lang)],
                                                    language=lang))
                else:
                    ext = copy.copy(template)
                    ext.name = name
                    ext.sources = [translated(path, lang)] + [
                        s for s in template.sources if s != pattern and "*" not in s]
                    out.append(ext)
    return out


def _make_cython(name):
    # Only these names exist; anything else is an AttributeError (the build fails rather
    # than guess).
    mod = _module(name, "sdistill stand-in for Cython (no Cython runs in the sandbox)")
    if name in ("Cython", "Cython.Build", "Cython.Distutils", "Cython.Compiler"):
        mod.__path__ = []
    if name == "Cython":
        mod.__version__ = CYTHON_VERSION
    elif name == "Cython.Compiler.Version":
        mod.version = mod.watermark = CYTHON_VERSION
    elif name in ("Cython.Build", "Cython.Build.Dependencies"):
        mod.cythonize = _cythonize
    elif name in ("Cython.Distutils", "Cython.Distutils.build_ext",
                  "Cython.Distutils.extension", "Cython.Distutils.old_build_ext"):
        import setuptools
        import setuptools.command.build_ext as setuptools_build_ext

        class build_ext(setuptools_build_ext.build_ext):
            # Cython's build_ext translates .pyx while building, which the metadata step
            # never reaches; building extensions is refused.
            def run(self):
                if self.extensions:
                    import distutils.errors
                    raise distutils.errors.DistutilsModuleError(
                        "Cython cannot run: the sandbox only stands in for it")
                return setuptools_build_ext.build_ext.run(self)

        class Extension(setuptools.Extension):
            # Cython.Distutils.Extension: setuptools' plus the cython_* options.
            def __init__(self, name, sources, *args, **kwargs):
                cython = {k: kwargs.pop(k) for k in list(kwargs)
                          if k.startswith(("cython_", "pyrex_")) or k == "no_c_in_traceback"}
                setuptools.Extension.__init__(self, name, sources, *args, **kwargs)
                for key, value in cython.items():
                    setattr(self, key, value)

        if name != "Cython.Distutils.extension":
            mod.build_ext = mod.new_build_ext = build_ext
        if name in ("Cython.Distutils", "Cython.Distutils.extension"):
            mod.Extension = Extension
        if name == "Cython.Distutils.old_build_ext":
            mod.old_build_ext = build_ext
    return mod


def _make_ctypes(name):
    # A machine where no native library can be found or loaded: find_library() says None,
    # loading raises OSError after the audit event the real call raises (the observer
    # records it as native code). No C types: sizes and layouts would be guesses.
    mod = _module(name, "sdistill stand-in for ctypes (no native code in the sandbox)")
    if name == "ctypes":
        mod.__path__ = []

        class ArgumentError(Exception):
            pass

        class CDLL:
            def __init__(self, name, *args, **kwargs):
                sys.audit("ctypes.dlopen", name)
                raise OSError("%s: cannot open shared object file: no native libraries "
                              "in the sdistill sandbox" % (name,))

        class PyDLL(CDLL):
            pass

        class LibraryLoader:
            def __init__(self, dlltype):
                self._dlltype = dlltype

            def __getattr__(self, name):
                if name.startswith("_"):
                    raise AttributeError(name)
                return self._dlltype(name)

            __getitem__ = __getattr__

            def LoadLibrary(self, name):
                return self._dlltype(name)

        mod.ArgumentError = ArgumentError
        mod.CDLL = CDLL
        mod.PyDLL = PyDLL
        mod.LibraryLoader = LibraryLoader
        mod.cdll = LibraryLoader(CDLL)
        mod.pydll = LibraryLoader(PyDLL)
    elif name == "ctypes.util":
        def find_library(name):
            return None

        mod.find_library = find_library
    return mod


def _make_ssl(name):
    # Names for annotations, isinstance checks and except clauses; no TLS.
    mod = _module(name, "sdistill stand-in for ssl (no OpenSSL in the sandbox)")

    class SSLError(OSError):
        pass

    errors = {"SSLError": SSLError}
    for sub in ("SSLZeroReturnError", "SSLWantReadError", "SSLWantWriteError",
                "SSLSyscallError", "SSLEOFError", "SSLCertVerificationError"):
        errors[sub] = type(sub, (SSLError,), {})
    errors["CertificateError"] = errors["SSLCertVerificationError"]

    def no_tls(*args, **kwargs):
        raise SSLError("no TLS in the sdistill sandbox (ssl is a stand-in)")

    class SSLContext:
        def __new__(cls, *args, **kwargs):
            no_tls()

    class SSLSocket:
        def __new__(cls, *args, **kwargs):
            no_tls()

    class SSLObject(SSLSocket):
        pass

    mod.__dict__.update(errors)
    mod.SSLContext, mod.SSLSocket, mod.SSLObject = SSLContext, SSLSocket, SSLObject
    mod.create_default_context = no_tls
    mod.wrap_socket = no_tls
    return mod


STAND_IN_MODULES = {
    "Cython": _make_cython, "Cython.Build": _make_cython,
    "Cython.Build.Dependencies": _make_cython, "Cython.Distutils": _make_cython,
    "Cython.Distutils.build_ext": _make_cython, "Cython.Distutils.extension": _make_cython,
    "Cython.Distutils.old_build_ext": _make_cython, "Cython.Compiler": _make_cython,
    "Cython.Compiler.Version": _make_cython,
    "ctypes": _make_ctypes, "ctypes.util": _make_ctypes,
    "ssl": _make_ssl,
}


def _install_late_stand_ins():
    # Served only when the real module is not importable (a finder at the end of
    # sys.meta_path), and only on the run the host asked for them.
    import importlib.abc
    import importlib.util

    class LateStandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name not in STAND_IN_MODULES or not _imported_by_sdist():
                return None
            top = name.split(".")[0]
            if not CONFIG.get("provide_stand_ins"):
                WANTED_STAND_INS.append(top)
                return None
            return importlib.util.spec_from_loader(
                name, self, is_package=name in ("Cython", "Cython.Build", "Cython.Distutils",
                                                "Cython.Compiler", "ctypes"))

        def create_module(self, spec):
            _stand_in_note(spec.name.split(".")[0])
            return STAND_IN_MODULES[spec.name](spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.append(LateStandIns())


# --- 2to3 and compiler probes ------------------------------------------------------------

WANTED_2TO3 = []


def _provide_2to3_names():
    # distutils' 2to3 helpers (build_py_2to3, run_2to3, copydir_run_2to3, Mixin2to3) went
    # with distutils; old setup.py files import them at module level and use them only in
    # build_py, which the metadata step never runs. Many import them in `try: ... except
    # ImportError:` and take a 2to3-free path without them (as under pip with setuptools'
    # distutils, which lacks them too), so at first they are missing, as there, and each
    # lookup is remembered. Only when the build then fails does the host run it again with
    # them provided ("provide_2to3"), each use reported. The guest's stdlib has no lib2to3,
    # so actually converting sources is an error that says so (a build, never the
    # metadata, reaches it).
    import distutils.command.build_py as build_py_mod
    import distutils.errors
    import distutils.util as util_mod

    def run_2to3(files, fixer_names=None, options=None, explicit=None):
        if not files:
            return
        raise distutils.errors.DistutilsModuleError(
            "2to3 cannot run: lib2to3 is not in the sandbox's Python runtime")

    def copydir_run_2to3(src, dest, template=None, fixer_names=None, options=None,
                         explicit=None):
        run_2to3([src], fixer_names, options, explicit)
        return []

    class Mixin2to3:
        fixer_names = None
        options = None
        explicit = None

        def run_2to3(self, files):
            return run_2to3(files, self.fixer_names, self.options, self.explicit)

    class build_py_2to3(build_py_mod.build_py, Mixin2to3):
        def run(self):
            self.updated_files = []
            build_py_mod.build_py.run(self)
            self.run_2to3(self.updated_files)

        def build_module(self, module, module_file, package):
            res = build_py_mod.build_py.build_module(self, module, module_file, package)
            if res[1]:
                self.updated_files.append(res[0])
            return res

    provided = {
        build_py_mod: {"build_py_2to3": build_py_2to3},
        util_mod: {"run_2to3": run_2to3, "copydir_run_2to3": copydir_run_2to3,
                   "Mixin2to3": Mixin2to3},
    }
    for module, names in provided.items():
        previous = getattr(module, "__getattr__", None)

        def module_getattr(name, _names=names, _module=module, _previous=previous):
            if name in _names and not CONFIG.get("provide_2to3"):
                WANTED_2TO3.append(name)
            elif name in _names:
                _note("%s.%s" % (_module.__name__, name),
                      "compatibility: provided removed distutils name %s (2to3 itself is "
                      "not run: the metadata does not depend on it)")
                return _names[name]
            if _previous is not None:
                return _previous(name)
            raise AttributeError("module %r has no attribute %r" % (_module.__name__, name))

        module.__getattr__ = module_getattr


PROBES_FAILED = []


def _compiler_probes():
    # distutils' `config` command (try_compile, try_link, try_cpp, try_run, check_*) and
    # CCompiler.has_function compile a test program to probe for a feature or library
    # (cffi, lxml-style setup.py). The sandbox has no compiler, so by default each probe
    # fails exactly as on a machine without one (CompileError / DistutilsExecError inside,
    # False outside) and setup.py takes its fallback path; each failure is remembered.
    # When the host asks ("compiler_probes": "succeed", after a build that stopped once
    # a probe failed), every probe answers yes instead, as on the machine with a compiler
    # where pip built it; the host reports that the answer assumed one.
    import distutils.ccompiler
    import distutils.command.config as config_mod

    succeed = CONFIG.get("compiler_probes") == "succeed"
    cls = config_mod.config
    for name in ("try_cpp", "try_compile", "try_link", "try_run", "check_func",
                 "check_lib", "check_header", "search_cpp"):
        original = getattr(cls, name, None)
        if original is None:
            continue

        def probe(self, *args, _original=original, _name=name, **kwargs):
            if succeed:
                return True
            result = _original(self, *args, **kwargs)
            if not result:
                PROBES_FAILED.append(_name)
            return result

        setattr(cls, name, probe)
    original_has_function = distutils.ccompiler.CCompiler.has_function

    def has_function(self, *args, **kwargs):
        if succeed:
            return True
        try:
            result = original_has_function(self, *args, **kwargs)
        except Exception:
            PROBES_FAILED.append("has_function")
            raise
        if not result:
            PROBES_FAILED.append("has_function")
        return result

    distutils.ccompiler.CCompiler.has_function = has_function


def _find_pkg_info(base):
    for entry in sorted(os.listdir(base)):
        if entry.endswith(".egg-info"):
            path = os.path.join(base, entry, "PKG-INFO")
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="surrogateescape") as f:
                    return f.read()
    return None


def _fast_egg_info():
    # egg_info walks the whole tree to write SOURCES.txt; metadata does not depend on it.
    from setuptools.command import egg_info as ei

    def find_sources(self):
        self.filelist = ei.FileList()

    ei.egg_info.find_sources = find_sources


def run_setup_py(project, command=None):
    egg_base = "/scratch/egg-info"
    os.makedirs(egg_base, exist_ok=True)
    os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "local")
    import setuptools  # noqa: F401  (installs setuptools' distutils for `import distutils`)
    import distutils.core

    _wrap_setup(setuptools)
    _wrap_setup(distutils.core)
    _provide_2to3_names()
    _compiler_probes()
    _install_numpy_stand_in()
    _install_late_stand_ins()
    _fast_egg_info()
    _patch_build_eggs()
    _accept_removed_keywords()
    _fake_target()
    setup_py = os.path.join(project, "setup.py")
    if os.path.isfile(setup_py):
        with open(setup_py, "rb") as f:
            source = f.read()
    else:
        source = b"from setuptools import setup; setup()\n"
        WARNINGS.append("no setup.py; ran setuptools with setup.cfg/pyproject only")
    sys.argv = ["setup.py", "-q"] + (command or ["egg_info", "--egg-base", egg_base])
    sys.path.insert(0, project)
    code = compile(source, setup_py, "exec")
    globs = {"__name__": "__main__", "__file__": setup_py, "__builtins__": __builtins__}
    if command is not None:
        exec(code, globs)  # the build phase: run_build reports how it ended
        return
    try:
        exec(code, globs)
    except SystemExit as e:
        if e.code not in (None, 0):
            pkg_info = _find_pkg_info(egg_base)
            if pkg_info is None:
                _kwargs_fallback("setup.py exited with status %r" % (e.code,))
                fail("setup-failed", e, message="setup.py exited with status %r" % (e.code,))
    except Exception as e:
        if CAPTURED_KWARGS:
            _kwargs_fallback("".join(traceback.format_exception_only(type(e), e)).strip())
        raise
    pkg_info = _find_pkg_info(egg_base)
    if pkg_info is not None:
        finish({"ok": True, "method": "sandbox-egg-info", "metadata": pkg_info,
                "warnings": WARNINGS})
    if CAPTURED_KWARGS:
        finish({"ok": True, "method": "sandbox-setup-kwargs",
                "kwargs": _jsonable_kwargs(CAPTURED_KWARGS), "warnings": WARNINGS})
    fail("no-metadata", message="setup.py finished without calling setup() or writing metadata")


def _kwargs_fallback(reason):
    # setup() was called but setuptools refused to write metadata (e.g. a non-PEP 440
    # specifier such as `pytz>dev`): report the arguments as written, flagged.
    if CAPTURED_KWARGS.get("name"):
        WARNINGS.append("setuptools could not write metadata (%s); reporting the setup() "
                        "arguments as written" % reason[:300])
        finish({"ok": True, "method": "sandbox-setup-kwargs",
                "kwargs": _jsonable_kwargs(CAPTURED_KWARGS), "warnings": WARNINGS})


def _jsonable_kwargs(kwargs):
    out = {}
    for key in ("name", "version", "install_requires", "extras_require", "python_requires"):
        value = kwargs.get(key)
        if value is None:
            continue
        if isinstance(value, (str, int, float)):
            out[key] = str(value)
        elif isinstance(value, dict):
            out[key] = {str(k): _as_list(v) for k, v in value.items()}
        else:
            out[key] = _as_list(value)
    return out


def _as_list(value):
    if isinstance(value, str):
        return [line for line in (l.strip() for l in value.splitlines()) if line and not line.startswith("#")]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def run_pep517(project, backend_name, backend_path):
    for p in reversed(backend_path or []):
        sys.path.insert(0, os.path.join(project, p))
    module_name, _, obj_path = backend_name.partition(":")
    try:
        backend = __import__(module_name, fromlist=["_"])
    except ImportError as e:
        fail("unsupported-backend", e,
             message="build backend %s is not available in the sandbox (%s)" % (backend_name, e))
    for attr in filter(None, obj_path.split(".")):
        backend = getattr(backend, attr)
    _fake_target()
    hook = getattr(backend, "prepare_metadata_for_build_wheel", None)
    if hook is None:
        fail("unsupported-backend", message="backend %s has no prepare_metadata_for_build_wheel" % backend_name)
    out_dir = "/scratch/pep517-metadata"
    os.makedirs(out_dir, exist_ok=True)
    dist_info = hook(out_dir, {})
    with open(os.path.join(out_dir, dist_info, "METADATA"), encoding="utf-8",
              errors="surrogateescape") as f:
        finish({"ok": True, "method": "sandbox-pep517", "metadata": f.read(), "warnings": WARNINGS})


# --- The --observe build: run what an install runs, to be observed -----------------------

# Failures that mean "no C compiler": the sandbox has none, so a build with extensions
# stops there (the observer records the compiler it looked for).
_NO_COMPILER = ("command '", "unable to find vcvarsall", "microsoft visual c++",
                "compileerror", "linkerror", "ccompilererror", "distutilsexecerror",
                "no such file or directory: 'cc'", "c compiler")


def _build_outcome(what, message):
    text = (what + " " + message).lower()
    program = LAST_REFUSED[0]
    compiler = program in _COMPILERS or program.endswith(("-gcc", "-g++", "-cc", "-clang"))
    outcome = "no-compiler" if compiler or any(m in text for m in _NO_COMPILER) else "failed"
    finish({"ok": True, "method": "build", "outcome": outcome, "message": message[-2000:],
            "warnings": WARNINGS})


def run_build(project, backend_name, backend_path):
    # The build itself (what `pip install` runs after the metadata): bdist_wheel through
    # setup.py, or the backend's build_wheel. A payload hidden in cmdclass={"install": ...}
    # or build_ext runs here.
    _sdistill_obs_bait((CONFIG.get("target") or {}).get("platform"))
    dist = "/scratch/dist"
    os.makedirs(dist, exist_ok=True)
    try:
        if backend_name and not backend_name.startswith("setuptools.build_meta"):
            for p in reversed(backend_path or []):
                sys.path.insert(0, os.path.join(project, p))
            module_name, _, obj_path = backend_name.partition(":")
            backend = __import__(module_name, fromlist=["_"])
            for attr in filter(None, obj_path.split(".")):
                backend = getattr(backend, attr)
            _fake_target()
            backend.build_wheel(dist, {})
        else:
            # bdist_wheel (what pip runs), then install into a private root (what pip ran
            # for years, and what payloads that check `"install" in sys.argv` wait for).
            run_setup_py(project, command=[
                "build", "--executable", "/usr/bin/python3",
                "bdist_wheel", "-d", dist,
                "install", "--single-version-externally-managed", "--root", dist + "/root",
                "--record", dist + "/record.txt", "--install-headers",
                dist + "/root/include"])
    except SystemExit as e:
        if e.code not in (None, 0):
            code = e.code
            _build_outcome("SystemExit", code if isinstance(code, str)
                           else "the build exited with status %r" % (code,))
    except BaseException as e:  # noqa: BLE001 - how the build failed is the result
        _build_outcome(type(e).__name__, "".join(
            traceback.format_exception_only(type(e), e)).strip())
    finish({"ok": True, "method": "build", "outcome": "built", "message": "",
            "warnings": WARNINGS})


# --- A build requirement published only as an sdist: its wheel -------------------------

def run_wheel(project, backend_name, backend_path):
    # The wheel of a helper another sdist needs at build time (vcversioner, ...): what pip
    # would build for it. No bait and no install: only the wheel, copied to /out for the
    # host, which checks its name and unpacks it like any wheel.
    import shutil

    dist = "/scratch/dist"
    os.makedirs(dist, exist_ok=True)
    if backend_name and not backend_name.startswith("setuptools.build_meta"):
        for p in reversed(backend_path or []):
            sys.path.insert(0, os.path.join(project, p))
        module_name, _, obj_path = backend_name.partition(":")
        try:
            backend = __import__(module_name, fromlist=["_"])
        except ImportError as e:
            fail("unsupported-backend", e,
                 message="build backend %s is not available in the sandbox (%s)" % (backend_name, e))
        for attr in filter(None, obj_path.split(".")):
            backend = getattr(backend, attr)
        _fake_target()
        backend.build_wheel(dist, {})
    else:
        try:
            run_setup_py(project, command=["bdist_wheel", "-d", dist])
        except SystemExit as e:
            if e.code not in (None, 0):
                fail("setup-failed", e, message="setup.py exited with status %r" % (e.code,))
    if NUMPY_NOTE in WARNINGS or any(n in WARNINGS for n in STAND_IN_NOTES.values()):
        # A wheel built with the NumPy stand-in may be wrong, and the host keeps helper
        # wheels as clean: refuse it, saying why.
        fail("setup-failed", message="its build imported numpy, Cython, ctypes or ssl, "
             "which the sandbox only stands in for; the wheel is not used")
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
    if len(wheels) != 1:
        fail("setup-failed", message="the build made %d wheels, not one" % len(wheels))
    shutil.copyfile(os.path.join(dist, wheels[0]), "/out/helper.whl")
    finish({"ok": True, "method": "wheel", "filename": wheels[0], "warnings": WARNINGS})


def main(prepared=False):
    # Said before any sdist code runs: the host knows the observer is alive in this run.
    sys.audit("sdistill.ready")
    project = CONFIG.get("project", "/sdist")
    os.chdir(project)
    if not prepared:
        _install_stand_ins()
        _install_compat()
    backend = CONFIG.get("backend")
    if CONFIG.get("phase") == "bait":
        # The metadata step again, only to be observed (its result is never an answer).
        _sdistill_obs_bait((CONFIG.get("target") or {}).get("platform"))
    try:
        if CONFIG.get("phase") == "build":
            run_build(project, backend, CONFIG.get("backend_path"))
        elif CONFIG.get("phase") == "wheel":
            run_wheel(project, backend, CONFIG.get("backend_path"))
        elif backend and not backend.startswith("setuptools.build_meta"):
            run_pep517(project, backend, CONFIG.get("backend_path"))
        else:
            run_setup_py(project)
    except MemoryError as e:
        fail("memory", e)
    except RecursionError as e:
        fail("setup-failed", e)
    except BaseException as e:  # noqa: BLE001 - every failure of the sdist's code is reported
        fail("setup-failed", e)


SNAPSHOT_EXIT = 0x00534453


class _Resume:
    # builtin_repr(NULL, <this object>) is how the host enters a snapshot.
    def __repr__(self):
        global CONFIG
        with open("/out/request.json", encoding="utf-8") as f:
            CONFIG = json.load(f)
        sys.path[1:1] = CONFIG.get("paths") or []
        # Forget finders for the per-run directories (the snapshot never imported from
        # them). Not importlib.invalidate_caches(): it re-reads the whole stdlib zip.
        for key in list(sys.path_importer_cache):
            if isinstance(key, str) and key.startswith(("/sdist", "/scratch", "/deps", "/out")):
                del sys.path_importer_cache[key]
        try:
            main(prepared=True)
        except BaseException as e:  # noqa: BLE001 - main() reports its own failures
            fail("setup-failed", e)
        return ""


def snapshot():
    # Everything every run needs, in the order an ordinary start does it, without an sdist.
    _install_stand_ins()
    _install_compat()
    os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "local")
    import setuptools  # noqa: F401
    import distutils.core  # noqa: F401
    import setuptools.dist  # noqa: F401
    from setuptools.command import egg_info  # noqa: F401
    import platform  # noqa: F401
    import sysconfig  # noqa: F401
    import pathlib  # noqa: F401
    import distutils.util  # noqa: F401
    import importlib.metadata  # noqa: F401  (setuptools and backends read entry points)
    # What egg_info and common build helpers (setuptools_scm, ...) import lazily.
    import contextvars, difflib, shlex, tomllib, email.generator  # noqa: F401,E401
    import setuptools.command.build_py  # noqa: F401
    import setuptools.command.sdist  # noqa: F401
    try:
        import setuptools.command.bdist_wheel  # noqa: F401
    except ImportError:
        pass
    import distutils.version  # noqa: F401
    # What every setup.py run patches (2to3 names, compiler probes, the NumPy stand-in).
    import distutils.command.build_py, distutils.command.config  # noqa: F401,E401
    import distutils.ccompiler, distutils.errors, importlib.abc  # noqa: F401,E401
    global _RESUME
    _RESUME = _Resume()
    with open("/out/snapshot.json", "w", encoding="utf-8") as f:
        json.dump({"repr": id(repr), "resume": id(_RESUME)}, f)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(SNAPSHOT_EXIT)


if CONFIG.get("mode") == "snapshot":
    snapshot()
else:
    main()
