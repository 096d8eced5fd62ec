/* engine/ttlog/_c/codec/codec_module.c: the module ttlog._codec.
 *
 * LZ4 blocks and frame blocks, xxHash32 (one-shot and the Xxh32 stream), and the typed-array
 * kernels of codec_kernels.c. Twin: engine/ttlog/_codec_py.py (same names, same results; its
 * frame blocks are stored uncompressed, which the frame format allows).
 *
 * Invariants:
 * - Compression, decompression and hashing run without the GIL, on buffers held through the
 *   buffer protocol (so they cannot be resized meanwhile).
 * - Decompression writes at most max_size bytes and raises ValueError for any malformed block.
 */
#include "codec.h"

#define LZ4_MAX_INPUT 0x7E000000 /* the LZ4 block format's largest input */

/* hash table scratch for one compression */
static uint32_t *new_table(int level) {
    int log = level > 0 ? LZ4_HASH_LOG_HIGH : LZ4_HASH_LOG_FAST;
    uint32_t *t = PyMem_RawMalloc(sizeof(uint32_t) << log);
    if (t == NULL) PyErr_NoMemory();
    return t;
}

static int get_level(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t at, int *level) {
    *level = 0;
    if (nargs > at) {
        long v = PyLong_AsLong(args[at]);
        if (v == -1 && PyErr_Occurred()) return -1;
        *level = v > 0 ? 1 : 0;
    }
    return 0;
}

/* compress_block(data, level=0) -> bytes: one independent LZ4 block */
static PyObject *compress_block(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    int level;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "compress_block(data, level=0)");
        return NULL;
    }
    if (get_level(args, nargs, 1, &level) < 0) return NULL;
    Py_buffer in;
    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = NULL;
    uint32_t *table = NULL;
    if (in.len > LZ4_MAX_INPUT) {
        PyErr_SetString(PyExc_ValueError, "compress_block: more than an LZ4 block holds");
        goto done;
    }
    if ((table = new_table(level)) == NULL) goto done;
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)lz4_bound((size_t)in.len))) == NULL) goto done;
    size_t size;
    Py_BEGIN_ALLOW_THREADS
    size = lz4_compress(in.buf, (size_t)in.len, (uint8_t *)PyBytes_AS_STRING(out), table, level);
    Py_END_ALLOW_THREADS
    _PyBytes_Resize(&out, (Py_ssize_t)size);
done:
    PyMem_RawFree(table);
    PyBuffer_Release(&in);
    return out;
}

/* decompress_block(data, max_size, prefix=b"") -> bytes */
static PyObject *decompress_block(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "decompress_block(data, max_size, prefix=b'')");
        return NULL;
    }
    Py_ssize_t cap = PyLong_AsSsize_t(args[1]);
    if (cap == -1 && PyErr_Occurred()) return NULL;
    if (cap < 0 || cap > LZ4_MAX_INPUT) {
        PyErr_SetString(PyExc_ValueError, "decompress_block: max_size out of range");
        return NULL;
    }
    Py_buffer in, pre = {0};
    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0) return NULL;
    int have_prefix = nargs == 3;
    if (have_prefix && PyObject_GetBuffer(args[2], &pre, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    size_t plen = have_prefix ? (size_t)pre.len : 0;
    if (plen > 65536) plen = 65536; /* a match reaches back 65535 bytes at most */
    PyObject *out = NULL;
    uint8_t *work = PyMem_RawMalloc(plen + (size_t)cap + 1);
    if (work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (plen) memcpy(work, (const uint8_t *)pre.buf + pre.len - plen, plen);
    Py_ssize_t size;
    Py_BEGIN_ALLOW_THREADS
    size = lz4_decompress(in.buf, (size_t)in.len, work + plen, (size_t)cap, plen);
    Py_END_ALLOW_THREADS
    if (size < 0)
        PyErr_SetString(PyExc_ValueError, "not a valid LZ4 block (or it holds more than max_size bytes)");
    else
        out = PyBytes_FromStringAndSize((const char *)work + plen, size);
done:
    PyMem_RawFree(work);
    PyBuffer_Release(&in);
    if (have_prefix) PyBuffer_Release(&pre);
    return out;
}

/* the bytes of `obj`, a bytes-like object or a list of them (joined into a copy, without the
 * GIL); *owned is set when the caller must PyMem_RawFree(*data) */
typedef struct {
    const uint8_t *data;
    size_t size;
    uint8_t *owned;
    Py_buffer one;
    Py_buffer *views;
    Py_ssize_t nviews;
} input_t;

static void input_release(input_t *in) {
    if (in->views != NULL) {
        for (Py_ssize_t i = 0; i < in->nviews; i++) PyBuffer_Release(&in->views[i]);
        PyMem_Free(in->views);
    } else if (in->one.obj != NULL) {
        PyBuffer_Release(&in->one);
    }
    PyMem_RawFree(in->owned);
}

static int input_get(PyObject *obj, input_t *in) {
    memset(in, 0, sizeof *in);
    if (!PyList_Check(obj)) {
        if (PyObject_GetBuffer(obj, &in->one, PyBUF_SIMPLE) < 0) return -1;
        in->data = in->one.buf;
        in->size = (size_t)in->one.len;
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(obj);
    if ((in->views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (; in->nviews < n; in->nviews++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(obj, in->nviews), &in->views[in->nviews], PyBUF_SIMPLE) < 0) {
            input_release(in);
            return -1;
        }
        in->size += (size_t)in->views[in->nviews].len;
    }
    if ((in->owned = PyMem_RawMalloc(in->size ? in->size : 1)) == NULL) {
        input_release(in);
        PyErr_NoMemory();
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
    size_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(in->owned + at, in->views[i].buf, (size_t)in->views[i].len);
        at += (size_t)in->views[i].len;
    }
    Py_END_ALLOW_THREADS
    in->data = in->owned;
    return 0;
}

/* frame_blocks(data, level=0, block_max=4 MiB) -> bytes: data (bytes-like, or a list of
 * bytes-like parts taken as one) as LZ4 frame blocks, each at most block_max bytes of content:
 * a 4-byte size (high bit: stored uncompressed, as it is when compression would not make it
 * smaller), the block, its xxHash32. */
static PyObject *frame_blocks(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    int level;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "frame_blocks(data, level=0, block_max=4194304)");
        return NULL;
    }
    if (get_level(args, nargs, 1, &level) < 0) return NULL;
    Py_ssize_t block_max = LZ4_BLOCK_MAX;
    if (nargs > 2 && ((block_max = PyLong_AsSsize_t(args[2])) == -1 && PyErr_Occurred())) return NULL;
    if (block_max < 1 || block_max > (Py_ssize_t)LZ4_BLOCK_MAX) {
        PyErr_SetString(PyExc_ValueError, "frame_blocks: block_max must be from 1 to 4 MiB");
        return NULL;
    }
    input_t in;
    if (input_get(args[0], &in) < 0) return NULL;
    size_t n = in.size, bm = (size_t)block_max;
    size_t bound = n / bm * (8 + lz4_bound(bm)) + (n % bm ? 8 + lz4_bound(n % bm) : 0);
    PyObject *out = NULL;
    uint32_t *table = new_table(level);
    if (table == NULL || (out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound)) == NULL) goto done;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out), *op = o;
    const uint8_t *p = in.data;
    Py_BEGIN_ALLOW_THREADS
    for (size_t at = 0; at < n; at += bm) {
        size_t len = n - at < bm ? n - at : bm;
        size_t size = lz4_compress(p + at, len, op + 4, table, level);
        if (size >= len) { /* no gain: stored as it is */
            memcpy(op + 4, p + at, len);
            size = len;
            st32(op, (uint32_t)len | 0x80000000u);
        } else {
            st32(op, (uint32_t)size);
        }
        st32(op + 4 + size, xxh32(op + 4, size, 0));
        op += 8 + size;
    }
    Py_END_ALLOW_THREADS
    _PyBytes_Resize(&out, (Py_ssize_t)(op - o));
done:
    PyMem_RawFree(table);
    input_release(&in);
    return out;
}

/* xxh32(data, seed=0) -> int */
static PyObject *py_xxh32(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "xxh32(data, seed=0)");
        return NULL;
    }
    unsigned long seed = 0;
    if (nargs == 2 && ((seed = PyLong_AsUnsignedLongMask(args[1])) == (unsigned long)-1 && PyErr_Occurred()))
        return NULL;
    Py_buffer in;
    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t h;
    Py_BEGIN_ALLOW_THREADS
    h = xxh32(in.buf, (size_t)in.len, (uint32_t)seed);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    return PyLong_FromUnsignedLong(h);
}

/* ---- Xxh32: the streaming hash ----------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    xxh32_state state;
} Xxh32Object;

static PyObject *Xxh32_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"seed", NULL};
    unsigned long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|k", kwlist, &seed)) return NULL;
    Xxh32Object *self = (Xxh32Object *)type->tp_alloc(type, 0);
    if (self != NULL) xxh32_init(&self->state, (uint32_t)seed);
    return (PyObject *)self;
}

static void Xxh32_dealloc(Xxh32Object *self) {
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* Xxh32.update(data) */
static PyObject *Xxh32_update(Xxh32Object *self, PyObject *data) {
    Py_buffer in;
    if (PyObject_GetBuffer(data, &in, PyBUF_SIMPLE) < 0) return NULL;
    if (in.len >= 65536) { /* the object is used by one thread at a time (the frame writer's) */
        Py_BEGIN_ALLOW_THREADS
        xxh32_update(&self->state, in.buf, (size_t)in.len);
        Py_END_ALLOW_THREADS
    } else {
        xxh32_update(&self->state, in.buf, (size_t)in.len);
    }
    PyBuffer_Release(&in);
    Py_RETURN_NONE;
}

/* Xxh32.digest() -> int */
static PyObject *Xxh32_digest(Xxh32Object *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromUnsignedLong(xxh32_digest(&self->state));
}

static PyMethodDef Xxh32_methods[] = {
    {"update", (PyCFunction)Xxh32_update, METH_O, "update(data)\n--\n\nHash data after what came before."},
    {"digest", (PyCFunction)Xxh32_digest, METH_NOARGS, "digest() -> int\n--\n\nThe hash of everything so far."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Xxh32_slots[] = {
    {Py_tp_new, Xxh32_new},
    {Py_tp_dealloc, Xxh32_dealloc},
    {Py_tp_methods, Xxh32_methods},
    {Py_tp_doc, "Xxh32(seed=0)\n--\n\nxxHash32 of a stream: update(data) ..., digest()."},
    {0, NULL},
};

static PyType_Spec Xxh32_spec = {
    .name = "ttlog._codec.Xxh32",
    .basicsize = sizeof(Xxh32Object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Xxh32_slots,
};

/* ---- module ----------------------------------------------------------------------------------- */

static PyMethodDef lz4_methods[] = {
    {"compress_block", (PyCFunction)(void (*)(void))compress_block, METH_FASTCALL,
     "compress_block(data, level=0) -> bytes\n\nOne independent LZ4 block of data (level 0: fast; "
     "level >= 1: a larger table and no skipping, smaller and slower)."},
    {"decompress_block", (PyCFunction)(void (*)(void))decompress_block, METH_FASTCALL,
     "decompress_block(data, max_size, prefix=b'') -> bytes\n\nThe content of one LZ4 block of at most "
     "max_size bytes; prefix: what came before it, for a linked block. ValueError if malformed."},
    {"frame_blocks", (PyCFunction)(void (*)(void))frame_blocks, METH_FASTCALL,
     "frame_blocks(data, level=0, block_max=4194304) -> bytes\n\ndata (bytes-like, or a list of parts "
     "taken as one) as independent LZ4 frame blocks with block checksums."},
    {"xxh32", (PyCFunction)(void (*)(void))py_xxh32, METH_FASTCALL, "xxh32(data, seed=0) -> int"},
    {NULL, NULL, 0, NULL},
};

static int add_methods(PyObject *m, PyMethodDef *defs) {
    PyObject *name = PyModule_GetNameObject(m);
    if (name == NULL) return -1;
    for (PyMethodDef *d = defs; d->ml_name != NULL; d++) {
        PyObject *f = PyCFunction_NewEx(d, m, name);
        if (f == NULL || PyModule_AddObject(m, d->ml_name, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(name);
            return -1;
        }
    }
    Py_DECREF(name);
    return 0;
}

static int module_exec(PyObject *m) {
    PyObject *t = PyType_FromModuleAndSpec(m, &Xxh32_spec, NULL);
    if (t == NULL || PyModule_AddType(m, (PyTypeObject *)t) < 0) {
        Py_XDECREF(t);
        return -1;
    }
    Py_DECREF(t);
    if (add_methods(m, codec_kernel_methods) < 0) return -1;
    if (PyModule_AddIntConstant(m, "BLOCK_MAX", LZ4_BLOCK_MAX) < 0) return -1;
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static PyModuleDef codec_moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ttlog._codec",
    .m_doc = "The C half of the snapshot writer: LZ4 blocks and frame blocks, xxHash32, and typed-array "
             "kernels; the twin of ttlog._codec_py, result for result.",
    .m_size = 0,
    .m_methods = lz4_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__codec(void) { return PyModuleDef_Init(&codec_moduledef); }
