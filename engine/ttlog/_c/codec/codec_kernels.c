/* engine/ttlog/_c/codec/codec_kernels.c: typed-array kernels of the snapshot writer.
 *
 * The writer (engine/ttlog/codec.py) keeps events as little-endian typed arrays in bytes-like
 * objects (docs/FORMAT.md, "Decoded batches"; engine/ttlog/events.py) and runs these over
 * them: narrowing integers to RFC 8746 typed arrays, decimal scaling of floats, string id
 * remapping, distinct values, merging by time. Each is the twin of the function of the same
 * name in engine/ttlog/_codec_py.py: same arguments, same result, byte for byte.
 *
 * Invariants:
 * - No kernel reads or writes outside the buffers it is given; a length that is not a whole
 *   number of elements, an id or row out of range raises ValueError, never a crash.
 * - Long loops run without the GIL (the snapshot's compression thread runs meanwhile); every
 *   buffer is held through the Python buffer protocol for that time, so none can be resized.
 * - Allocation is bounded by the sizes of the arguments, never by a value inside them.
 */
#include "codec.h"

#include <float.h>
#include <math.h>

#define TAG_U8 64
#define TAG_U16 69
#define TAG_U32 70
#define TAG_U64 71
#define TAG_I8 72
#define TAG_I16 77
#define TAG_I32 78
#define TAG_I64 79
#define UNMAPPED 0xFFFFFFFFu
#define NOGIL_FROM 16384 /* elements: below this, releasing the GIL costs more than it saves */

/* ---- arguments ------------------------------------------------------------------------------ */

typedef struct {
    char code;   /* struct/array type code: B H I b h i q d */
    int size;    /* bytes per element */
    int is_signed;
} elem_t;

static int parse_code(PyObject *obj, elem_t *e) {
    const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : NULL;
    if (s == NULL || strlen(s) != 1) {
        PyErr_SetString(PyExc_ValueError, "a type code is one of B H I b h i q d");
        return -1;
    }
    e->code = s[0];
    switch (s[0]) {
    case 'B': e->size = 1, e->is_signed = 0; return 0;
    case 'H': e->size = 2, e->is_signed = 0; return 0;
    case 'I': e->size = 4, e->is_signed = 0; return 0;
    case 'b': e->size = 1, e->is_signed = 1; return 0;
    case 'h': e->size = 2, e->is_signed = 1; return 0;
    case 'i': e->size = 4, e->is_signed = 1; return 0;
    case 'q': e->size = 8, e->is_signed = 1; return 0;
    case 'd': e->size = 8, e->is_signed = 1; return 0;
    }
    PyErr_SetString(PyExc_ValueError, "a type code is one of B H I b h i q d");
    return -1;
}

/* a contiguous buffer of whole elements of `size` bytes; its element count in *count */
static int get_array(PyObject *obj, Py_buffer *view, int size, Py_ssize_t *count, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    if (view->len % size) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %d-byte values", what,
                     view->len, size);
        PyBuffer_Release(view);
        return -1;
    }
    *count = view->len / size;
    return 0;
}

static PyObject *new_bytes(Py_ssize_t size, uint8_t **data) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, size);
    if (b != NULL) *data = (uint8_t *)PyBytes_AS_STRING(b);
    return b;
}

/* ---- pack_ints ------------------------------------------------------------------------------ */

/* the narrowest RFC 8746 integer tag holding [lo, hi], and its width */
static int narrow(int64_t lo, int64_t hi, int *width) {
    if (lo >= 0) {
        if (hi <= 0xFF) return *width = 1, TAG_U8;
        if (hi <= 0xFFFF) return *width = 2, TAG_U16;
        if (hi <= 0xFFFFFFFFLL) return *width = 4, TAG_U32;
        return *width = 8, TAG_U64;
    }
    if (lo >= -128 && hi < 128) return *width = 1, TAG_I8;
    if (lo >= -32768 && hi < 32768) return *width = 2, TAG_I16;
    if (lo >= -2147483648LL && hi < 2147483648LL) return *width = 4, TAG_I32;
    return *width = 8, TAG_I64;
}

/* Element loads by type code, as int64. */
#define LD_B(p, i) ((int64_t)(p)[i])
#define LD_H(p, i) ((int64_t)ld16((p) + 2 * (i)))
#define LD_I(p, i) ((int64_t)ld32((p) + 4 * (i)))
#define LD_b(p, i) ((int64_t)(int8_t)(p)[i])
#define LD_h(p, i) ((int64_t)(int16_t)ld16((p) + 2 * (i)))
#define LD_i(p, i) ((int64_t)(int32_t)ld32((p) + 4 * (i)))
#define LD_q(p, i) ((int64_t)ld64((p) + 8 * (i)))

/* BODY for each value v: the element, or (deltas) its difference from the one before (the
 * first from `first`), in wrapping 64-bit arithmetic. One copy of the loop per element type,
 * so no branch per element. */
#define EACH_VALUE(LD, BODY)                                                                          \
    do {                                                                                              \
        if (deltas) {                                                                                 \
            if (n) {                                                                                  \
                Py_ssize_t i = 0;                                                                     \
                int64_t v = (int64_t)((uint64_t)LD(p, 0) - (uint64_t)first);                          \
                (void)i;                                                                              \
                BODY;                                                                                 \
            }                                                                                         \
            for (Py_ssize_t i = 1; i < n; i++) { /* no carried dependency: vectorisable */            \
                int64_t v = (int64_t)((uint64_t)LD(p, i) - (uint64_t)LD(p, i - 1));                   \
                BODY;                                                                                 \
            }                                                                                         \
        } else {                                                                                      \
            for (Py_ssize_t i = 0; i < n; i++) {                                                      \
                int64_t v = LD(p, i);                                                                 \
                BODY;                                                                                 \
            }                                                                                         \
        }                                                                                             \
    } while (0)

#define BY_CODE(code, MACRO)                                                                          \
    switch (code) {                                                                                   \
    case 'B': MACRO(LD_B); break;                                                                     \
    case 'H': MACRO(LD_H); break;                                                                     \
    case 'I': MACRO(LD_I); break;                                                                     \
    case 'b': MACRO(LD_b); break;                                                                     \
    case 'h': MACRO(LD_h); break;                                                                     \
    case 'i': MACRO(LD_i); break;                                                                     \
    default: MACRO(LD_q); break;                                                                      \
    }

/* Hot loops get a copy for AVX2 too, picked at load time (GCC and clang on x86-64). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HOT __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef HOT
#define HOT
#endif

/* the least and greatest value */
HOT static void value_range(char code, const uint8_t *p, Py_ssize_t n, int deltas, int64_t first, int64_t *lo_out,
                        int64_t *hi_out) {
    int64_t lo = INT64_MAX, hi = INT64_MIN;
#define RANGE(LD) EACH_VALUE(LD, { lo = v < lo ? v : lo; hi = v > hi ? v : hi; })
    BY_CODE(code, RANGE)
#undef RANGE
    *lo_out = lo, *hi_out = hi;
}

/* every value in `width` bytes (its low bytes) */
HOT static void store_values(char code, const uint8_t *p, Py_ssize_t n, int deltas, int64_t first, uint8_t *o,
                         int width) {
#define STORE(LD)                                                                                     \
    switch (width) {                                                                                  \
    case 1: EACH_VALUE(LD, o[i] = (uint8_t)v); break;                                                 \
    case 2: EACH_VALUE(LD, st16(o + 2 * i, (uint16_t)v)); break;                                      \
    case 4: EACH_VALUE(LD, st32(o + 4 * i, (uint32_t)v)); break;                                      \
    default: EACH_VALUE(LD, st64(o + 8 * i, (uint64_t)v)); break;                                     \
    }
    BY_CODE(code, STORE)
#undef STORE
}

/* every value split: its low 16 bits, and value >> 16 (arithmetic shift) in `hi_width` bytes */
HOT static void store_split(char code, const uint8_t *p, Py_ssize_t n, int deltas, int64_t first, uint8_t *o,
                        uint8_t *h, int hi_width) {
#define SPLIT(LD)                                                                                     \
    switch (hi_width) {                                                                               \
    case 1: EACH_VALUE(LD, { st16(o + 2 * i, (uint16_t)v); h[i] = (uint8_t)(v >> 16); }); break;      \
    case 2: EACH_VALUE(LD, { st16(o + 2 * i, (uint16_t)v); st16(h + 2 * i, (uint16_t)(v >> 16)); });  \
        break;                                                                                        \
    case 4: EACH_VALUE(LD, { st16(o + 2 * i, (uint16_t)v); st32(h + 4 * i, (uint32_t)(v >> 16)); });  \
        break;                                                                                        \
    default: EACH_VALUE(LD, { st16(o + 2 * i, (uint16_t)v); st64(h + 8 * i, (uint64_t)(v >> 16)); }); \
        break;                                                                                        \
    }
    BY_CODE(code, SPLIT)
#undef SPLIT
}

/* pack_ints(buf, code, delta_from=None) -> (tag, data, hi_tag, hi_data) */
static PyObject *k_pack_ints(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "pack_ints(buf, code, delta_from=None)");
        return NULL;
    }
    elem_t e;
    if (parse_code(args[1], &e) < 0) return NULL;
    if (e.code == 'd') {
        PyErr_SetString(PyExc_ValueError, "pack_ints takes integers");
        return NULL;
    }
    int deltas = nargs == 3 && args[2] != Py_None;
    int64_t first = 0;
    if (deltas) {
        int overflow = 0;
        long long f = PyLong_AsLongLongAndOverflow(args[2], &overflow);
        if (f == -1 && PyErr_Occurred()) return NULL;
        if (overflow) {
            PyErr_SetString(PyExc_ValueError, "delta_from is not a 64-bit integer");
            return NULL;
        }
        first = (int64_t)f;
    }
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(args[0], &view, e.size, &n, "pack_ints") < 0) return NULL;
    const uint8_t *p = view.buf;
    PyObject *lo_b = NULL, *hi_b = NULL, *result = NULL;
    if (n == 0) {
        PyBuffer_Release(&view);
        return Py_BuildValue("(iy#iO)", TAG_U8, "", (Py_ssize_t)0, 0, Py_None);
    }
    int64_t lo, hi;
    Py_BEGIN_ALLOW_THREADS
    value_range(e.code, p, n, deltas, first, &lo, &hi);
    Py_END_ALLOW_THREADS
    int width, tag = narrow(lo, hi, &width);
    int split = tag == TAG_U32 || tag == TAG_I32 ||
                ((tag == TAG_U64 || tag == TAG_I64) && lo >= -(1LL << 47) && hi < (1LL << 48));
    uint8_t *lo_d, *hi_d = NULL;
    int hi_width = 0, hi_tag = 0;
    if (split) {
        hi_tag = narrow(lo >> 16, hi >> 16, &hi_width); /* 8 bytes when [lo, hi] spans 2**47 either side */
        lo_b = new_bytes(n * 2, &lo_d);
        hi_b = new_bytes(n * hi_width, &hi_d);
        if (lo_b == NULL || hi_b == NULL) goto done;
        Py_BEGIN_ALLOW_THREADS
        store_split(e.code, p, n, deltas, first, lo_d, hi_d, hi_width);
        Py_END_ALLOW_THREADS
        result = Py_BuildValue("(iOiO)", TAG_U16, lo_b, hi_tag, hi_b);
    } else {
        lo_b = new_bytes(n * width, &lo_d);
        if (lo_b == NULL) goto done;
        Py_BEGIN_ALLOW_THREADS
        if (!deltas && width == e.size)
            memcpy(lo_d, p, (size_t)n * width);
        else
            store_values(e.code, p, n, deltas, first, lo_d, width);
        Py_END_ALLOW_THREADS
        result = Py_BuildValue("(iOiO)", tag, lo_b, 0, Py_None);
    }
done:
    Py_XDECREF(lo_b);
    Py_XDECREF(hi_b);
    PyBuffer_Release(&view);
    return result;
}

/* ---- float_scale ---------------------------------------------------------------------------- */

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define LIMIT53 9007199254740992.0 /* 2**53 */

/* rint (round half to even) of x; for |x| < 2**51 without a library call: the sum with
 * 1.5 * 2**52 has no fraction bits left, so the addition itself rounds. (A zero may come out
 * with the other sign than rint's; callers use only the integer value.) */
static inline double round_even(double x) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0 /* doubles computed as doubles (no x87 excess) */
    if (fabs(x) < 0x1p51) return (x + 0x1.8p52) - 0x1.8p52;
#endif
    return rint(x);
}

static inline int same_bits(double a, double b) {
    uint64_t x, y;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    return x == y;
}

/* 1: every v[i] == rint(v[i] * p) / p bit for bit, k written; 0: not; -1: some k out of range.
 * A value equal to the one before (prices repeat) reuses its k. */
static int scale_pass(const uint8_t *p, Py_ssize_t n, double pw, uint8_t *k_out) {
    int equal = 1;
    uint64_t last = 0;
    int64_t last_k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t bits = ld64(p + 8 * i);
        if (i && bits == last) {
            st64(k_out + 8 * i, (uint64_t)last_k);
            continue;
        }
        double v, k;
        memcpy(&v, &bits, 8);
        k = round_even(v * pw);
        if (!(k > -LIMIT53 && k < LIMIT53)) return -1; /* also an infinity or a NaN */
        int64_t ki = (int64_t)k;
        if (equal && !same_bits((double)ki / pw, v)) equal = 0;
        st64(k_out + 8 * i, (uint64_t)ki);
        last = bits, last_k = ki;
    }
    return equal;
}

/* float_scale(buf, max_scale) -> (scale, k as int64 bytes) or None */
static PyObject *k_float_scale(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "float_scale(buf, max_scale)");
        return NULL;
    }
    long max_scale = PyLong_AsLong(args[1]);
    if (max_scale == -1 && PyErr_Occurred()) return NULL;
    if (max_scale < 0 || max_scale > 22) {
        PyErr_SetString(PyExc_ValueError, "max_scale must be from 0 to 22");
        return NULL;
    }
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(args[0], &view, 8, &n, "float_scale") < 0) return NULL;
    const uint8_t *p = view.buf;
    Py_ssize_t m = n < 64 ? n : 64; /* a sample first: most columns fail there, cheaply */
    PyObject *k_b = NULL, *result = NULL;
    int found = -1;
    for (Py_ssize_t i = 0; i < m; i++) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        if (!isfinite(v)) m = 0;
    }
    if (n == 0 || m == 0) goto none;
    uint8_t *k_d;
    if ((k_b = new_bytes(n * 8, &k_d)) == NULL) goto done;
    for (long scale = 0; scale <= max_scale; scale++) {
        double pw = POW10[scale];
        int ok = 1, big = 0;
        for (Py_ssize_t i = 0; i < m; i++) {
            double v, k;
            memcpy(&v, p + 8 * i, 8);
            k = round_even(v * pw);
            if (fabs(k) >= LIMIT53) big = 1;
        }
        if (big) break;
        for (Py_ssize_t i = 0; i < m && ok; i++) {
            double v, k;
            memcpy(&v, p + 8 * i, 8);
            k = round_even(v * pw);
            ok = same_bits((double)(int64_t)k / pw, v);
        }
        if (!ok) continue;
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = scale_pass(p, n, pw, k_d);
        Py_END_ALLOW_THREADS
        if (r < 0) break;
        if (r) {
            found = (int)scale;
            break;
        }
    }
    if (found >= 0) {
        result = Py_BuildValue("(iO)", found, k_b);
        goto done;
    }
none:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(k_b);
    PyBuffer_Release(&view);
    return result;
}

/* ---- remap_u32 ------------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* remap_u32(ids, lut, extra_keys=None, extra_vals=None) -> (bytearray, missing) */
static PyObject *k_remap_u32(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "remap_u32(ids, lut, extra_keys=None, extra_vals=None)");
        return NULL;
    }
    Py_buffer ids_v, lut_v, ek_v = {0}, ev_v = {0};
    Py_ssize_t n, nl, ne = 0, nev = 0;
    PyObject *out = NULL, *missing = NULL, *result = NULL;
    uint32_t *miss = NULL;
    if (get_array(args[0], &ids_v, 4, &n, "remap_u32 ids") < 0) return NULL;
    if (get_array(args[1], &lut_v, 4, &nl, "remap_u32 lut") < 0) {
        PyBuffer_Release(&ids_v);
        return NULL;
    }
    int extra = nargs == 4 && args[2] != Py_None;
    if (extra) {
        if (get_array(args[2], &ek_v, 4, &ne, "remap_u32 extra_keys") < 0) goto fail;
        if (get_array(args[3], &ev_v, 4, &nev, "remap_u32 extra_vals") < 0) {
            PyBuffer_Release(&ek_v);
            extra = 0;
            goto fail;
        }
        if (ne != nev) {
            PyErr_SetString(PyExc_ValueError, "remap_u32: extra keys and values differ in length");
            goto fail;
        }
    }
    if ((out = PyByteArray_FromStringAndSize(NULL, n * 4)) == NULL) goto fail;
    const uint8_t *ids = ids_v.buf, *lut = lut_v.buf, *ek = ek_v.buf, *ev = ev_v.buf;
    uint8_t *o = (uint8_t *)PyByteArray_AS_STRING(out);
    Py_ssize_t nmiss = 0;
    uint32_t last_id = 0, last_sid = UNMAPPED;
    int have_last = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t id = ld32(ids + 4 * i), sid;
        if (have_last && id == last_id) { /* runs of one id (a logger, a message) are the rule */
            sid = last_sid;
        } else {
            sid = (Py_ssize_t)id < nl ? ld32(lut + 4 * (size_t)id) : UNMAPPED;
            if (sid == UNMAPPED && ne) { /* binary search of the extra keys */
                Py_ssize_t a = 0, b = ne;
                while (a < b) {
                    Py_ssize_t mid = (a + b) / 2;
                    if (ld32(ek + 4 * mid) < id) a = mid + 1;
                    else b = mid;
                }
                if (a < ne && ld32(ek + 4 * a) == id) sid = ld32(ev + 4 * a);
            }
            last_id = id, last_sid = sid, have_last = 1;
        }
        if (sid == UNMAPPED) nmiss++;
        st32(o + 4 * i, sid);
    }
    Py_END_ALLOW_THREADS
    if (nmiss) { /* the distinct missing ids, ascending */
        if ((miss = PyMem_Malloc((size_t)nmiss * 4)) == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < n; i++) /* runs of one id count once */
            if (ld32(o + 4 * i) == UNMAPPED && (k == 0 || miss[k - 1] != ld32(ids + 4 * i)))
                miss[k++] = ld32(ids + 4 * i);
        qsort(miss, (size_t)k, 4, cmp_u32);
        if ((missing = PyList_New(0)) == NULL) goto fail;
        for (Py_ssize_t i = 0; i < k; i++) {
            if (i && miss[i] == miss[i - 1]) continue;
            PyObject *v = PyLong_FromUnsignedLong(miss[i]);
            if (v == NULL || PyList_Append(missing, v) < 0) {
                Py_XDECREF(v);
                goto fail;
            }
            Py_DECREF(v);
        }
    } else if ((missing = PyList_New(0)) == NULL) {
        goto fail;
    }
    result = PyTuple_Pack(2, out, missing);
fail:
    PyMem_Free(miss);
    Py_XDECREF(out);
    Py_XDECREF(missing);
    if (extra) {
        PyBuffer_Release(&ek_v);
        PyBuffer_Release(&ev_v);
    }
    PyBuffer_Release(&ids_v);
    PyBuffer_Release(&lut_v);
    return result;
}

/* ---- distinct ------------------------------------------------------------------------------- */

/* distinct(buf, code, limit) -> ascending list of the distinct values, or None past limit */
static PyObject *k_distinct(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "distinct(buf, code, limit)");
        return NULL;
    }
    elem_t e;
    if (parse_code(args[1], &e) < 0) return NULL;
    if (e.code != 'B' && e.code != 'I') {
        PyErr_SetString(PyExc_ValueError, "distinct takes B or I arrays");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (limit < 0 || limit > 4096) {
        PyErr_SetString(PyExc_ValueError, "distinct: limit must be from 0 to 4096");
        return NULL;
    }
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(args[0], &view, e.size, &n, "distinct") < 0) return NULL;
    const uint8_t *p = view.buf;
    uint32_t seen[4097];
    Py_ssize_t count = 0;
    int over = 0;
    if (e.code == 'B') {
        uint8_t present[256] = {0};
        for (Py_ssize_t i = 0; i < n; i++) present[p[i]] = 1;
        for (int v = 0; v < 256; v++)
            if (present[v]) {
                if (count == limit) {
                    over = 1;
                    break;
                }
                seen[count++] = (uint32_t)v;
            }
    } else {
        uint32_t last = 0;
        int have = 0;
        for (Py_ssize_t i = 0; i < n && !over; i++) {
            uint32_t v = ld32(p + 4 * i);
            if (have && v == last) continue;
            have = 1, last = v;
            Py_ssize_t a = 0, b = count; /* seen[] stays sorted */
            while (a < b) {
                Py_ssize_t mid = (a + b) / 2;
                if (seen[mid] < v) a = mid + 1;
                else b = mid;
            }
            if (a < count && seen[a] == v) continue;
            if (count == limit) {
                over = 1;
                break;
            }
            memmove(seen + a + 1, seen + a, (size_t)(count - a) * 4);
            seen[a] = v;
            count++;
        }
    }
    PyBuffer_Release(&view);
    if (over) Py_RETURN_NONE;
    PyObject *list = PyList_New(count);
    if (list == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *v = PyLong_FromUnsignedLong(seen[i]);
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* ---- mark_u32, lut_from_mask ---------------------------------------------------------------- */

/* mark_u32(mask, ids): mask[id] = 1 for every id */
static PyObject *k_mark_u32(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "mark_u32(mask, ids)");
        return NULL;
    }
    Py_buffer mask_v, ids_v;
    Py_ssize_t n;
    if (PyObject_GetBuffer(args[0], &mask_v, PyBUF_WRITABLE) < 0) return NULL;
    if (get_array(args[1], &ids_v, 4, &n, "mark_u32 ids") < 0) {
        PyBuffer_Release(&mask_v);
        return NULL;
    }
    uint8_t *mask = mask_v.buf;
    const uint8_t *ids = ids_v.buf;
    Py_ssize_t size = mask_v.len, bad = -1;
    uint32_t last = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t id = ld32(ids + 4 * i);
        if (i && id == last) continue; /* runs of one id (a logger) are the rule */
        if ((Py_ssize_t)id >= size) {
            bad = i;
            break;
        }
        mask[id] = 1;
        last = id;
    }
    PyBuffer_Release(&mask_v);
    PyBuffer_Release(&ids_v);
    if (bad >= 0) {
        PyErr_SetString(PyExc_ValueError, "mark_u32: an id past the end of the mask");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* lut_from_mask(mask) -> uint32 bytes: the rank of each marked slot, UNMAPPED elsewhere */
static PyObject *k_lut_from_mask(PyObject *mod, PyObject *mask_obj) {
    Py_buffer v;
    if (PyObject_GetBuffer(mask_obj, &v, PyBUF_SIMPLE) < 0) return NULL;
    uint8_t *o;
    PyObject *out = new_bytes(v.len * 4, &o);
    if (out != NULL) {
        const uint8_t *m = v.buf;
        uint32_t next = 0;
        for (Py_ssize_t i = 0; i < v.len; i++) st32(o + 4 * i, m[i] ? next++ : UNMAPPED);
    }
    PyBuffer_Release(&v);
    return out;
}

/* ---- join_text ------------------------------------------------------------------------------ */

/* join_text(codes, pool) -> UTF-8 of the pool's texts joined by U+0000, or None when a text
 * holds U+0000 itself */
static PyObject *k_join_text(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "join_text(codes, pool: list)");
        return NULL;
    }
    PyObject *pool = args[1];
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(args[0], &view, 4, &n, "join_text codes") < 0) return NULL;
    const uint8_t *codes = view.buf;
    Py_ssize_t np = PyList_GET_SIZE(pool), total = n ? n - 1 : 0;
    PyObject *result = NULL;
    for (int pass = 0; pass < 2; pass++) { /* 1: the size; 2: the bytes */
        uint8_t *o = NULL;
        if (pass) {
            if ((result = new_bytes(total, &o)) == NULL) goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t c = ld32(codes + 4 * i);
            if ((Py_ssize_t)c >= np) {
                PyErr_SetString(PyExc_ValueError, "join_text: a code past the end of the pool");
                Py_CLEAR(result);
                goto done;
            }
            PyObject *s = PyList_GET_ITEM(pool, c);
            Py_ssize_t len;
            const char *u = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &len) : NULL;
            if (u == NULL) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "join_text: the pool holds a non-text");
                Py_CLEAR(result);
                goto done;
            }
            if (!pass) {
                if (memchr(u, 0, (size_t)len) != NULL) {
                    result = Py_NewRef(Py_None);
                    goto done;
                }
                total += len;
            } else {
                if (i) *o++ = 0;
                memcpy(o, u, (size_t)len);
                o += len;
            }
        }
    }
done:
    PyBuffer_Release(&view);
    return result;
}

/* ---- merging by time ------------------------------------------------------------------------ */

/* is_sorted_i64(buf) -> whether the int64 values never decrease */
static PyObject *k_is_sorted_i64(PyObject *mod, PyObject *arg) {
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(arg, &view, 8, &n, "is_sorted_i64") < 0) return NULL;
    const uint8_t *p = view.buf;
    int sorted = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 1; i < n; i++)
        if ((int64_t)ld64(p + 8 * i) < (int64_t)ld64(p + 8 * (i - 1))) {
            sorted = 0;
            break;
        }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyBool_FromLong(sorted);
}

typedef struct {
    int64_t key;
    uint32_t index;
} keyed_t;

/* merge the sorted runs a[lo:mid] and a[mid:hi] into b (ties: the left run first) */
static void merge_runs(const keyed_t *a, keyed_t *b, size_t lo, size_t mid, size_t hi) {
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi) b[k++] = a[j].key < a[i].key ? a[j++] : a[i++];
    while (i < mid) b[k++] = a[i++];
    while (j < hi) b[k++] = a[j++];
}

/* argsort_i64(buf) -> uint32 bytes: the stable ascending order of the int64 values */
static PyObject *k_argsort_i64(PyObject *mod, PyObject *arg) {
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(arg, &view, 8, &n, "argsort_i64") < 0) return NULL;
    if (n > (Py_ssize_t)UINT32_MAX) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "argsort_i64: more than 2**32 values");
        return NULL;
    }
    const uint8_t *p = view.buf;
    uint8_t *o;
    PyObject *out = new_bytes(n * 4, &o);
    keyed_t *a = NULL, *b = NULL;
    size_t *runs = NULL;
    if (out == NULL) goto done;
    a = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *a);
    b = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *b);
    runs = PyMem_Malloc(((size_t)n + 2) * sizeof *runs);
    if (a == NULL || b == NULL || runs == NULL) {
        Py_CLEAR(out);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    /* a natural merge sort: the ascending runs (one per ring batch, as a rule), merged in pairs */
    size_t nruns = 0;
    for (size_t i = 0; i < (size_t)n; i++) {
        a[i].key = (int64_t)ld64(p + 8 * i);
        a[i].index = (uint32_t)i;
        if (i == 0 || a[i].key < a[i - 1].key) runs[nruns++] = i;
    }
    runs[nruns] = (size_t)n;
    while (nruns > 1) {
        size_t r = 0, w = 0;
        for (; r + 1 < nruns; r += 2) {
            merge_runs(a, b, runs[r], runs[r + 1], runs[r + 2]);
            runs[w++] = runs[r];
        }
        if (r < nruns) { /* an odd run out: copied as it is */
            memcpy(b + runs[r], a + runs[r], (runs[r + 1] - runs[r]) * sizeof *a);
            runs[w++] = runs[r];
        }
        runs[w] = (size_t)n;
        nruns = w;
        keyed_t *t = a;
        a = b, b = t;
    }
    for (size_t i = 0; i < (size_t)n; i++) st32(o + 4 * i, a[i].index);
    Py_END_ALLOW_THREADS
done:
    PyMem_Free(a);
    PyMem_Free(b);
    PyMem_Free(runs);
    PyBuffer_Release(&view);
    return out;
}

/* take(buf, itemsize, perm) -> bytes: element perm[i] of buf at i */
static PyObject *k_take(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "take(buf, itemsize, perm)");
        return NULL;
    }
    long size = PyLong_AsLong(args[1]);
    if (size == -1 && PyErr_Occurred()) return NULL;
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        PyErr_SetString(PyExc_ValueError, "take: itemsize must be 1, 2, 4 or 8");
        return NULL;
    }
    Py_buffer view, perm_v;
    Py_ssize_t n, m;
    if (get_array(args[0], &view, (int)size, &n, "take") < 0) return NULL;
    if (get_array(args[2], &perm_v, 4, &m, "take perm") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *p = view.buf, *perm = perm_v.buf;
    uint8_t *o;
    PyObject *out = new_bytes(m * size, &o);
    int bad = 0;
    if (out != NULL) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < m; i++) {
            uint32_t j = ld32(perm + 4 * i);
            if ((Py_ssize_t)j >= n) {
                bad = 1;
                break;
            }
            memcpy(o + i * size, p + (size_t)j * size, (size_t)size);
        }
        Py_END_ALLOW_THREADS
        if (bad) {
            Py_CLEAR(out);
            PyErr_SetString(PyExc_ValueError, "take: an index past the end");
        }
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&perm_v);
    return out;
}

/* take_sparse(perm, rows, n) -> (new rows, value order): where the ascending rows of a sparse
 * column land once rows are reordered by perm (a permutation of n), and which value each takes */
static PyObject *k_take_sparse(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "take_sparse(perm, rows, n)");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    if (n == -1 && PyErr_Occurred()) return NULL;
    Py_buffer perm_v, rows_v;
    Py_ssize_t np_, m;
    if (get_array(args[0], &perm_v, 4, &np_, "take_sparse perm") < 0) return NULL;
    if (get_array(args[1], &rows_v, 4, &m, "take_sparse rows") < 0) {
        PyBuffer_Release(&perm_v);
        return NULL;
    }
    PyObject *rows_b = NULL, *index_b = NULL, *result = NULL;
    int32_t *mark = NULL;
    if (np_ != n || n > INT32_MAX || m > n) {
        PyErr_SetString(PyExc_ValueError, "take_sparse: the permutation is not of n rows");
        goto done;
    }
    const uint8_t *perm = perm_v.buf, *rows = rows_v.buf;
    uint8_t *ro, *io;
    if ((mark = PyMem_Malloc((size_t)(n ? n : 1) * 4)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    rows_b = new_bytes(m * 4, &ro);
    index_b = new_bytes(m * 4, &io);
    if (rows_b == NULL || index_b == NULL) goto done;
    int bad = 0;
    Py_ssize_t k = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(mark, 0xFF, (size_t)n * 4); /* -1: no value at this old row */
    for (Py_ssize_t j = 0; j < m; j++) {
        uint32_t r = ld32(rows + 4 * j);
        if ((Py_ssize_t)r >= n) {
            bad = 1;
            break;
        }
        mark[r] = (int32_t)j;
    }
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        uint32_t old = ld32(perm + 4 * i);
        if ((Py_ssize_t)old >= n) {
            bad = 1;
            break;
        }
        int32_t j = mark[old];
        if (j >= 0) {
            if (k == m) {
                bad = 1;
                break;
            }
            st32(ro + 4 * k, (uint32_t)i);
            st32(io + 4 * k, (uint32_t)j);
            k++;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad || k != m) {
        PyErr_SetString(PyExc_ValueError, "take_sparse: rows or permutation out of range");
        goto done;
    }
    result = PyTuple_Pack(2, rows_b, index_b);
done:
    PyMem_Free(mark);
    Py_XDECREF(rows_b);
    Py_XDECREF(index_b);
    PyBuffer_Release(&perm_v);
    PyBuffer_Release(&rows_v);
    return result;
}

/* shift_u32(buf, delta) -> bytes: every uint32 plus delta (ValueError if one leaves 0..2**32-1) */
static PyObject *k_shift_u32(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "shift_u32(buf, delta)");
        return NULL;
    }
    long long delta = PyLong_AsLongLong(args[1]);
    if (delta == -1 && PyErr_Occurred()) return NULL;
    Py_buffer view;
    Py_ssize_t n;
    if (get_array(args[0], &view, 4, &n, "shift_u32") < 0) return NULL;
    const uint8_t *p = view.buf;
    uint8_t *o;
    PyObject *out = new_bytes(n * 4, &o);
    int bad = 0;
    if (out != NULL) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            long long v = (long long)ld32(p + 4 * i) + delta;
            if (v < 0 || v > (long long)UINT32_MAX) {
                bad = 1;
                break;
            }
            st32(o + 4 * i, (uint32_t)v);
        }
        Py_END_ALLOW_THREADS
        if (bad) {
            Py_CLEAR(out);
            PyErr_SetString(PyExc_ValueError, "shift_u32: a value leaves the uint32 range");
        }
    }
    PyBuffer_Release(&view);
    return out;
}

/* iota_u32(start, count) -> bytes: start, start + 1, ... as uint32 */
static PyObject *k_iota_u32(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "iota_u32(start, count)");
        return NULL;
    }
    long long start = PyLong_AsLongLong(args[0]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    if (count == -1 && PyErr_Occurred()) return NULL;
    if (start < 0 || count < 0 || start + count > (long long)UINT32_MAX + 1) {
        PyErr_SetString(PyExc_ValueError, "iota_u32: values leave the uint32 range");
        return NULL;
    }
    uint8_t *o;
    PyObject *out = new_bytes(count * 4, &o);
    if (out != NULL)
        for (Py_ssize_t i = 0; i < count; i++) st32(o + 4 * i, (uint32_t)(start + i));
    return out;
}

#define FASTCALL(name, doc) {#name, (PyCFunction)(void (*)(void))k_##name, METH_FASTCALL, doc}

PyMethodDef codec_kernel_methods[] = {
    FASTCALL(pack_ints, "pack_ints(buf, code, delta_from=None) -> (tag, data, hi_tag, hi_data)\n\n"
                        "The integers of buf (type code B H I b h i q), or their differences from the one "
                        "before (the first from delta_from), as the narrowest RFC 8746 typed array; split "
                        "into low 16 bits and the rest (hi_tag, hi_data) by the snapshot format's rule."),
    FASTCALL(float_scale, "float_scale(buf, max_scale) -> (scale, int64 bytes) or None\n\n"
                          "The smallest scale s <= max_scale with every float64 v == rint(v * 10**s) / 10**s "
                          "bit for bit, and those integers; None if there is none."),
    FASTCALL(remap_u32, "remap_u32(ids, lut, extra_keys=None, extra_vals=None) -> (bytearray, missing)\n\n"
                        "lut[id] for each uint32 id (else the extra mapping, sorted keys), 0xFFFFFFFF where "
                        "neither has it; missing: those ids, distinct, ascending."),
    FASTCALL(distinct, "distinct(buf, code, limit) -> list or None\n\n"
                       "The distinct values of a B or I array, ascending; None if more than limit."),
    FASTCALL(mark_u32, "mark_u32(mask, ids)\n\nmask[id] = 1 for each uint32 id."),
    {"lut_from_mask", (PyCFunction)k_lut_from_mask, METH_O,
     "lut_from_mask(mask) -> bytes\n\nuint32 per slot: its rank among the marked slots, 0xFFFFFFFF if unmarked."},
    FASTCALL(join_text, "join_text(codes, pool) -> bytes or None\n\n"
                        "UTF-8 of pool[code] for each code, joined by U+0000; None if a text holds U+0000."),
    {"is_sorted_i64", (PyCFunction)k_is_sorted_i64, METH_O,
     "is_sorted_i64(buf) -> bool\n\nWhether the int64 values never decrease."},
    {"argsort_i64", (PyCFunction)k_argsort_i64, METH_O,
     "argsort_i64(buf) -> bytes\n\nThe stable ascending order of the int64 values, as uint32 indexes."},
    FASTCALL(take, "take(buf, itemsize, perm) -> bytes\n\nElement perm[i] of buf, for each uint32 perm[i]."),
    FASTCALL(take_sparse, "take_sparse(perm, rows, n) -> (rows, order)\n\n"
                          "The new rows of a sparse column once n rows are reordered by perm, and the "
                          "index of the value each new row takes."),
    FASTCALL(shift_u32, "shift_u32(buf, delta) -> bytes\n\nEvery uint32 plus delta."),
    FASTCALL(iota_u32, "iota_u32(start, count) -> bytes\n\nstart, start + 1, ... as count uint32 values."),
    {NULL, NULL, 0, NULL},
};
