"""Declares the C extensions only; all metadata lives in pyproject.toml.

TTLOG_NO_C=1 skips the C build (the engine then runs on its pure-Python twin);
TTLOG_DEBUG_C=1 builds with asserts on and without optimisation (CI runs the twin-identity tests
against such a build too; what users get is the optimised one).
"""

import os

from setuptools import Extension, setup

DEBUG = os.environ.get("TTLOG_DEBUG_C", "") in ("1", "true", "yes")
COMPILE_ARGS = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"] + (
    ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3"]
)


def extension(name: str, sources: list[str], headers: list[str]) -> Extension:
    return Extension(name, sources=sources, depends=headers, extra_compile_args=COMPILE_ARGS)


ext_modules = []
if os.environ.get("TTLOG_NO_C", "") not in ("1", "true", "yes"):
    ext_modules = [
        # the ring writer (Ring, Logger) and the batch decoder
        extension(
            "ttlog._ring",
            [f"ttlog/_c/{name}.c" for name in ("module", "writer", "logger", "decoder")],
            [f"ttlog/_c/{name}.h" for name in ("format", "util", "hashtab", "module", "writer")],
        ),
        # the snapshot codec's kernels: LZ4 blocks and frames, xxHash32, typed-array kernels
        extension(
            "ttlog._codec",
            [f"ttlog/_c/codec/{name}.c"
             for name in ("codec_module", "codec_kernels", "codec_lz4", "codec_xxh32")],
            ["ttlog/_c/codec/codec.h"],
        ),
    ]

setup(ext_modules=ext_modules)
