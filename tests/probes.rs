//! 2to3 at setup time and compiler probes: old setup.py files that import distutils'
//! 2to3 helpers, and ones that compile a test program to decide what to build. Needs the
//! installed runtime; every fixture is generated here.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn sdist(dir: &Path, name: &str, setup_py: &str) -> PathBuf {
    let top = format!("{name}-1.0");
    write_sdist(
        dir,
        &top,
        Kind::TarGz,
        &[
            file(&format!("{top}/setup.py"), setup_py),
            file(&format!("{top}/{name}/__init__.py"), ""),
        ],
    )
}

fn inspect(path: &Path) -> (i32, Value) {
    inspect_one(&["--no-cache"], path)
}

fn warnings(v: &Value) -> String {
    v["warnings"].to_string()
}

#[test]
fn distutils_2to3_helpers_are_provided_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import sys
from setuptools import setup
if sys.version_info >= (3,):
    from distutils.command.build_py import build_py_2to3 as build_py
    from distutils.util import copydir_run_2to3, run_2to3, Mixin2to3
else:
    from distutils.command.build_py import build_py

class converting_build_py(build_py):
    def run(self):
        build_py.run(self)
        copydir_run_2to3('test', 'test3')

setup(name='old2to3', version='1.0', packages=['old2to3'], use_2to3=True,
      cmdclass={'build_py': converting_build_py}, install_requires=['six'])
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "old2to3", setup));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "1.0", "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["six"]), "{v}");
    let w = warnings(&v);
    assert!(
        w.contains("build_py_2to3") && w.contains("copydir_run_2to3"),
        "{w}"
    );
}

/// psycopg2's pattern: `try: import build_py_2to3 ... except ImportError:` takes the
/// 2to3-free path, as under pip (setuptools' distutils has no build_py_2to3 either).
#[test]
fn a_guarded_2to3_import_takes_the_2to3_free_path() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
try:
    from distutils.command.build_py import build_py_2to3
except ImportError:
    from distutils.command.build_py import build_py
    reqs = ['without-2to3']
else:
    from lib2to3.refactor import get_fixers_from_package
    reqs = ['with-2to3']
setup(name='guarded', version='1.0', install_requires=reqs)
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "guarded", setup));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["without-2to3"]),
        "{v}"
    );
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn a_failed_compiler_probe_takes_the_fallback_path() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
from distutils.core import Distribution
from distutils.ccompiler import new_compiler
config = Distribution().get_command_obj('config')
reqs = ['with-thread-local'] if config.try_compile('__thread int x;') else ['without-thread-local']
reqs += ['with-libm'] if new_compiler().has_function('rand', libraries=['m']) else ['without-libm']
setup(name='probing', version='1.0', install_requires=reqs)
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "probing", setup));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["without-thread-local", "without-libm"]),
        "{v}"
    );
    assert!(!warnings(&v).contains("compiler probes"), "{v}");
}

/// cffi's setup.py exits when even `int x;` does not compile ("No working compiler
/// found"); pip built it on a machine with one. The second run answers the probes yes and
/// the answer says it assumed a compiler.
#[test]
fn a_build_that_stops_on_a_failed_probe_is_run_again_assuming_a_compiler() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import sys
from setuptools import setup, Extension
from distutils.core import Distribution
config = Distribution().get_command_obj('config')
if not config.try_compile('int some_regular_variable_42;'):
    sys.stderr.write('No working compiler found\n')
    sys.exit(1)
setup(name='needscc', version='1.0', install_requires=['pycparser'],
      ext_modules=[Extension('_needscc', ['c/_needscc.c'])])
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "needscc", setup));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["pycparser"]), "{v}");
    let w = warnings(&v);
    assert!(
        w.contains("compiler probes failed (try_compile)") && w.contains("working compiler"),
        "{w}"
    );
}

/// numpy.distutils' Configuration/setup, a "NumPy is not installed" check and
/// numpy.get_include(): the driver's NumPy stand-in gives the answer pip gives, flagged
/// as a stand-in naming numpy, and never kept in the metadata cache.
#[test]
fn numpy_at_setup_time_is_a_flagged_stand_in() {
    let tmp = tempfile::tempdir().unwrap();
    let top = "sci-2.5";
    let setup = r#"
try:
    import numpy
except ImportError:
    raise ImportError('Numerical Python (NumPy) is not installed.')
from numpy.distutils.core import setup, Extension
from numpy.distutils.system_info import get_info

def configuration(parent_package='', top_path=None):
    from numpy.distutils.misc_util import Configuration
    config = Configuration(None, parent_package, top_path)
    config.set_options(ignore_setup_xxx_py=True, quiet=True)
    config.add_subpackage('sci')
    config.add_extension('sci._fast', sources=['sci/_fast.c'],
                         include_dirs=[numpy.get_include()], extra_info=get_info('lapack_opt'))
    config.add_data_files(('sci', 'LICENSE.txt'))
    config.get_version('sci/version.py')
    return config

setup(name='sci', configuration=configuration,
      install_requires=['numpy>=' + '1.8'], python_requires='>=3.5',
      ext_modules=[Extension('sci._other', ['sci/_other.c'], include_dirs=[numpy.get_include()])])
"#;
    let path = write_sdist(
        tmp.path(),
        top,
        Kind::TarGz,
        &[
            file(&format!("{top}/setup.py"), setup),
            file(&format!("{top}/sci/__init__.py"), ""),
            file(&format!("{top}/sci/version.py"), "version = '2.5'\n"),
        ],
    );
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "2.5", "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["numpy>=1.8"]), "{v}");
    assert_eq!(v["requires_python"], ">=3.5", "{v}");
    assert!(warnings(&v).contains("numpy stand-in"), "{v}");
    // Flagged answers are not kept: the second run computes it again.
    let (_, again) = inspect_one(&[], &path);
    assert_eq!(again["cached"], false, "{again}");
    assert_eq!(again["version"], "2.5", "{again}");
}

/// An sdist with setup.py and `pkg/{files}` beside it.
fn sdist_with(dir: &Path, name: &str, setup_py: &str, files: &[(&str, &str)]) -> PathBuf {
    let top = format!("{name}-1.0");
    let mut members = vec![file(&format!("{top}/setup.py"), setup_py)];
    for (path, content) in files {
        members.push(file(&format!("{top}/{path}"), content));
    }
    write_sdist(dir, &top, Kind::TarGz, &members)
}

/// Undeclared Cython at setup time: cythonize() over a glob and an Extension, and
/// Cython.Distutils' build_ext and Extension. The stand-in answers (flagged, never cached)
/// with the module names and .c sources Cython would give.
#[test]
fn undeclared_cython_is_a_flagged_stand_in() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import os
from setuptools import setup
import Cython
from Cython.Build import cythonize
from Cython.Distutils import build_ext, Extension
from setuptools.command.build_ext import build_ext as setuptools_build_ext
assert issubclass(build_ext, setuptools_build_ext)
assert int(Cython.__version__.split('.')[0]) >= 3
exts = cythonize(['cy/*.pyx', Extension('cy.b', ['cy/b.pyx', 'cy/helper.c'], cython_directives={})],
                 exclude=['cy/skip.pyx'])
names = sorted('%s-%s' % (e.name, '+'.join(os.path.basename(s) for s in e.sources)) for e in exts)
setup(name='cy', version='1.0', packages=['cy'], ext_modules=exts, cmdclass={'build_ext': build_ext},
      install_requires=[n.replace('.', '_').replace('+', '_') for n in names])
"#;
    let path = sdist_with(
        tmp.path(),
        "cy",
        setup,
        &[
            ("cy/__init__.py", ""),
            ("cy/a.pyx", ""),
            ("cy/skip.pyx", ""),
            ("cy/b.pyx", ""),
            ("cy/helper.c", ""),
        ],
    );
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["cy_a-a_c", "cy_b-b_c", "cy_b-b_c_helper_c"]),
        "{v}"
    );
    assert!(warnings(&v).contains("cython stand-in"), "{v}");
    let (_, again) = inspect_one(&[], &path);
    assert_eq!(again["cached"], false, "{again}");
}

/// Only what metadata needs: the rest of Cython is missing, and the build fails.
#[test]
fn the_cython_stand_in_does_not_guess() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
import Cython
Cython.inline('return 1')
setup(name='cyx', version='1.0')
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "cyx", setup));
    assert_ne!(code, 0, "{v}");
    assert_eq!(error_kind(&v), Some("setup-failed"), "{v}");
    assert!(v.to_string().contains("inline"), "{v}");
}

/// A guarded Cython import takes the Cython-free path, as under pip without Cython: no
/// stand-in, no flag.
#[test]
fn a_guarded_cython_import_takes_the_cython_free_path() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
try:
    from Cython.Build import cythonize
    have = 'with-cython'
except ImportError:
    have = 'without-cython'
setup(name='cyg', version='1.0', install_requires=[have])
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "cyg", setup));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["without-cython"]),
        "{v}"
    );
    assert!(!warnings(&v).contains("stand-in"), "{v}");
}

/// ctypes and ssl, which the WASI guest lacks: imported by setup.py's code, they are
/// served on a second run like a machine where no native library loads and TLS is not
/// available; flagged, never cached.
#[test]
fn ctypes_and_ssl_are_flagged_stand_ins() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import ctypes, ctypes.util, ssl
from setuptools import setup
def connect(tls: ssl.SSLContext = None):
    pass
found = ctypes.util.find_library('z')
try:
    ctypes.CDLL('libz.so.1')
    loaded = 'loaded'
except OSError:
    loaded = 'not-loaded'
try:
    ssl.create_default_context()
    tls = 'tls'
except ssl.SSLError:
    tls = 'no-tls'
setup(name='nat', version='1.0', install_requires=['found-%s' % (found is not None), loaded, tls])
"#;
    let path = sdist(tmp.path(), "nat", setup);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["found-False", "not-loaded", "no-tls"]),
        "{v}"
    );
    assert!(warnings(&v).contains("ctypes stand-in"), "{v}");
    assert!(warnings(&v).contains("ssl stand-in"), "{v}");
    let (_, again) = inspect_one(&[], &path);
    assert_eq!(again["cached"], false, "{again}");
}

/// No C types in the ctypes stand-in (sizes would be guesses): the build fails.
#[test]
fn the_ctypes_stand_in_has_no_c_types() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import ctypes
from setuptools import setup
bits = ctypes.sizeof(ctypes.c_void_p) * 8
setup(name='ct', version='1.0', install_requires=['bits-%d' % bits])
"#;
    let (code, v) = inspect(&sdist(tmp.path(), "ct", setup));
    assert_ne!(code, 0, "{v}");
    assert_eq!(error_kind(&v), Some("setup-failed"), "{v}");
}

/// The observer still sees native code: the import of ctypes and the attempt to load a
/// library through the stand-in.
#[test]
fn ctypes_through_the_stand_in_is_observed_as_native_code() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import ctypes
from setuptools import setup
try:
    ctypes.CDLL('libevil.so')
except OSError:
    pass
setup(name='ob', version='1.0')
"#;
    let (code, v) = inspect_one(
        &["--no-cache", "--observe"],
        &sdist(tmp.path(), "ob", setup),
    );
    assert_eq!(code, 0, "{v}");
    let events = v["behaviour"]["events"].to_string();
    assert!(events.contains("native-code"), "{v}");
    assert!(events.contains("libevil.so"), "{v}");
}

/// open(name, "U") (removed in Python 3.11): universal newlines, as text mode does.
#[test]
fn open_mode_u_is_accepted_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
version = open('cu/VERSION', 'U').read().strip()
setup(name='cu', version=version, packages=['cu'])
"#;
    let path = sdist_with(
        tmp.path(),
        "cu",
        setup,
        &[("cu/__init__.py", ""), ("cu/VERSION", "1.0\r\n")],
    );
    let (code, v) = inspect(&path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "1.0", "{v}");
    assert!(warnings(&v).contains("mode 'U'"), "{v}");
}
