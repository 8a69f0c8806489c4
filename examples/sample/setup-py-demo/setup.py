# A setup.py whose dependencies are computed at build time: static metadata cannot
# answer for it, so sdistill runs it inside the WASI sandbox.
import sys

from setuptools import setup

install_requires = ["requests>=2.31", "packaging"]
if sys.platform == "win32":
    install_requires.append("colorama")

setup(
    name="setup-py-demo",
    version="0.3.1",
    install_requires=install_requires,
    extras_require={"yaml": ["PyYAML>=6"]},
    python_requires=">=3.8",
)
