"""Declares the C extension only; all metadata lives in pyproject.toml.

TTLOG_NO_C=1 skips the C build (the engine then runs on its pure-Python twin);
TTLOG_DEBUG_C=1 builds with asserts on and without optimisation.
"""

import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("TTLOG_NO_C", "") not in ("1", "true", "yes"):
    debug = os.environ.get("TTLOG_DEBUG_C", "") in ("1", "true", "yes")
    ext_modules.append(
        Extension(
            "ttlog._ring",
            sources=["ttlog/_ring.c"],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
            + (["-O0", "-g", "-UNDEBUG"] if debug else ["-O3"]),
        )
    )
    codec = "ttlog/_c/codec/"
    ext_modules.append(
        Extension(
            "ttlog._codec",
            sources=[codec + f for f in ("codec_module.c", "codec_kernels.c", "codec_lz4.c", "codec_xxh32.c")],
            depends=[codec + "codec.h"],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
            + (["-O0", "-g", "-UNDEBUG"] if debug else ["-O3"]),
        )
    )

setup(ext_modules=ext_modules)
