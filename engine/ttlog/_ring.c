/* engine/ttlog/_ring.c: the C writer of ttlog rings, and the batch decoder.
 *
 * The twin of engine/ttlog/ring.py (Ring ~ PyRing, Logger ~ PyLogger) and of engine/ttlog/reader.py (decode ~
 * py_decode). engine/ttlog/ring.py is the executable spec of the format: the same calls write the same
 * bytes, and tests/ttlog/test_c_twin.py compares whole ring files written by both.
 *
 * A log call has two phases, as in the twin:
 *   phase 1  turn the message and every value into bytes. This may run Python code (str() of an
 *            odd value, __index__), which may itself log; no ring state is held meanwhile. Then
 *            intern the message and the keys (C only, no Python code can run).
 *   phase 2  reserve space and write the record without any call into Python, so nothing can
 *            re-enter it half way (a guard like the twin's _busy counts a re-entry as dropped).
 *
 * Store order in phase 2: reserve_pos; tail_pos (if moved); release fence; pad; record body;
 * commit word (release); seq_next; write_pos (release).
 *
 * No globals except one thread-local (the cached native thread id): everything else lives in the
 * module state (PEP 489 multi-phase init, heap types from PyType_FromModuleAndSpec).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ring format is little-endian and this writer stores native integers"
#endif

_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "atomic sizes");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2, "lock-free atomics");

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- the format: these MUST match engine/ttlog/ring.py (and docs/FORMAT.md) ------------------------ */
#define HEADER_SIZE 4096
#define H_FLAGS 72        /* u32, FLAG_* */
#define H_MAX_STR 76      /* u32 */
#define H_MIN_LEVEL 84    /* u32 */
#define H_WRITE_POS 256   /* u64 */
#define H_RESERVE_POS 264 /* u64 */
#define H_TAIL_POS 272    /* u64 */
#define H_SEQ_NEXT 280    /* u64 */
#define H_DROPPED 288     /* u64 */
#define H_STRTAB_USED 320 /* u64 */
#define H_READ_POS 384    /* u64 */

#define FLAG_OVERWRITE 1u

#define REC_HEADER 40
#define RF_MSG_INLINE 0x01
#define RF_MSG_CUT 0x02
#define RF_FIELDS_CUT 0x04
#define MAX_FIELDS 255

#define K_INT 1
#define K_FLOAT 2
#define K_TRUE 3
#define K_FALSE 4
#define K_NONE 5
#define K_STR 6
#define K_BYTES 7
#define K_OBJ 8
#define T_KEY_INLINE 0x40
#define T_CUT 0x80
#define KIND_MASK 0x0F

#define COMMIT_SALT 0x7A3C5E91u

#define S_LOGGER 1
#define S_MESSAGE 2
#define S_KEY 3
#define S_OTHER 4
#define MAX_INTERNED_MESSAGE 256
#define STRTAB_FIRST 8

#define LEVEL_OFF 255
#define LEVEL_INFO 20
/* ---- end of the format ---------------------------------------------------------------------- */

#define PCACHE_SLOTS 1024 /* direct-mapped (object, kind) -> id cache in front of the intern dicts */
#define STACK_FIELDS 16   /* fields encoded on the C stack; more go to the heap */
#define NKINDS 5          /* intern dicts for kinds 0..4 held directly; others in a dict */

/* marker(pos) in ring.py */
static inline uint32_t marker(uint64_t pos) { return (uint32_t)((pos >> 3) ^ COMMIT_SALT); }
/* pad_marker(pos) in ring.py */
static inline uint32_t pad_marker(uint64_t pos) { return marker(pos) ^ 0xFFFFFFFFu; }

/* Shared-memory access. Header words are naturally aligned, so atomics on them are fine;
 * record bytes are written with memcpy (fields are unaligned). */
static inline uint64_t ld64(const uint8_t *p) {
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_relaxed);
}
static inline uint64_t ld64_acq(const uint8_t *p) {
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_acquire);
}
static inline uint32_t ld32(const uint8_t *p) {
    return atomic_load_explicit((_Atomic uint32_t *)(uintptr_t)p, memory_order_relaxed);
}
static inline void st64(uint8_t *p, uint64_t v) {
    atomic_store_explicit((_Atomic uint64_t *)(void *)p, v, memory_order_relaxed);
}
static inline void st64_rel(uint8_t *p, uint64_t v) {
    atomic_store_explicit((_Atomic uint64_t *)(void *)p, v, memory_order_release);
}
static inline void st32_rel(uint8_t *p, uint32_t v) {
    atomic_store_explicit((_Atomic uint32_t *)(void *)p, v, memory_order_release);
}
/* unaligned little-endian stores and loads in record bytes */
static inline void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* cut_utf8(raw, limit) in ring.py, for len(raw) > limit: the cut length, never inside a
 * UTF-8 sequence. */
static inline size_t cut_utf8(const char *p, size_t limit) {
    size_t end = limit;
    while (end > 0 && ((uint8_t)p[end] & 0xC0) == 0x80) end--;
    return end;
}

/* ---- thread id: the one global, a thread-local ------------------------------------------------ */
/* 0 = not looked up yet in this thread, else (1 << 32) | (native id & 0xFFFFFFFF). */
static _Thread_local uint64_t tls_tid;

/* threading.get_native_id() & 0xFFFFFFFF, without a syscall after the first call in a thread. */
static inline uint32_t thread_tid(void) {
    uint64_t t = tls_tid;
    if (UNLIKELY(t == 0)) {
        t = (1ull << 32) | (uint32_t)PyThread_get_thread_native_id();
        tls_tid = t;
    }
    return (uint32_t)t;
}

/* pthread_atfork child handler: the forking thread's id differs in the child. */
static void tid_after_fork(void) { tls_tid = 0; }

/* time.time_ns() */
static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- module state --------------------------------------------------------------------------- */
typedef struct {
    PyTypeObject *ring_type;
    PyTypeObject *logger_type;
    PyObject *ring_mod;      /* ttlog.ring, imported on first need */
    PyObject *obj_text;      /* ttlog.ring.obj_text */
    PyObject *level_value;   /* ttlog.ring.level_value */
    PyObject *read_geometry; /* ttlog.ring.read_geometry */
    PyObject *ring_error;    /* ttlog.ring.RingError */
    PyObject *arg_names;     /* ("arg0", ..., "arg254"), interned */
    PyObject *empty;         /* "" */
    PyObject *str_index;     /* "__index__" */
    PyObject *str_release;   /* "release" */
    PyObject *kind_names[7]; /* "int", "float", "bool", "none", "str", "bytes", "obj" */
    PyObject *dead_ring;     /* an unmapped Ring: what a Logger whose __init__ never ran points at */
    void *decode_pool;       /* decode's bytearray pool (a bpool), made on first use */
} modstate;

static PyModuleDef ring_moduledef;

/* import ttlog.ring and keep what the writer needs from it */
static int load_ring_module(modstate *st) {
    if (st->ring_mod != NULL) return 0;
    PyObject *m = PyImport_ImportModule("ttlog.ring");
    if (m == NULL) return -1;
    PyObject *a = PyObject_GetAttrString(m, "obj_text");
    PyObject *b = a ? PyObject_GetAttrString(m, "level_value") : NULL;
    PyObject *c = b ? PyObject_GetAttrString(m, "read_geometry") : NULL;
    PyObject *d = c ? PyObject_GetAttrString(m, "RingError") : NULL;
    if (d == NULL) {
        Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c); Py_DECREF(m);
        return -1;
    }
    if (st->ring_mod != NULL) { /* imported meanwhile by code the import ran */
        Py_DECREF(a); Py_DECREF(b); Py_DECREF(c); Py_DECREF(d); Py_DECREF(m);
        return 0;
    }
    st->obj_text = a;
    st->level_value = b;
    st->read_geometry = c;
    st->ring_error = d;
    st->ring_mod = m;
    return 0;
}

/* ---- types ---------------------------------------------------------------------------------- */
typedef struct {
    PyObject *key; /* an exact str, strong reference (so its address is not reused), or NULL */
    uint32_t kind;
    uint32_t id;
} pslot;

typedef struct {
    PyObject_HEAD
    modstate *st;
    PyObject *module;            /* keeps st alive */
    uint8_t *map;                /* the mapped file (header first), or NULL */
    size_t map_size;
    uint8_t *data;               /* map + data_off */
    uint8_t *strtab;             /* map + strtab_off */
    uint64_t cap, mask, strtab_cap;
    _Atomic uint32_t *level_ptr; /* the header's min_level, or &off_level while unmapped */
    _Atomic uint32_t off_level;  /* LEVEL_OFF */
    uint64_t gen;                /* bumped by map and unmap */
    uint64_t read_cache;         /* drop mode: a read_pos seen before (read_pos only grows) */
    int busy;                    /* in phase 2 */
    int fixed;                   /* _set_fixed: 1 time fixed, 2 thread id fixed */
    int64_t fixed_ts;
    uint32_t fixed_tid;
    PyObject *path;              /* os.fspath() of the mapped path, or NULL */
    PyObject *kinds[NKINDS];     /* kind -> dict str -> id (the twin's _strings) */
    PyObject *other_kinds;       /* dict int -> dict str -> id, for kinds >= NKINDS */
    pslot pcache[PCACHE_SLOTS];
} RingObject;

typedef struct {
    PyObject_HEAD
    RingObject *ring;
    PyObject *name;
    uint64_t gen; /* ring->gen when id was interned */
    uint32_t id;
} LoggerObject;

/* ---- interning ------------------------------------------------------------------------------ */

/* slot of (object, kind) in the pointer-keyed cache */
static inline size_t pcache_index(PyObject *o, uint32_t kind) {
    uintptr_t x = (uintptr_t)o;
    x = (x >> 4) ^ (x >> 14) ^ ((uintptr_t)kind * 0x9E5u);
    return (size_t)(x & (PCACHE_SLOTS - 1));
}

/* the cached id of exactly this str object (not an equal one), 0 if not cached: no dict lookup */
static inline uint32_t pcache_get(RingObject *r, PyObject *o, uint32_t kind) {
    pslot *s = &r->pcache[pcache_index(o, kind)];
    return (s->key == o && s->kind == kind) ? s->id : 0;
}

/* o must be an exact str (its dealloc runs no Python code, so replacing a slot is safe anywhere) */
static inline void pcache_put(RingObject *r, PyObject *o, uint32_t kind, uint32_t id) {
    pslot *s = &r->pcache[pcache_index(o, kind)];
    PyObject *old = s->key;
    Py_INCREF(o);
    s->key = o;
    s->kind = kind;
    s->id = id;
    Py_XDECREF(old);
}

/* forget every cached id (map and unmap: the ids belong to one string table) */
static void pcache_clear(RingObject *r) {
    for (size_t i = 0; i < PCACHE_SLOTS; i++) {
        PyObject *old = r->pcache[i].key;
        r->pcache[i].key = NULL;
        r->pcache[i].id = 0;
        Py_XDECREF(old);
    }
}

/* The dict str -> id of one kind (borrowed), made if create; NULL with or without an error. */
static PyObject *kind_dict(RingObject *r, uint32_t kind, int create) {
    if (kind < NKINDS) {
        if (r->kinds[kind] == NULL && create) r->kinds[kind] = PyDict_New();
        return r->kinds[kind];
    }
    if (r->other_kinds == NULL) {
        if (!create) return NULL;
        if ((r->other_kinds = PyDict_New()) == NULL) return NULL;
    }
    PyObject *k = PyLong_FromUnsignedLong(kind);
    if (k == NULL) return NULL;
    PyObject *d = PyDict_GetItemWithError(r->other_kinds, k);
    if (d == NULL && create && !PyErr_Occurred()) {
        d = PyDict_New();
        if (d != NULL) {
            int rc = PyDict_SetItem(r->other_kinds, k, d);
            Py_DECREF(d); /* the dict holds it */
            if (rc < 0) d = NULL;
        }
    }
    Py_DECREF(k);
    return d;
}

/* PyRing.map's `self._strings = {}` */
static void clear_strings(RingObject *r) {
    for (int i = 0; i < NKINDS; i++) Py_CLEAR(r->kinds[i]);
    Py_CLEAR(r->other_kinds);
    pcache_clear(r);
}

/* UTF-8 of a str: ring.utf8(text). Lone surrogates become \udXXX escapes (a bytes object, put in
 * *tmp, owns the bytes). Returns 0 only if even that failed (no exception left set). Runs no
 * Python code. */
static inline int utf8_of(PyObject *s, const char **p, Py_ssize_t *n, PyObject **tmp) {
    if (LIKELY(PyUnicode_IS_COMPACT_ASCII(s))) {
        *p = (const char *)(((PyASCIIObject *)s) + 1);
        *n = PyUnicode_GET_LENGTH(s);
        return 1;
    }
    const char *u = PyUnicode_AsUTF8AndSize(s, n);
    if (u != NULL) {
        *p = u;
        return 1;
    }
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (b == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_XSETREF(*tmp, b);
    *p = PyBytes_AS_STRING(b);
    *n = PyBytes_GET_SIZE(b);
    return 1;
}

/* PyRing.intern(text, kind) for an exact str whose UTF-8 is raw/n: the id, 0 if the table has no
 * room (or the ring is unmapped and the text unknown). Runs no Python code; errors (memory) are
 * swallowed as 0 with no exception left set. */
static uint32_t intern_raw(RingObject *r, PyObject *text, uint32_t kind, const char *raw, Py_ssize_t n) {
    PyObject *d = kind_dict(r, kind, 1);
    if (d == NULL) {
        PyErr_Clear();
        return 0;
    }
    int cache = kind != S_MESSAGE || n <= MAX_INTERNED_MESSAGE;
    PyObject *idobj = PyDict_GetItemWithError(d, text);
    if (idobj != NULL) {
        uint32_t id = (uint32_t)PyLong_AsUnsignedLongMask(idobj);
        if (cache && id) pcache_put(r, text, kind, id);
        return id;
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    uint8_t *h = r->map;
    if (h == NULL) return 0;
    uint64_t used = ld64(h + H_STRTAB_USED);
    uint64_t size = (8 + (uint64_t)n + 7) & ~(uint64_t)7;
    if ((uint64_t)n > 0xFFFFFFFFu || used + size > r->strtab_cap || (used >> 3) > 0xFFFFFFFFu) return 0;
    assert(r->strtab != NULL && r->strtab_cap > 0);
    uint8_t *e = r->strtab + used;
    put32(e, (uint32_t)n);
    put32(e + 4, kind);
    memcpy(e + 8, raw, (size_t)n);
    memset(e + 8 + n, 0, (size_t)(size - 8 - (uint64_t)n));
    st64_rel(h + H_STRTAB_USED, used + size);
    uint32_t id = (uint32_t)(used >> 3);
    PyObject *v = PyLong_FromUnsignedLong(id);
    if (v == NULL || PyDict_SetItem(d, text, v) < 0) PyErr_Clear();
    Py_XDECREF(v);
    if (cache) pcache_put(r, text, kind, id);
    return id;
}

/* PyRing.intern(text, kind) for an exact str. */
static uint32_t intern_str(RingObject *r, PyObject *text, uint32_t kind) {
    PyObject *tmp = NULL;
    const char *p;
    Py_ssize_t n;
    uint32_t id = 0;
    PyObject *d = kind_dict(r, kind, 1);
    if (d == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *idobj = PyDict_GetItemWithError(d, text);
    if (idobj != NULL) return (uint32_t)PyLong_AsUnsignedLongMask(idobj);
    PyErr_Clear();
    if (r->map != NULL && utf8_of(text, &p, &n, &tmp)) id = intern_raw(r, text, kind, p, n);
    Py_XDECREF(tmp);
    return id;
}

/* PyRing._load_strings(): re-learn the ids already in the table (setdefault: first one wins). */
static int load_strings(RingObject *r) {
    uint64_t used = ld64_acq(r->map + H_STRTAB_USED);
    if (used > r->strtab_cap) used = r->strtab_cap;
    uint64_t off = STRTAB_FIRST;
    while (off < used && off + 8 <= r->strtab_cap) {
        uint32_t n = get32(r->strtab + off);
        uint32_t kind = get32(r->strtab + off + 4);
        if (off + 8 + n > r->strtab_cap) break;
        PyObject *text = PyUnicode_DecodeUTF8((const char *)r->strtab + off + 8, n, "replace");
        if (text == NULL) return -1;
        PyObject *d = kind_dict(r, kind, 1);
        PyObject *id = d ? PyLong_FromUnsignedLongLong(off >> 3) : NULL;
        PyObject *got = id ? PyDict_SetDefault(d, text, id) : NULL;
        Py_DECREF(text);
        Py_XDECREF(id);
        if (got == NULL) return -1;
        off += (8 + (uint64_t)n + 7) & ~(uint64_t)7;
    }
    return 0;
}

/* ---- encoding values (phase 1) -------------------------------------------------------------- */

typedef struct {
    PyObject *key;          /* exact str: a keyword name, "argN", or ktmp1 */
    PyObject *ktmp1, *ktmp2; /* owned: an exact copy of a str-subclass key; its escaped UTF-8 */
    PyObject *vtmp1, *vtmp2; /* owned: obj_text's str or a bytearray copy; escaped UTF-8 */
    const char *vp;         /* str/bytes/obj payload */
    const char *kp;         /* inline key bytes */
    union { int64_t i; double d; uint64_t u; } num;
    uint32_t vlen, klen, kid;
    uint8_t t;              /* type byte */
} field_t;

/* ttlog.ring.obj_text(value) without its fallback: a C version for when it is unavailable. */
static PyObject *c_obj_text(modstate *st, PyObject *v) {
    PyObject *s = PyObject_Str(v);
    if (s != NULL) {
        if (PyUnicode_CheckExact(s)) return s;
        PyObject *c = PyUnicode_Check(s) ? PyUnicode_FromObject(s) : NULL;
        Py_DECREF(s);
        if (c != NULL) return c;
    }
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *ename = (et && PyType_Check(et)) ? PyType_GetName((PyTypeObject *)et) : NULL;
    PyErr_Clear();
    PyObject *vname = PyType_GetName(Py_TYPE(v));
    PyErr_Clear();
    PyObject *out = PyUnicode_FromFormat("<unprintable %s: %s>",
                                         vname ? PyUnicode_AsUTF8(vname) : "object",
                                         ename ? PyUnicode_AsUTF8(ename) : "error");
    Py_XDECREF(et); Py_XDECREF(ev); Py_XDECREF(tb); Py_XDECREF(ename); Py_XDECREF(vname);
    if (out == NULL) {
        PyErr_Clear();
        Py_INCREF(st->empty);
        out = st->empty;
    }
    return out;
}

/* obj_text(value): an exact str (new reference), never NULL, no exception left set. */
static PyObject *obj_text(modstate *st, PyObject *v) {
    if (st->obj_text == NULL && load_ring_module(st) < 0) PyErr_Clear();
    if (st->obj_text != NULL) {
        PyObject *s = PyObject_CallOneArg(st->obj_text, v);
        if (s != NULL && PyUnicode_CheckExact(s)) return s;
        Py_XDECREF(s);
        PyErr_Clear();
    }
    return c_obj_text(st, v);
}

/* _encode_text(kind, text, max_str): text is a str whose content is stored (kept alive by the
 * caller or by f->vtmp1). */
static inline void set_text(field_t *f, PyObject *text, uint8_t kind, uint32_t max_str) {
    const char *p;
    Py_ssize_t n;
    if (!utf8_of(text, &p, &n, &f->vtmp2)) {
        p = "";
        n = 0;
    }
    f->t = kind;
    if ((uint64_t)n > max_str) {
        n = (Py_ssize_t)cut_utf8(p, max_str);
        f->t |= T_CUT;
    }
    f->vp = p;
    f->vlen = (uint32_t)n;
}

/* an int's value if it fits i64 (`-(1 << 63) <= value < (1 << 63)`), without calling __index__ */
static inline int i64_of(PyObject *v, int64_t *out) {
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return 0;
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = x;
    return 1;
}

/* _encode_value(value, max_str), same order of checks. May run Python code (obj_text,
 * __index__). Never fails. */
static void encode_value(modstate *st, field_t *f, PyObject *v, uint32_t max_str) {
    PyTypeObject *tp = Py_TYPE(v);
    /* exact types first (they are unambiguous), then the twin's order */
    if (tp == &PyLong_Type) {
        if (i64_of(v, &f->num.i)) {
            f->t = K_INT;
            return;
        }
        goto obj;
    }
    if (tp == &PyFloat_Type) {
        f->t = K_FLOAT;
        f->num.d = PyFloat_AS_DOUBLE(v);
        return;
    }
    if (tp == &PyUnicode_Type) {
        set_text(f, v, K_STR, max_str);
        return;
    }
    if (v == Py_True) { f->t = K_TRUE; return; }
    if (v == Py_False) { f->t = K_FALSE; return; }
    if (v == Py_None) { f->t = K_NONE; return; }
    if (PyLong_Check(v)) { /* int subclasses (IntEnum): their int value */
        if (i64_of(v, &f->num.i)) {
            f->t = K_INT;
            return;
        }
        goto obj;
    }
    if (PyFloat_Check(v)) {
        f->t = K_FLOAT;
        f->num.d = PyFloat_AS_DOUBLE(v);
        return;
    }
    if (PyUnicode_Check(v)) { /* str.__str__(value): the content of a str subclass */
        set_text(f, v, K_STR, max_str);
        return;
    }
    if (PyBytes_Check(v)) {
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        f->t = K_BYTES;
        if ((uint64_t)n > max_str) {
            n = max_str;
            f->t |= T_CUT;
        }
        f->vp = PyBytes_AS_STRING(v);
        f->vlen = (uint32_t)n;
        return;
    }
    if (PyByteArray_Check(v)) { /* copied now: later Python code could resize it */
        Py_ssize_t n = PyByteArray_GET_SIZE(v);
        f->t = K_BYTES;
        if ((uint64_t)n > max_str) {
            n = max_str;
            f->t |= T_CUT;
        }
        f->vtmp1 = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(v), n);
        if (f->vtmp1 == NULL) {
            PyErr_Clear();
            f->vp = "";
            f->vlen = 0;
            return;
        }
        f->vp = PyBytes_AS_STRING(f->vtmp1);
        f->vlen = (uint32_t)n;
        return;
    }
    if (tp->tp_as_number != NULL && tp->tp_as_number->nb_index != NULL) {
        /* int(value.__index__()), any exception -> stored as text */
        PyObject *res = PyObject_CallMethodNoArgs(v, st->str_index);
        PyObject *num = res ? PyNumber_Long(res) : NULL;
        Py_XDECREF(res);
        if (num != NULL) {
            int ok = i64_of(num, &f->num.i);
            Py_DECREF(num);
            if (ok) {
                f->t = K_INT;
                return;
            }
        } else {
            PyErr_Clear();
        }
    }
obj:
    f->vtmp1 = obj_text(st, v);
    set_text(f, f->vtmp1, K_OBJ, max_str);
}

/* ---- the write ------------------------------------------------------------------------------ */

/* `self._set_u64(H_DROPPED, self._u64(H_DROPPED) + 1)` */
static inline void bump_dropped(uint8_t *h) { st64(h + H_DROPPED, ld64(h + H_DROPPED) + 1); }

/* PyRing._commit(...): phase 2. No Python code runs here. */
static void ring_commit(RingObject *r, uint64_t length, int64_t ts, uint32_t tid, uint32_t logger_id,
                        uint32_t msg_id, uint32_t level, uint8_t rflags, Py_ssize_t nf,
                        const char *mp, Py_ssize_t mn, const field_t *fs) {
    uint8_t *h = r->map;
    if (UNLIKELY(r->busy)) { /* cannot happen without Python code in here; kept as the twin's guard */
        bump_dropped(h);
        return;
    }
    r->busy = 1;
    assert(length % 8 == 0 && length >= REC_HEADER && nf >= 0 && nf <= MAX_FIELDS);
    assert(!(rflags & RF_MSG_INLINE) || mp != NULL);
    const uint64_t cap = r->cap, mask = r->mask;
    if (UNLIKELY(length > cap / 2 || length > 0xFFFFFFF8u)) {
        bump_dropped(h);
        goto out;
    }
    uint64_t w = ld64(h + H_WRITE_POS);
    const uint64_t room = cap - (w & mask);
    const uint64_t end = w + length + (length > room ? room : 0);
    if (!(ld32(h + H_FLAGS) & FLAG_OVERWRITE)) {
        /* drop mode: read_pos only grows, so a cached value that says "room" is right */
        if ((int64_t)(end - r->read_cache) > (int64_t)cap) {
            r->read_cache = ld64_acq(h + H_READ_POS);
            if ((int64_t)(end - r->read_cache) > (int64_t)cap) {
                bump_dropped(h);
                goto out;
            }
        }
    }
    st64(h + H_RESERVE_POS, end);
    /* move the tail past every record whose bytes are about to be reused */
    const uint64_t tail = ld64(h + H_TAIL_POS);
    uint64_t t = tail;
    if (end > cap) {
        const uint64_t limit = end - cap;
        while (t < limit) {
            uint32_t l = get32(r->data + (t & mask));
            if (UNLIKELY(l < 8 || (l & 7) || l > cap)) { /* corrupt: restart at the new record */
                t = end - length;
                break;
            }
            t += l;
        }
    }
    if (t != tail) st64(h + H_TAIL_POS, t);
    atomic_thread_fence(memory_order_release);
    if (length > room) { /* pad to the end of the data area */
        uint8_t *pad = r->data + (w & mask);
        put32(pad, (uint32_t)room);
        put32(pad + 4, pad_marker(w));
        w += room;
    }
    uint8_t *b = r->data + (w & mask);
    const uint64_t seq = ld64(h + H_SEQ_NEXT);
    put32(b, (uint32_t)length);
    put64(b + 8, seq);
    put64(b + 16, (uint64_t)ts);
    put32(b + 24, tid);
    put32(b + 28, logger_id);
    put32(b + 32, msg_id);
    b[36] = (uint8_t)level;
    b[37] = rflags;
    put16(b + 38, (uint16_t)nf);
    uint8_t *o = b + REC_HEADER;
    if (rflags & RF_MSG_INLINE) {
        put32(o, (uint32_t)mn);
        memcpy(o + 4, mp, (size_t)mn);
        o += 4 + mn;
    }
    for (Py_ssize_t i = 0; i < nf; i++) {
        const field_t *f = &fs[i];
        *o++ = f->t;
        if (f->t & T_KEY_INLINE) {
            put16(o, (uint16_t)f->klen);
            memcpy(o + 2, f->kp, f->klen);
            o += 2 + f->klen;
        } else {
            put32(o, f->kid);
            o += 4;
        }
        switch (f->t & KIND_MASK) {
        case K_INT:
        case K_FLOAT:
            put64(o, f->num.u);
            o += 8;
            break;
        case K_STR:
        case K_BYTES:
        case K_OBJ:
            put32(o, f->vlen);
            memcpy(o + 4, f->vp, f->vlen);
            o += 4 + f->vlen;
            break;
        default:
            break;
        }
    }
    assert(o <= b + length && b + length - o < 8);
    memset(o, 0, (size_t)(b + length - o));
    st32_rel(b + 4, marker(w)); /* commit word, last */
    st64(h + H_SEQ_NEXT, seq + 1);
    st64_rel(h + H_WRITE_POS, end);
out:
    r->busy = 0;
}

/* PyLogger._logger_id() */
static inline uint32_t logger_get_id(LoggerObject *lg) {
    RingObject *r = lg->ring;
    if (UNLIKELY(lg->gen != r->gen)) {
        lg->id = intern_str(r, lg->name, S_LOGGER);
        lg->gen = r->gen;
    }
    return lg->id;
}

/* PyRing.write(logger_id, level, msg, args, fields), with args as pos[npos] and fields as the
 * parallel arrays kwk[nkw] (str keys) and kwv[nkw]. With lg, the logger id is lg's (interned
 * lazily). Returns -1 only on a memory error (exception set). */
static int ring_write(RingObject *r, LoggerObject *lg, uint32_t logger_id, uint32_t level, PyObject *msg,
                      PyObject *const *pos, Py_ssize_t npos, PyObject *const *kwk, PyObject *const *kwv,
                      Py_ssize_t nkw) {
    modstate *st = r->st;
    if (UNLIKELY(st->arg_names == NULL)) return 0; /* module torn down */
    if (lg != NULL) logger_id = logger_get_id(lg);
    if (r->map == NULL || level < atomic_load_explicit(r->level_ptr, memory_order_relaxed)) return 0;
    int64_t ts;
    uint32_t tid;
    if (UNLIKELY(r->fixed)) {
        ts = (r->fixed & 1) ? r->fixed_ts : now_ns();
        tid = (r->fixed & 2) ? r->fixed_tid : thread_tid();
    } else {
        ts = now_ns();
        tid = thread_tid();
    }
    int rc = 0;
    field_t stackf[STACK_FIELDS];
    field_t *fs = stackf;
    Py_ssize_t nf = 0, i;
    PyObject *text = msg, *msg_text = NULL, *msg_bytes = NULL;
    /* Phase 1: bytes for everything. Python code may run (and log, or even unmap the ring). */
    if (UNLIKELY(!PyUnicode_CheckExact(msg))) {
        msg_text = obj_text(st, msg);
        text = msg_text;
    }
    if (UNLIKELY(r->map == NULL)) goto out;
    uint8_t rflags = 0;
    nf = npos + nkw;
    if (UNLIKELY(nf > MAX_FIELDS)) {
        nf = MAX_FIELDS;
        rflags = RF_FIELDS_CUT;
    }
    const uint32_t max_str = ld32(r->map + H_MAX_STR);
    if (UNLIKELY(nf > STACK_FIELDS)) {
        fs = PyMem_Malloc((size_t)nf * sizeof(field_t));
        if (fs == NULL) {
            nf = 0;
            fs = stackf;
            PyErr_NoMemory();
            rc = -1;
            goto out;
        }
    }
    for (i = 0; i < nf; i++) {
        field_t *f = &fs[i];
        PyObject *key, *val;
        if (i < npos) {
            key = PyTuple_GET_ITEM(st->arg_names, i);
            val = pos[i];
        } else {
            key = kwk[i - npos];
            val = kwv[i - npos];
        }
        f->ktmp1 = f->ktmp2 = f->vtmp1 = f->vtmp2 = NULL;
        if (UNLIKELY(!PyUnicode_CheckExact(key))) { /* a str subclass: intern an exact copy */
            f->ktmp1 = PyUnicode_Check(key) ? PyUnicode_FromObject(key) : PyObject_Str(key);
            if (f->ktmp1 == NULL || !PyUnicode_CheckExact(f->ktmp1)) {
                PyErr_Clear();
                Py_XDECREF(f->ktmp1);
                Py_INCREF(st->empty);
                f->ktmp1 = st->empty;
            }
            key = f->ktmp1;
        }
        f->key = key;
        encode_value(st, f, val, max_str);
    }
    if (UNLIKELY(r->map == NULL)) goto out;
    /* Interning: message, then keys in order (the twin's order). No Python code runs from here. */
    if (lg != NULL && UNLIKELY(lg->gen != r->gen)) logger_id = logger_get_id(lg); /* re-mapped */
    const char *mp = NULL;
    Py_ssize_t mn = 0;
    uint32_t msg_id = pcache_get(r, text, S_MESSAGE);
    if (UNLIKELY(msg_id == 0)) {
        if (!utf8_of(text, &mp, &mn, &msg_bytes)) {
            mp = "";
            mn = 0;
        }
        if (mn <= MAX_INTERNED_MESSAGE) msg_id = intern_raw(r, text, S_MESSAGE, mp, mn);
        if (msg_id == 0) {
            rflags |= RF_MSG_INLINE;
            if ((uint64_t)mn > max_str) {
                mn = (Py_ssize_t)cut_utf8(mp, max_str);
                rflags |= RF_MSG_CUT;
            }
        }
    }
    uint64_t body = (rflags & RF_MSG_INLINE) ? 4 + (uint64_t)mn : 0;
    for (i = 0; i < nf; i++) {
        field_t *f = &fs[i];
        uint32_t kid = pcache_get(r, f->key, S_KEY);
        if (UNLIKELY(kid == 0)) {
            const char *kp;
            Py_ssize_t kn;
            if (!utf8_of(f->key, &kp, &kn, &f->ktmp2)) {
                kp = "";
                kn = 0;
            }
            kid = intern_raw(r, f->key, S_KEY, kp, kn);
            if (kid == 0) {
                f->t |= T_KEY_INLINE;
                if (kn > 0xFFFF) kn = (Py_ssize_t)cut_utf8(kp, 0xFFFF);
                f->kp = kp;
                f->klen = (uint32_t)kn;
            }
        }
        f->kid = kid;
        body += (f->t & T_KEY_INLINE) ? 3 + (uint64_t)f->klen : 5;
        switch (f->t & KIND_MASK) {
        case K_INT:
        case K_FLOAT:
            body += 8;
            break;
        case K_STR:
        case K_BYTES:
        case K_OBJ:
            body += 4 + (uint64_t)f->vlen;
            break;
        default:
            break;
        }
    }
    /* Phase 2 */
    ring_commit(r, (REC_HEADER + body + 7) & ~(uint64_t)7, ts, tid, logger_id, msg_id, level, rflags, nf,
                mp, mn, fs);
out:
    for (i = 0; i < nf; i++) {
        field_t *f = &fs[i];
        Py_XDECREF(f->ktmp1);
        Py_XDECREF(f->ktmp2);
        Py_XDECREF(f->vtmp1);
        Py_XDECREF(f->vtmp2);
    }
    if (fs != stackf) PyMem_Free(fs);
    Py_XDECREF(msg_text);
    Py_XDECREF(msg_bytes);
    return rc;
}

/* ---- Ring ----------------------------------------------------------------------------------- */

/* PyRing.__init__: unmapped */
static void ring_init_fields(RingObject *r, PyObject *module) {
    Py_INCREF(module);
    r->module = module;
    r->st = (modstate *)PyModule_GetState(module);
    atomic_init(&r->off_level, LEVEL_OFF);
    r->level_ptr = &r->off_level;
}

/* Ring() */
static PyObject *Ring_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "Ring() takes no arguments");
        return NULL;
    }
    PyObject *module = PyType_GetModuleByDef(type, &ring_moduledef);
    if (module == NULL) return NULL;
    RingObject *r = (RingObject *)type->tp_alloc(type, 0);
    if (r == NULL) return NULL;
    ring_init_fields(r, module);
    return (PyObject *)r;
}

/* PyRing.unmap() */
static void ring_do_unmap(RingObject *r) {
    if (r->map != NULL) munmap(r->map, r->map_size);
    r->map = NULL;
    r->data = r->strtab = NULL;
    r->map_size = 0;
    r->level_ptr = &r->off_level;
    Py_CLEAR(r->path);
    r->gen++;
    pcache_clear(r);
}

/* gc: a Ring refers to its type and module (the intern caches hold only str and int) */
static int Ring_traverse(RingObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->module);
    return 0;
}

/* Ring.__del__: unmap and release the caches */
static void Ring_dealloc(RingObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->map != NULL) munmap(self->map, self->map_size);
    self->map = NULL;
    clear_strings(self);
    Py_CLEAR(self->path);
    Py_CLEAR(self->module);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* Ring.unmap() */
static PyObject *Ring_unmap(RingObject *self, PyObject *Py_UNUSED(ignored)) {
    ring_do_unmap(self);
    Py_RETURN_NONE;
}

/* an int attribute of the Geometry read_geometry returned */
static PyObject *geo_u64(PyObject *geo, const char *name, uint64_t *out) {
    PyObject *v = PyObject_GetAttrString(geo, name);
    if (v == NULL) return NULL;
    *out = PyLong_AsUnsignedLongLong(v);
    Py_DECREF(v);
    if (PyErr_Occurred()) return NULL;
    return geo;
}

/* Ring.map(path): PyRing.map (open_ring_map + read_geometry + _load_strings) */
static PyObject *Ring_map(RingObject *self, PyObject *path) {
    modstate *st = self->st;
    ring_do_unmap(self);
    if (load_ring_module(st) < 0) return NULL;
    PyObject *fs = PyOS_FSPath(path);
    if (fs == NULL) return NULL;
    PyObject *enc = NULL, *shown = NULL, *name = NULL, *mv = NULL, *geo = NULL;
    uint8_t *m = NULL;
    size_t size = 0;
    int fd = -1;
    if (!PyUnicode_FSConverter(fs, &enc)) goto fail;
    if ((shown = PyObject_Format(path, st->empty)) == NULL) goto fail;
    do {
        fd = open(PyBytes_AS_STRING(enc), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        PyErr_Format(st->ring_error, "%U: cannot open ring: %s", shown, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto fail;
    }
    if (sb.st_size < HEADER_SIZE) {
        PyErr_Format(st->ring_error, "%U: not a ttlog ring (file too small)", shown);
        goto fail;
    }
    size = (size_t)sb.st_size;
    /* MAP_POPULATE maps every page now: the first lap of the ring then takes no page faults,
       which would otherwise put a microsecond into one log call in seventy. */
    int map_flags = MAP_SHARED;
#ifdef MAP_POPULATE
    map_flags |= MAP_POPULATE;
#endif
    m = mmap(NULL, size, PROT_READ | PROT_WRITE, map_flags, fd, 0);
    if (m == MAP_FAILED) {
        m = NULL;
        PyErr_SetFromErrno(PyExc_OSError);
        goto fail;
    }
    close(fd);
    fd = -1;
    if ((name = PyObject_Str(path)) == NULL) goto fail;
    if ((mv = PyMemoryView_FromMemory((char *)m, (Py_ssize_t)size, PyBUF_READ)) == NULL) goto fail;
    geo = PyObject_CallFunction(st->read_geometry, "OOn", mv, name, (Py_ssize_t)size);
    {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb); /* read_geometry's error, if any */
        PyObject *rel = PyObject_CallMethodNoArgs(mv, st->str_release); /* no dangling view */
        Py_XDECREF(rel);
        if (rel == NULL && et == NULL) goto fail;
        if (rel == NULL) PyErr_Clear();
        PyErr_Restore(et, ev, tb);
    }
    if (geo == NULL) goto fail;
    uint64_t file_size, st_off, st_cap, data_off, cap;
    if (!geo_u64(geo, "file_size", &file_size) || !geo_u64(geo, "strtab_off", &st_off) ||
        !geo_u64(geo, "strtab_cap", &st_cap) || !geo_u64(geo, "data_off", &data_off) ||
        !geo_u64(geo, "capacity", &cap))
        goto fail;
    if (file_size > size || st_off + st_cap > data_off || data_off + cap > size) {
        PyErr_Format(st->ring_error, "%S: ring header is inconsistent (truncated or corrupt file)", name);
        goto fail;
    }
    clear_strings(self);
    self->map = m;
    self->map_size = size;
    self->data = m + data_off;
    self->strtab = m + st_off;
    self->cap = cap;
    self->mask = cap - 1;
    self->strtab_cap = st_cap;
    self->read_cache = 0;
    self->level_ptr = (_Atomic uint32_t *)(void *)(m + H_MIN_LEVEL);
    m = NULL;
    if (load_strings(self) < 0) {
        ring_do_unmap(self);
        goto fail;
    }
    self->gen++;
    self->path = fs;
    fs = NULL;
    Py_DECREF(enc);
    Py_DECREF(shown);
    Py_DECREF(name);
    Py_DECREF(mv);
    Py_DECREF(geo);
    Py_RETURN_NONE;
fail:
    if (fd >= 0) close(fd);
    if (m != NULL) munmap(m, size);
    Py_XDECREF(fs);
    Py_XDECREF(enc);
    Py_XDECREF(shown);
    Py_XDECREF(name);
    Py_XDECREF(mv);
    Py_XDECREF(geo);
    return NULL;
}

/* Ring.mapped */
static PyObject *Ring_get_mapped(RingObject *self, void *Py_UNUSED(c)) { return PyBool_FromLong(self->map != NULL); }

/* Ring.min_level */
static PyObject *Ring_get_min_level(RingObject *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLong(atomic_load_explicit(self->level_ptr, memory_order_relaxed));
}

/* Ring.generation */
static PyObject *Ring_get_generation(RingObject *self, void *Py_UNUSED(c)) { return PyLong_FromUnsignedLongLong(self->gen); }

/* Ring.path */
static PyObject *Ring_get_path(RingObject *self, void *Py_UNUSED(c)) {
    PyObject *p = self->path ? self->path : Py_None;
    Py_INCREF(p);
    return p;
}

/* an int argument in 0..max (struct.pack_into's range check) */
static int u64_arg(PyObject *o, uint64_t max, uint64_t *out) {
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "an int is required, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    if (v > max) {
        PyErr_SetString(PyExc_OverflowError, "value out of range");
        return -1;
    }
    *out = v;
    return 0;
}

/* Ring.set_level(level) */
static PyObject *Ring_set_level(RingObject *self, PyObject *arg) {
    uint64_t v;
    if (u64_arg(arg, 0xFFFFFFFFu, &v) < 0) return NULL;
    if (self->map != NULL)
        atomic_store_explicit((_Atomic uint32_t *)(void *)(self->map + H_MIN_LEVEL), (uint32_t)v,
                              memory_order_release);
    Py_RETURN_NONE;
}

/* an offset argument: width bytes from it must lie in the mapped file */
static int header_off(RingObject *self, PyObject *o, size_t width, size_t *off) {
    uint64_t v;
    if (u64_arg(o, UINT64_MAX, &v) < 0) return -1;
    if (v + width > self->map_size || v > self->map_size) {
        PyErr_Format(PyExc_ValueError, "offset %llu out of range", (unsigned long long)v);
        return -1;
    }
    *off = (size_t)v;
    return 0;
}

/* Ring.header_u64(off) */
static PyObject *Ring_header_u64(RingObject *self, PyObject *arg) {
    size_t off;
    if (self->map == NULL) {
        if (!PyLong_Check(arg)) return PyErr_Format(PyExc_TypeError, "an int is required");
        return PyLong_FromLong(0);
    }
    if (header_off(self, arg, 8, &off) < 0) return NULL;
    uint64_t v;
    if (off % 8 == 0) v = ld64_acq(self->map + off);
    else memcpy(&v, self->map + off, 8);
    return PyLong_FromUnsignedLongLong(v);
}

/* Ring.set_header_u32(off, value) */
static PyObject *Ring_set_header_u32(RingObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "set_header_u32(off, value) takes 2 arguments");
    uint64_t v;
    size_t off;
    if (u64_arg(args[1], 0xFFFFFFFFu, &v) < 0) return NULL;
    if (self->map == NULL) Py_RETURN_NONE;
    if (header_off(self, args[0], 4, &off) < 0) return NULL;
    if (off % 4 == 0) st32_rel(self->map + off, (uint32_t)v);
    else put32(self->map + off, (uint32_t)v);
    self->read_cache = 0;
    Py_RETURN_NONE;
}

/* Ring.set_header_u64(off, value) */
static PyObject *Ring_set_header_u64(RingObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "set_header_u64(off, value) takes 2 arguments");
    uint64_t v;
    size_t off;
    if (u64_arg(args[1], UINT64_MAX, &v) < 0) return NULL;
    if (self->map == NULL) Py_RETURN_NONE;
    if (header_off(self, args[0], 8, &off) < 0) return NULL;
    if (off % 8 == 0) st64_rel(self->map + off, v);
    else put64(self->map + off, v);
    self->read_cache = 0; /* read_pos may have been set back: learn it again */
    Py_RETURN_NONE;
}

/* Ring._set_fixed(ts_ns, tid) */
static PyObject *Ring_set_fixed(RingObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "_set_fixed(ts_ns, tid) takes 2 arguments");
    int fixed = 0;
    int64_t ts = 0;
    uint64_t tid = 0;
    if (args[0] != Py_None) {
        long long v = PyLong_AsLongLong(args[0]);
        if (v == -1 && PyErr_Occurred()) return NULL;
        ts = v;
        fixed |= 1;
    }
    if (args[1] != Py_None) {
        if (u64_arg(args[1], 0xFFFFFFFFu, &tid) < 0) return NULL;
        fixed |= 2;
    }
    self->fixed_ts = ts;
    self->fixed_tid = (uint32_t)tid;
    self->fixed = fixed;
    Py_RETURN_NONE;
}

/* Ring.intern(text, kind=S_OTHER) */
static PyObject *Ring_intern(RingObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const kwlist[] = {"text", "kind", NULL};
    PyObject *text = NULL, *kindobj = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) return PyErr_Format(PyExc_TypeError, "intern() takes at most 2 arguments");
    if (nargs > 0) text = args[0];
    if (nargs > 1) kindobj = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot = NULL;
        if (PyUnicode_CompareWithASCIIString(k, kwlist[0]) == 0) slot = &text;
        else if (PyUnicode_CompareWithASCIIString(k, kwlist[1]) == 0) slot = &kindobj;
        if (slot == NULL || *slot != NULL)
            return PyErr_Format(PyExc_TypeError, "intern() got an unexpected or repeated argument %R", k);
        *slot = args[nargs + i];
    }
    if (text == NULL) return PyErr_Format(PyExc_TypeError, "intern() missing argument 'text'");
    if (!PyUnicode_Check(text))
        return PyErr_Format(PyExc_TypeError, "intern() needs a str, not %.100s", Py_TYPE(text)->tp_name);
    uint64_t kind = S_OTHER;
    if (kindobj != NULL && u64_arg(kindobj, 0xFFFFFFFFu, &kind) < 0) return NULL;
    PyObject *exact = PyUnicode_CheckExact(text) ? (Py_INCREF(text), text) : PyUnicode_FromObject(text);
    if (exact == NULL) return NULL;
    uint32_t id = intern_str(self, exact, (uint32_t)kind);
    Py_DECREF(exact);
    return PyLong_FromUnsignedLong(id);
}

/* Ring.write(logger_id, level, msg, args, fields) */
static PyObject *Ring_write(RingObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5)
        return PyErr_Format(PyExc_TypeError, "write(logger_id, level, msg, args, fields) takes 5 arguments");
    uint64_t logger_id;
    if (u64_arg(args[0], 0xFFFFFFFFu, &logger_id) < 0) return NULL;
    if (!PyLong_Check(args[1])) return PyErr_Format(PyExc_TypeError, "level must be an int");
    int overflow;
    long long level = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (level == -1 && PyErr_Occurred()) return NULL;
    if (self->map == NULL || overflow < 0 ||
        (overflow == 0 && level < (long long)atomic_load_explicit(self->level_ptr, memory_order_relaxed)))
        Py_RETURN_NONE;
    if (overflow > 0 || level > 255) return PyErr_Format(PyExc_ValueError, "level out of range 0..255");
    PyObject *tup = PySequence_Tuple(args[3]);
    if (tup == NULL) return NULL;
    PyObject *keys = NULL, *vals = NULL, *d = NULL, *res = NULL;
    if (PyDict_Check(args[4])) {
        d = args[4];
        Py_INCREF(d);
    } else {
        d = PyDict_New();
        if (d == NULL || PyDict_Update(d, args[4]) < 0) goto done;
    }
    if ((keys = PyDict_Keys(d)) == NULL || (vals = PyDict_Values(d)) == NULL) goto done;
    Py_ssize_t nkw = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(vals) != nkw) {
        PyErr_SetString(PyExc_RuntimeError, "fields changed size");
        goto done;
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(keys, i))) {
            PyErr_SetString(PyExc_TypeError, "field names must be str");
            goto done;
        }
    }
    if (ring_write(self, NULL, (uint32_t)logger_id, (uint32_t)level, args[2],
                   ((PyTupleObject *)tup)->ob_item, PyTuple_GET_SIZE(tup),
                   ((PyListObject *)keys)->ob_item, ((PyListObject *)vals)->ob_item, nkw) == 0) {
        Py_INCREF(Py_None);
        res = Py_None;
    }
done:
    Py_DECREF(tup);
    Py_XDECREF(d);
    Py_XDECREF(keys);
    Py_XDECREF(vals);
    return res;
}

static PyMethodDef Ring_methods[] = {
    {"map", (PyCFunction)Ring_map, METH_O,
     "map($self, path, /)\n--\n\nMap a ring file (read-write) and check its header; RingError (one line) if it "
     "is not a usable ring. A ring already mapped is unmapped first."},
    {"unmap", (PyCFunction)Ring_unmap, METH_NOARGS,
     "unmap($self, /)\n--\n\nUnmap the file; every log call is then a no-op."},
    {"intern", (PyCFunction)(void (*)(void))Ring_intern, METH_FASTCALL | METH_KEYWORDS,
     "intern($self, /, text, kind=4)\n--\n\nId of text in the ring's string table, adding it if there is room; "
     "0 if not."},
    {"write", (PyCFunction)(void (*)(void))Ring_write, METH_FASTCALL,
     "write($self, logger_id, level, msg, args, fields, /)\n--\n\nAppend one record (PyRing.write); never raises "
     "for anything in msg, args or fields."},
    {"set_level", (PyCFunction)Ring_set_level, METH_O,
     "set_level($self, level, /)\n--\n\nStore min_level in the header (no-op while unmapped)."},
    {"header_u64", (PyCFunction)Ring_header_u64, METH_O,
     "header_u64($self, off, /)\n--\n\nThe u64 at byte off of the mapped file; 0 while unmapped."},
    {"set_header_u32", (PyCFunction)(void (*)(void))Ring_set_header_u32, METH_FASTCALL,
     "set_header_u32($self, off, value, /)\n--\n\nStore a u32 in the mapped file (no-op while unmapped)."},
    {"set_header_u64", (PyCFunction)(void (*)(void))Ring_set_header_u64, METH_FASTCALL,
     "set_header_u64($self, off, value, /)\n--\n\nStore a u64 in the mapped file (no-op while unmapped)."},
    {"_set_fixed", (PyCFunction)(void (*)(void))Ring_set_fixed, METH_FASTCALL,
     "_set_fixed($self, ts_ns, tid, /)\n--\n\nTests: stamp every record with this time and thread id (None: "
     "the real one)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Ring_getset[] = {
    {"mapped", (getter)Ring_get_mapped, NULL, "Whether a ring file is mapped.", NULL},
    {"min_level", (getter)Ring_get_min_level, NULL,
     "The header's min_level (records below it are not written); 255 while unmapped.", NULL},
    {"generation", (getter)Ring_get_generation, NULL,
     "Bumped by map() and unmap(); loggers re-intern their name when it changes.", NULL},
    {"path", (getter)Ring_get_path, NULL, "The mapped path (as given to map()), or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Ring_slots[] = {
    {Py_tp_doc,
     "Ring()\n--\n\nThe producer side of a mapped ring (the C twin of ttlog.ring.PyRing).\n\n"
     "Made unmapped (every call is then a no-op), so loggers made before ttlog.init keep working "
     "once it maps a file."},
    {Py_tp_new, Ring_new},
    {Py_tp_dealloc, Ring_dealloc},
    {Py_tp_traverse, Ring_traverse},
    {Py_tp_methods, Ring_methods},
    {Py_tp_getset, Ring_getset},
    {0, NULL},
};

static PyType_Spec Ring_spec = {
    .name = "ttlog._ring.Ring",
    .basicsize = sizeof(RingObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Ring_slots,
};

/* ---- Logger --------------------------------------------------------------------------------- */

/* Logger.__new__(cls, *args, **kwargs): points at an unmapped ring until __init__ runs. */
static PyObject *Logger_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwds)) {
    PyObject *module = PyType_GetModuleByDef(type, &ring_moduledef);
    if (module == NULL) return NULL;
    modstate *st = (modstate *)PyModule_GetState(module);
    if (st->dead_ring == NULL || st->empty == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ttlog._ring is being torn down");
        return NULL;
    }
    LoggerObject *lg = (LoggerObject *)type->tp_alloc(type, 0);
    if (lg == NULL) return NULL;
    Py_INCREF(st->dead_ring);
    lg->ring = (RingObject *)st->dead_ring;
    Py_INCREF(st->empty);
    lg->name = st->empty;
    lg->gen = UINT64_MAX;
    return (PyObject *)lg;
}

/* Logger.__init__(ring, name) */
static int Logger_init(LoggerObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"ring", "name", NULL};
    PyObject *ring, *name;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Logger", kwlist, &ring, &name)) return -1;
    PyObject *module = PyType_GetModuleByDef(Py_TYPE(self), &ring_moduledef);
    if (module == NULL) return -1;
    modstate *st = (modstate *)PyModule_GetState(module);
    if (!PyObject_TypeCheck(ring, st->ring_type)) {
        PyErr_Format(PyExc_TypeError, "ring must be an ttlog._ring.Ring, not %.100s", Py_TYPE(ring)->tp_name);
        return -1;
    }
    PyObject *s = PyObject_Str(name);
    if (s == NULL) return -1;
    if (!PyUnicode_CheckExact(s)) Py_SETREF(s, PyUnicode_FromObject(s));
    if (s == NULL) return -1;
    Py_INCREF(ring);
    Py_SETREF(self->ring, (RingObject *)ring);
    Py_SETREF(self->name, s);
    self->id = 0;
    self->gen = UINT64_MAX;
    return 0;
}

/* gc: a Logger refers to its type, ring and name */
static int Logger_traverse(LoggerObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->ring);
    Py_VISIT(self->name);
    return 0;
}

/* Logger.__del__ (also the base part of a Python subclass's dealloc) */
static void Logger_dealloc(LoggerObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->ring);
    Py_CLEAR(self->name);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* The enabled path of Logger.<level>(msg="", *args, **fields): PyRing.write with this logger. */
static PyObject *logger_emit(LoggerObject *lg, uint32_t level, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames) {
    RingObject *r = lg->ring;
    if (UNLIKELY(r->map == NULL || r->st->empty == NULL)) Py_RETURN_NONE;
    PyObject *msg = r->st->empty;
    PyObject *const *pos = NULL;
    Py_ssize_t npos = 0, nkw = 0;
    PyObject *const *kwk = NULL, *const *kwv = NULL;
    if (nargs > 0) {
        msg = args[0];
        pos = args + 1;
        npos = nargs - 1;
    }
    if (kwnames != NULL && (nkw = PyTuple_GET_SIZE(kwnames)) > 0) {
        kwk = ((PyTupleObject *)kwnames)->ob_item;
        kwv = args + nargs;
    }
    if (UNLIKELY(ring_write(r, lg, 0, level, msg, pos, npos, kwk, kwv, nkw) < 0)) return NULL;
    Py_RETURN_NONE;
}

/* the disabled path is this compare, inline in every level method */
#define LEVEL_METHOD(NAME, LEVEL)                                                                       \
    static PyObject *Logger_##NAME(PyObject *self, PyObject *const *args, Py_ssize_t nargs,             \
                                   PyObject *kwnames) {                                                 \
        LoggerObject *lg = (LoggerObject *)self;                                                        \
        if ((LEVEL) < atomic_load_explicit(lg->ring->level_ptr, memory_order_relaxed)) Py_RETURN_NONE; \
        return logger_emit(lg, (LEVEL), args, nargs, kwnames);                                          \
    }

/* Logger.trace(msg="", *args, **fields) */
LEVEL_METHOD(trace, 5)
/* Logger.debug(msg="", *args, **fields) */
LEVEL_METHOD(debug, 10)
/* Logger.market_data(msg="", *args, **fields) */
LEVEL_METHOD(market_data, 15)
/* Logger.info(msg="", *args, **fields) */
LEVEL_METHOD(info, 20)
/* Logger.order(msg="", *args, **fields) */
LEVEL_METHOD(order, 21)
/* Logger.trade(msg="", *args, **fields) */
LEVEL_METHOD(trade, 22)
/* Logger.portfolio(msg="", *args, **fields) */
LEVEL_METHOD(portfolio, 23)
/* Logger.risk(msg="", *args, **fields) */
LEVEL_METHOD(risk, 25)
/* Logger.warn(msg="", *args, **fields) and Logger.warning(...) */
LEVEL_METHOD(warn, 30)
/* Logger.error(msg="", *args, **fields) */
LEVEL_METHOD(error, 40)
/* Logger.critical(msg="", *args, **fields) */
LEVEL_METHOD(critical, 50)

/* level_value(level), INFO if that raises; for Logger.log */
static uint32_t level_of(modstate *st, PyObject *lv) {
    if (PyLong_CheckExact(lv)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(lv, &overflow);
        if (overflow == 0 && v >= 0 && v < LEVEL_OFF) return (uint32_t)v;
        PyErr_Clear();
        return LEVEL_INFO; /* level_value raises "out of range" */
    }
    if (st->level_value == NULL && load_ring_module(st) < 0) {
        PyErr_Clear();
        return LEVEL_INFO;
    }
    PyObject *res = PyObject_CallOneArg(st->level_value, lv);
    uint32_t out = LEVEL_INFO;
    if (res != NULL && PyLong_Check(res)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(res, &overflow);
        if (overflow == 0 && v >= 0 && v < LEVEL_OFF) out = (uint32_t)v;
    }
    Py_XDECREF(res);
    PyErr_Clear();
    return out;
}

/* Logger.log(level, msg, *args, **fields) */
static PyObject *Logger_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    LoggerObject *lg = (LoggerObject *)self;
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "log() needs a level and a message: log(level, msg, *args, **fields)");
        return NULL;
    }
    RingObject *r = lg->ring;
    if (r->map == NULL) Py_RETURN_NONE;
    uint32_t level = level_of(r->st, args[0]);
    if (level < atomic_load_explicit(lg->ring->level_ptr, memory_order_relaxed)) Py_RETURN_NONE;
    return logger_emit(lg, level, args + 1, nargs - 1, kwnames);
}

/* Logger.is_enabled_for(level) */
static PyObject *Logger_is_enabled_for(PyObject *self, PyObject *level) {
    LoggerObject *lg = (LoggerObject *)self;
    uint32_t min = atomic_load_explicit(lg->ring->level_ptr, memory_order_relaxed);
    if (PyLong_CheckExact(level)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(level, &overflow);
        if (overflow == 0 && !(v == -1 && PyErr_Occurred())) return PyBool_FromLong(v >= (long long)min);
        PyErr_Clear();
    }
    PyObject *m = PyLong_FromUnsignedLong(min);
    if (m == NULL) return NULL;
    PyObject *res = PyObject_RichCompare(level, m, Py_GE);
    Py_DECREF(m);
    return res;
}

/* Logger.name */
static PyObject *Logger_get_name(LoggerObject *self, void *Py_UNUSED(c)) {
    Py_INCREF(self->name);
    return self->name;
}

/* Logger.ring */
static PyObject *Logger_get_ring(LoggerObject *self, void *Py_UNUSED(c)) {
    Py_INCREF(self->ring);
    return (PyObject *)self->ring;
}

#define LEVEL_DOC(NAME, LEVEL)                                                                          \
    #NAME "($self, msg='', /, *args, **fields)\n--\n\nWrite one record at level " #LEVEL                \
          " (a compare and nothing else when the level is disabled). Positional args are stored as "   \
          "fields arg0, arg1, ...; never raises for odd values."
#define LEVEL_ENTRY(NAME, FUNC, LEVEL)                                                                  \
    {#NAME, (PyCFunction)(void (*)(void))Logger_##FUNC, METH_FASTCALL | METH_KEYWORDS, LEVEL_DOC(NAME, LEVEL)}

static PyMethodDef Logger_methods[] = {
    LEVEL_ENTRY(trace, trace, 5),
    LEVEL_ENTRY(debug, debug, 10),
    LEVEL_ENTRY(market_data, market_data, 15),
    LEVEL_ENTRY(info, info, 20),
    LEVEL_ENTRY(order, order, 21),
    LEVEL_ENTRY(trade, trade, 22),
    LEVEL_ENTRY(portfolio, portfolio, 23),
    LEVEL_ENTRY(risk, risk, 25),
    LEVEL_ENTRY(warn, warn, 30),
    LEVEL_ENTRY(warning, warn, 30),
    LEVEL_ENTRY(error, error, 40),
    LEVEL_ENTRY(critical, critical, 50),
    {"log", (PyCFunction)(void (*)(void))Logger_log, METH_FASTCALL | METH_KEYWORDS,
     "log($self, level, msg, /, *args, **fields)\n--\n\nWrite one record at level (an int 0..255 or a name "
     "such as 'warn'; anything else is INFO)."},
    {"is_enabled_for", (PyCFunction)Logger_is_enabled_for, METH_O,
     "is_enabled_for($self, level, /)\n--\n\nWhether a record at level would be written now."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Logger_getset[] = {
    {"name", (getter)Logger_get_name, NULL, "The logger's name.", NULL},
    {"ring", (getter)Logger_get_ring, NULL, "The Ring the logger writes to.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Logger_slots[] = {
    {Py_tp_doc,
     "Logger(ring, name)\n--\n\nA named logger over a Ring (the C twin of ttlog.ring.PyLogger).\n\n"
     "log.info(msg, *args, **fields) and its siblings (trace, debug, market_data, order, trade, "
     "portfolio, risk, warn, warning, error, critical) write one record; positional args are stored "
     "as fields arg0, arg1, ... Subclassable."},
    {Py_tp_new, Logger_new},
    {Py_tp_init, Logger_init},
    {Py_tp_dealloc, Logger_dealloc},
    {Py_tp_traverse, Logger_traverse},
    {Py_tp_methods, Logger_methods},
    {Py_tp_getset, Logger_getset},
    {0, NULL},
};

static PyType_Spec Logger_spec = {
    .name = "ttlog._ring.Logger",
    .basicsize = sizeof(LoggerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Logger_slots,
};

/* ---- decode --------------------------------------------------------------------------------- */
/* decode(buf, start_pos): reader.py_decode in C. Each record is checked field by field first (the
 * same checks as py_decode, in the same order, with the same error texts), then appended to the
 * columns; a record laid out like one seen before (a template, below) is appended without the
 * checks, which it passes by construction. The columns are bytearrays written in place: the
 * per-record ones are sized once from an upper bound on the record count (every record is at
 * least REC_HEADER bytes), a field column grows by doubling, and each is given its size at the
 * end; large ones come from, and go back to, a pool (below). Nothing is copied twice, and no
 * Python object is made per record beyond what the result holds (inline messages, fields_cut
 * rows, bytes values, and each distinct str/obj value of a column, once: the dedupe table is C).
 * A field finds its column through a per-position cache (the i-th field of a record usually has
 * the key and kind the i-th field of the record before had), else through a hash map of (key
 * id, kind). */

/* an unaligned little-endian load in record bytes */
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The pool of output bytearrays. A decode hands its columns out as new bytearrays; fresh memory
 * costs a page fault per 4 KiB written, which is most of a decode's time when the columns are
 * large. So the pool keeps a reference to each large column it hands out, and once the caller
 * has dropped it (the pool's is the only reference left, so nothing can see it or hold a
 * buffer export of it) a later decode writes into it again: a sidecar drains, snapshots and
 * drops its batches over and over, and reuses the same memory each time. A free bytearray
 * that no sizeable decode has wanted for POOL_AGE of them is let go. */
#define POOL_SIZE 256            /* bytearrays tracked */
#define POOL_AGE 64              /* sizeable decodes a free bytearray may wait unused */
#define POOL_MIN (64u << 10)     /* smaller columns are not worth keeping */
#define POOL_BYTES (256u << 20)  /* most bytes kept in free bytearrays */
typedef struct {
    PyObject *ba[POOL_SIZE];
    uint64_t used[POOL_SIZE]; /* clock when last handed out */
    uint64_t clock;           /* sizeable decodes so far */
} bpool;

/* bytes a bytearray can hold without reallocating */
static inline size_t ba_room(PyObject *ba) {
    const PyByteArrayObject *o = (const PyByteArrayObject *)ba;
    return o->ob_alloc > 0 ? (size_t)o->ob_alloc - 1 - (size_t)(o->ob_start - o->ob_bytes) : 0;
}

/* free: only the pool refers to it */
static inline int pool_free_slot(const bpool *pl, int i) { return pl->ba[i] != NULL && Py_REFCNT(pl->ba[i]) == 1; }

/* a sizeable decode starts: age the pool, let go of what has been free too long */
static void pool_tick(bpool *pl) {
    pl->clock++;
    for (int i = 0; i < POOL_SIZE; i++)
        if (pool_free_slot(pl, i) && pl->clock - pl->used[i] > POOL_AGE) Py_CLEAR(pl->ba[i]);
}

/* a free pooled bytearray with room for need bytes but not much more than hint (a small column
 * does not tie up a large bytearray): the smallest with room for hint, else the largest; a new
 * reference, or NULL (no error) if none */
static PyObject *pool_take(bpool *pl, size_t need, size_t hint) {
    if (hint < POOL_MIN) return NULL;
    int best = -1;
    size_t best_room = 0;
    for (int i = 0; i < POOL_SIZE; i++) {
        if (!pool_free_slot(pl, i)) continue;
        const size_t room = ba_room(pl->ba[i]);
        if (room < need || room / 2 > hint) continue;
        if (best < 0 || (room >= hint ? best_room < hint || room < best_room : best_room < hint && room > best_room)) {
            best = i;
            best_room = room;
        }
    }
    if (best < 0) return NULL;
    pl->used[best] = pl->clock;
    Py_INCREF(pl->ba[best]);
    return pl->ba[best];
}

/* keep a reference to a bytearray being handed out; 1 if kept */
static int pool_keep(bpool *pl, PyObject *ba) {
    if (ba_room(ba) < POOL_MIN) return 0;
    int slot = -1;
    size_t free_bytes = ba_room(ba);
    for (int i = 0; i < POOL_SIZE; i++) {
        if (pl->ba[i] == NULL) {
            if (slot < 0 || pl->ba[slot] != NULL) slot = i;
        } else if (pool_free_slot(pl, i)) {
            free_bytes += ba_room(pl->ba[i]);
            if (slot < 0 || (pl->ba[slot] != NULL && pl->used[i] < pl->used[slot])) slot = i; /* the oldest */
        }
    }
    if (slot < 0 || free_bytes > POOL_BYTES) return 0;
    Py_INCREF(ba);
    Py_XSETREF(pl->ba[slot], ba);
    pl->used[slot] = pl->clock;
    return 1;
}

static void pool_clear(bpool *pl) {
    if (pl == NULL) return;
    for (int i = 0; i < POOL_SIZE; i++) Py_CLEAR(pl->ba[i]);
}

/* an output column: a bytearray whose first n bytes are filled (NULL until the first byte) */
typedef struct {
    PyObject *ba;
    uint8_t *p;
    size_t n, cap;
    bpool *pool;  /* where to look for a bytearray first (NULL: nowhere) */
    size_t hint;  /* the bytes it may come to need, for the pick from the pool */
    int pooled;   /* ba came from the pool (the pool refers to it already) */
} obuf;

/* make or grow the bytearray to hold at least need more bytes */
static int ob_grow(obuf *b, size_t need) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->n + need) cap *= 2;
    if (cap > (size_t)PY_SSIZE_T_MAX) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->ba == NULL) {
        PyObject *ba = b->pool ? pool_take(b->pool, cap, b->hint > cap ? b->hint : cap) : NULL;
        if (ba != NULL) {
            b->ba = ba;
            b->pooled = 1;
            if (ba_room(ba) > cap) cap = ba_room(ba);
            if (PyByteArray_Resize(ba, (Py_ssize_t)cap) < 0) return -1;
        } else if ((b->ba = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)cap)) == NULL) {
            return -1;
        }
    } else if (PyByteArray_Resize(b->ba, (Py_ssize_t)cap) < 0) {
        return -1;
    }
    b->p = (uint8_t *)PyByteArray_AS_STRING(b->ba);
    b->cap = cap;
    return 0;
}

/* room for need more bytes */
static inline int ob_room(obuf *b, size_t need) { return LIKELY(b->n + need <= b->cap) ? 0 : ob_grow(b, need); }

static inline int ob_put32(obuf *b, uint32_t v) {
    if (ob_room(b, 4) < 0) return -1;
    put32(b->p + b->n, v);
    b->n += 4;
    return 0;
}

/* the filled bytes as a bytearray of their own size (new reference); b is left empty. One the
 * pool keeps keeps its memory for the next decode (its size is set, its allocation left alone);
 * another is cut to size. */
static PyObject *ob_finish(obuf *b) {
    PyObject *ba = b->ba;
    const size_t n = b->n;
    const int keep = ba != NULL && (b->pooled || (b->pool != NULL && pool_keep(b->pool, ba)));
    *b = (obuf){0};
    if (ba == NULL) return PyByteArray_FromStringAndSize(NULL, 0);
    if (keep) { /* PyByteArray_Resize's own way to shrink a little: size, then the NUL */
        Py_SET_SIZE(ba, (Py_ssize_t)n);
        ((PyByteArrayObject *)ba)->ob_start[n] = '\0';
    } else if (PyByteArray_Resize(ba, (Py_ssize_t)n) < 0) {
        Py_DECREF(ba);
        return NULL;
    }
    return ba;
}

static void ob_free(obuf *b) {
    Py_XDECREF(b->ba);
    *b = (obuf){0};
}

enum { KN_INT, KN_FLOAT, KN_BOOL, KN_NONE, KN_STR, KN_BYTES, KN_OBJ };
/* KIND_NAMES in reader.py: field kind -> column kind (-1: not a kind) */
static const int8_t kind_to_kn[16] = {-1, KN_INT, KN_FLOAT, KN_BOOL, KN_BOOL, KN_NONE, KN_STR, KN_BYTES,
                                      KN_OBJ, -1, -1, -1, -1, -1, -1, -1};

/* an entry of a str/obj column's dedupe table: raw UTF-8 (in buf) -> code */
typedef struct {
    uint64_t h;
    const uint8_t *p;
    uint32_t len;
    uint32_t code1; /* code + 1; 0: empty slot */
} sent;

typedef struct {
    PyObject *key;  /* (key_ref, kind_name) */
    int kn;
    uint32_t last1; /* last row + 1, 0: no row yet */
    obuf rows, vals, cuts;
    PyObject *list; /* uniques (str/obj) or values (bytes) */
    sent *tab;      /* str/obj: raw bytes -> code */
    size_t tab_mask, tab_n;
    const uint8_t *lim; /* the end of buf: how far a value's bytes may be read past */
} column_t;

/* (key id, kind) -> column: a slot of the hash map, and of the per-position cache */
typedef struct {
    uint64_t key1; /* ((id << 3) | kn) + 1; 0: empty */
    uint32_t col;
} idslot;

/* one field of the record being decoded, as checked */
typedef struct {
    const uint8_t *kp, *vp; /* inline key text (NULL: key by id); value bytes */
    uint32_t kid, klen, vlen;
    uint8_t t;              /* the type byte */
    int8_t kn;              /* column kind */
} dfield;

typedef struct {
    modstate *st;
    bpool *pool;   /* for the columns' bytearrays (may be NULL) */
    uint64_t nmax; /* most records buf can hold: what a column may come to hold */
    const uint8_t *lim; /* the end of buf */
    column_t *cols;
    size_t ncols, capcols;
    idslot *ids;
    size_t ids_mask, ids_n;
    PyObject *inline_cols; /* (text, kind_name) -> column index, for inline keys */
} colset;

/* a fast 64-bit hash of raw bytes (str dictionaries) */
static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 32;
    return h;
}

/* the hash of a (key id, kind) word */
static inline size_t hash_key1(uint64_t key1) {
    uint64_t h = key1 * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29));
}

/* reader._append's `columns[ck] = (bytearray(), values, [])` */
static int new_column(colset *cs, PyObject *keyref, int kn, uint32_t *out) {
    if (cs->ncols == cs->capcols) {
        size_t c = cs->capcols ? cs->capcols * 2 : 16;
        column_t *nc = PyMem_Realloc(cs->cols, c * sizeof(column_t));
        if (nc == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        cs->cols = nc;
        cs->capcols = c;
    }
    PyObject *key = PyTuple_Pack(2, keyref, cs->st->kind_names[kn]);
    if (key == NULL) return -1;
    PyObject *list = NULL;
    if (kn == KN_STR || kn == KN_OBJ || kn == KN_BYTES) {
        if ((list = PyList_New(0)) == NULL) {
            Py_DECREF(key);
            return -1;
        }
    }
    column_t *c = &cs->cols[cs->ncols];
    memset(c, 0, sizeof *c);
    static const uint8_t width[] = {[KN_INT] = 8, [KN_FLOAT] = 8, [KN_BOOL] = 1, [KN_STR] = 4, [KN_OBJ] = 4};
    c->rows.pool = c->vals.pool = cs->pool;
    c->rows.hint = 4 * cs->nmax;
    c->vals.hint = width[kn] * cs->nmax;
    c->key = key;
    c->kn = kn;
    c->list = list;
    c->lim = cs->lim;
    *out = (uint32_t)cs->ncols++;
    return 0;
}

/* grow (or make) the open-addressing map (key id, kind) -> column */
static int ids_grow(colset *cs) {
    size_t cap = cs->ids ? (cs->ids_mask + 1) * 2 : 64;
    idslot *t = PyMem_Calloc(cap, sizeof(idslot));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (cs->ids != NULL) {
        for (size_t i = 0; i <= cs->ids_mask; i++) {
            if (!cs->ids[i].key1) continue;
            size_t j = hash_key1(cs->ids[i].key1) & (cap - 1);
            while (t[j].key1) j = (j + 1) & (cap - 1);
            t[j] = cs->ids[i];
        }
        PyMem_Free(cs->ids);
    }
    cs->ids = t;
    cs->ids_mask = cap - 1;
    return 0;
}

/* the column of (key id, kind), found in the map or made */
static int id_column(colset *cs, uint64_t key1, uint32_t kid, int kn, uint32_t *out) {
    if (cs->ids == NULL && ids_grow(cs) < 0) return -1;
    size_t j = hash_key1(key1) & cs->ids_mask;
    while (cs->ids[j].key1) {
        if (cs->ids[j].key1 == key1) {
            *out = cs->ids[j].col;
            return 0;
        }
        j = (j + 1) & cs->ids_mask;
    }
    PyObject *ref = PyLong_FromUnsignedLong(kid);
    if (ref == NULL) return -1;
    int rc = new_column(cs, ref, kn, out);
    Py_DECREF(ref);
    if (rc < 0) return -1;
    cs->ids[j].key1 = key1;
    cs->ids[j].col = *out;
    if (++cs->ids_n * 2 > cs->ids_mask + 1 && ids_grow(cs) < 0) return -1;
    return 0;
}

/* the column of (inline key text, kind) */
static int text_column(colset *cs, const uint8_t *kp, uint32_t klen, int kn, uint32_t *out) {
    PyObject *text = PyUnicode_DecodeUTF8((const char *)kp, klen, "replace");
    if (text == NULL) return -1;
    PyObject *key = PyTuple_Pack(2, text, cs->st->kind_names[kn]);
    int rc = -1;
    if (key == NULL) goto done;
    if (cs->inline_cols == NULL && (cs->inline_cols = PyDict_New()) == NULL) goto done;
    PyObject *idx = PyDict_GetItemWithError(cs->inline_cols, key);
    if (idx != NULL) {
        *out = (uint32_t)PyLong_AsUnsignedLong(idx);
        rc = 0;
        goto done;
    }
    if (PyErr_Occurred() || new_column(cs, text, kn, out) < 0) goto done;
    PyObject *v = PyLong_FromUnsignedLong(*out);
    if (v == NULL) goto done;
    rc = PyDict_SetItem(cs->inline_cols, key, v);
    Py_DECREF(v);
done:
    Py_DECREF(text);
    Py_XDECREF(key);
    return rc;
}

/* the slot of a dedupe hash in a table */
static inline size_t str_slot(uint64_t h) { return (size_t)(h ^ (h >> 31)); }

/* double a str/obj column's dedupe table */
static int str_tab_grow(column_t *c) {
    size_t cap = (c->tab_mask + 1) * 2;
    sent *t = PyMem_Calloc(cap, sizeof(sent));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= c->tab_mask; i++) {
        if (!c->tab[i].code1) continue;
        size_t k = str_slot(c->tab[i].h) & (cap - 1);
        while (t[k].code1) k = (k + 1) & (cap - 1);
        t[k] = c->tab[i];
    }
    PyMem_Free(c->tab);
    c->tab = t;
    c->tab_mask = cap - 1;
    return 0;
}

/* the dictionary code of a str/obj value (a new distinct value is decoded once). A value of at
 * most 8 bytes is hashed as its bytes in one word times an odd constant, which is one-to-one:
 * equal hashes and lengths then mean equal bytes, with no compare. */
static int str_code(column_t *c, const uint8_t *p, uint32_t n, uint32_t *code) {
    if (c->tab == NULL) {
        if ((c->tab = PyMem_Calloc(16, sizeof(sent))) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        c->tab_mask = 15;
    }
    uint64_t h;
    if (n <= 8) {
        uint64_t w = 0;
        if (c->lim - p >= 8) { /* one load (the bytes after the value are buf's too) */
            w = get64(p);
            if (n < 8) w &= ((uint64_t)1 << (8 * n)) - 1;
        } else {
            memcpy(&w, p, n);
        }
        h = w * 0x9E3779B97F4A7C15ull;
    } else {
        h = hash_bytes(p, n);
    }
    size_t j = str_slot(h) & c->tab_mask;
    while (c->tab[j].code1) {
        sent *e = &c->tab[j];
        if (e->h == h && e->len == n && (n <= 8 || memcmp(e->p, p, n) == 0)) {
            *code = e->code1 - 1;
            return 0;
        }
        j = (j + 1) & c->tab_mask;
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, "replace");
    if (s == NULL) return -1;
    uint32_t nc = (uint32_t)PyList_GET_SIZE(c->list);
    int rc = PyList_Append(c->list, s);
    Py_DECREF(s);
    if (rc < 0) return -1;
    c->tab[j] = (sent){h, p, n, nc + 1};
    *code = nc;
    if (++c->tab_n * 2 > c->tab_mask + 1) return str_tab_grow(c);
    return 0;
}

/* the value of d into the last slot of c (replace) or a new one */
static int column_value_put(column_t *c, const dfield *d, int replace) {
    switch (c->kn) {
    case KN_INT:
    case KN_FLOAT:
        if (replace) {
            memcpy(c->vals.p + c->vals.n - 8, d->vp, 8);
        } else {
            if (ob_room(&c->vals, 8) < 0) return -1;
            memcpy(c->vals.p + c->vals.n, d->vp, 8);
            c->vals.n += 8;
        }
        return 0;
    case KN_BOOL: {
        uint8_t v = (d->t & KIND_MASK) == K_TRUE;
        if (replace) {
            c->vals.p[c->vals.n - 1] = v;
        } else {
            if (ob_room(&c->vals, 1) < 0) return -1;
            c->vals.p[c->vals.n++] = v;
        }
        return 0;
    }
    case KN_STR:
    case KN_OBJ: {
        uint32_t code;
        if (str_code(c, d->vp, d->vlen, &code) < 0) return -1;
        if (replace) put32(c->vals.p + c->vals.n - 4, code);
        else if (ob_put32(&c->vals, code) < 0) return -1;
        return 0;
    }
    case KN_BYTES: {
        PyObject *b = PyBytes_FromStringAndSize((const char *)d->vp, d->vlen);
        if (b == NULL) return -1;
        if (replace) return PyList_SetItem(c->list, PyList_GET_SIZE(c->list) - 1, b);
        int rc = PyList_Append(c->list, b);
        Py_DECREF(b);
        return rc;
    }
    default: /* none */
        return 0;
    }
}

/* reader._append(...): one value into its column; a second value of the same key and kind in the
 * same row replaces the first. */
static inline int column_append(column_t *c, uint32_t row, const dfield *d) {
    const int replace = c->last1 == row + 1;
    if (UNLIKELY(replace)) {
        if (c->cuts.n >= 4 && get32(c->cuts.p + c->cuts.n - 4) == row) c->cuts.n -= 4;
    } else {
        if (ob_put32(&c->rows, row) < 0) return -1;
        c->last1 = row + 1;
    }
    if (UNLIKELY(d->t & T_CUT) && ob_put32(&c->cuts, row) < 0) return -1;
    if (LIKELY(!replace) && c->kn <= KN_FLOAT) { /* int, float: the common case, inline */
        if (ob_room(&c->vals, 8) < 0) return -1;
        memcpy(c->vals.p + c->vals.n, d->vp, 8);
        c->vals.n += 8;
        return 0;
    }
    return column_value_put(c, d, replace);
}

/* a list of ints from a buffer of u32 */
static PyObject *u32_list(const obuf *b) {
    Py_ssize_t n = (Py_ssize_t)(b->n / 4);
    PyObject *l = PyList_New(n);
    if (l == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(get32(b->p + 4 * i));
        if (v == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, v);
    }
    return l;
}

/* (rows, values, cut_rows) of one column, as py_decode returns it; the buffers are handed over */
static PyObject *column_result(column_t *c) {
    PyObject *rows = NULL, *vals = NULL, *cuts = NULL;
    if ((cuts = u32_list(&c->cuts)) == NULL || (rows = ob_finish(&c->rows)) == NULL) goto fail;
    switch (c->kn) {
    case KN_NONE:
        Py_INCREF(Py_None);
        vals = Py_None;
        break;
    case KN_BYTES:
        Py_INCREF(c->list);
        vals = c->list;
        break;
    case KN_STR:
    case KN_OBJ: {
        PyObject *codes = ob_finish(&c->vals);
        if (codes == NULL) goto fail;
        vals = PyTuple_Pack(2, codes, c->list);
        Py_DECREF(codes);
        break;
    }
    default:
        vals = ob_finish(&c->vals);
        break;
    }
    if (vals == NULL) goto fail;
    PyObject *t = PyTuple_Pack(3, rows, vals, cuts);
    Py_DECREF(rows);
    Py_DECREF(vals);
    Py_DECREF(cuts);
    return t;
fail:
    Py_XDECREF(rows);
    Py_XDECREF(vals);
    Py_XDECREF(cuts);
    return NULL;
}

/* d[k] = v, consuming the reference to v (which may be NULL: an error) */
static int set_item_steal(PyObject *d, const char *k, PyObject *v) {
    if (v == NULL) return -1;
    int rc = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return rc;
}

/* A record template: the layout of a record whose fields are all keyed by id and are int, float,
 * bool, none, or str/obj values of a given length, with no inline message, no cut value and no
 * key twice, as the records of one log call site mostly are. A record of the same length whose
 * structural bytes (flags, nfields, each field's type byte, key id and str length: everything
 * from byte 37 to the end of the last field but the level and the values) equal the template's
 * passes every check the template's record passed, so it is appended without being parsed
 * again: a run of such records is copied into the columns in one tight loop. */
#define TPL_WAYS 4            /* templates per set: call sites whose records look alike at first */
#define TPL_SLOTS 64          /* sets of TPL_WAYS, by length, message and the first structural bytes */
#define TPL_FIELDS 16         /* records with more fields take the general path */
#define TPL_WORDS 32          /* most 8-byte words compared (those with structural bytes) */
#define TPL_FIRST 36          /* the level byte: the first word starts there (the level is masked out) */
#define TPL_REGION 1024       /* records whose fields end later take the general path */
#define TPL_PREFETCH 1024     /* how far ahead of the record being copied to prefetch */
#define TPL_RUN 128           /* most records appended in one go (then the next go) */
enum { TV_NONE, TV_BOOL, TV_COPY8, TV_STR };
typedef struct {
    uint32_t length; /* the record length it matches; 0: empty slot */
    uint32_t nf, nwords;
    uint16_t woff[TPL_WORDS]; /* record offset of each compared word */
    uint64_t mask[TPL_WORDS], want[TPL_WORDS];
    uint16_t voff[TPL_FIELDS]; /* record offset of each field's value (a str's bytes) */
    uint8_t vkind[TPL_FIELDS]; /* TV_* */
    uint8_t bval[TPL_FIELDS];  /* bool: the value */
    uint32_t vlen[TPL_FIELDS]; /* str: its bytes */
    uint32_t col[TPL_FIELDS];
} tpl_t;

/* bytes one row of a template field takes in its column's values */
static const uint8_t tv_width[] = {[TV_NONE] = 0, [TV_BOOL] = 1, [TV_COPY8] = 8, [TV_STR] = 4};

/* the set of template slots of a record (its first slot): by its length, message id and first
 * structural bytes */
static inline size_t tpl_slot(const uint8_t *rec, uint32_t length) {
    uint64_t w = length >= REC_HEADER + 8 ? get64(rec + TPL_FIRST) : (uint64_t)get32(rec + TPL_FIRST);
    uint64_t h = ((w >> 8) ^ ((uint64_t)length << 40) ^ ((uint64_t)get32(rec + 32) << 20)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 58) & (TPL_SLOTS - TPL_WAYS);
}

/* does the record at rec (of the template's length) have the template's layout? */
static inline int tpl_match(const tpl_t *t, const uint8_t *rec) {
    uint64_t diff = 0;
    for (uint32_t k = 0; k < t->nwords; k++) diff |= (get64(rec + t->woff[k]) & t->mask[k]) ^ t->want[k];
    return diff == 0;
}

/* the template of the set that rec matches, or NULL */
static inline tpl_t *tpl_find(tpl_t *set, const uint8_t *rec, uint32_t length) {
    for (int i = 0; i < TPL_WAYS; i++)
        if (set[i].length == length && tpl_match(&set[i], rec)) return &set[i];
    return NULL;
}

/* make the template of a record just appended (fields checked, cols their columns), if it can
 * have one, in an empty slot of its set, else in the one *next says (round robin) */
static void tpl_build(tpl_t *set, uint8_t *next, const uint8_t *rec, uint32_t length, const dfield *fields,
                      uint32_t nf, const uint32_t *cols) {
    const uint8_t flags = rec[37];
    if (nf > TPL_FIELDS || (flags & (RF_MSG_INLINE | RF_FIELDS_CUT))) return;
    uint8_t structural[TPL_REGION + 8] = {0};
    uint64_t p = REC_HEADER;
    tpl_t t = {0};
    for (uint32_t i = 0; i < nf; i++) {
        const dfield *d = &fields[i];
        if (d->kp != NULL || (d->t & T_CUT) || d->kn == KN_BYTES) return;
        for (uint32_t j = 0; j < i; j++)
            if (cols[j] == cols[i]) return; /* a key twice: the second replaces the first */
        const int str = d->kn == KN_STR || d->kn == KN_OBJ;
        const uint64_t head = str ? 9 : 5; /* type, key id (and the str's length) */
        if (p + head > TPL_REGION) return;
        memset(structural + p, 1, head);
        p += head;
        t.voff[i] = (uint16_t)p;
        t.col[i] = cols[i];
        switch (d->t & KIND_MASK) {
        case K_INT:
        case K_FLOAT:
            t.vkind[i] = TV_COPY8;
            p += 8;
            break;
        case K_TRUE:
        case K_FALSE:
            t.vkind[i] = TV_BOOL;
            t.bval[i] = (d->t & KIND_MASK) == K_TRUE;
            break;
        case K_NONE:
            t.vkind[i] = TV_NONE;
            break;
        default: /* str, obj */
            t.vkind[i] = TV_STR;
            t.vlen[i] = d->vlen;
            p += d->vlen;
            break;
        }
        if (p > TPL_REGION) return;
    }
    memset(structural + 37, 1, 3); /* flags, nfields */
    const uint32_t region_end = (uint32_t)p; /* <= length: the record passed its checks */
    for (uint32_t o = TPL_FIRST; o < region_end; o += 8) {
        const uint32_t w = o + 8 <= region_end ? o : region_end - 8; /* none past the fields */
        uint64_t m = 0;
        for (uint32_t b = 0; b < 8; b++)
            if (structural[w + b]) m |= (uint64_t)0xFF << (8 * b);
        if (!m) continue; /* all value bytes (a long str) */
        if (t.nwords == TPL_WORDS) return;
        t.woff[t.nwords] = (uint16_t)w;
        t.mask[t.nwords] = m;
        t.want[t.nwords++] = get64(rec + w) & m;
    }
    t.nf = nf;
    t.length = length;
    int into = -1;
    for (int i = 0; i < TPL_WAYS && into < 0; i++)
        if (set[i].length == 0) into = i;
    if (into < 0) {
        into = *next;
        *next = (uint8_t)((into + 1) % TPL_WAYS);
    }
    set[into] = t;
}

/* the per-record columns of a decode, in result order */
enum { FX_SEQ, FX_TS, FX_TID, FX_LOGGER, FX_MESSAGE, FX_LEVEL, FX_N };
static const char *const fx_names[FX_N] = {"seq", "ts", "tid", "logger", "message", "level"};
static const uint8_t fx_width[FX_N] = {8, 8, 4, 4, 4, 1};

/* Append the run of records from buf + *off that match template t (the first one does), up to the
 * end of buf, the first record that does not, or TPL_RUN records; the per-record columns have
 * room for every record that fits in buf. Moves *off and *n past them; 0, or -1 with an
 * exception set. */
static int tpl_run(const tpl_t *t, column_t *cols, obuf *fx, const uint8_t *buf, uint64_t size, uint64_t start,
                   uint64_t *off_io, uint64_t *n_io) {
    const uint32_t length = t->length, nf = t->nf;
    uint64_t off = *off_io, n = *n_io;
    /* room in every column of the template for TPL_RUN more rows: a longer run goes on in
     * another call (the columns grow by doubling as ever) */
    uint8_t *rp[TPL_FIELDS], *vp[TPL_FIELDS];
    for (uint32_t i = 0; i < nf; i++) {
        column_t *c = &cols[t->col[i]];
        if (ob_room(&c->rows, 4 * TPL_RUN) < 0 || ob_room(&c->vals, tv_width[t->vkind[i]] * TPL_RUN) < 0) return -1;
        rp[i] = c->rows.p + c->rows.n;
        vp[i] = c->vals.p + c->vals.n;
    }
    uint8_t *const seq = fx[FX_SEQ].p, *const ts = fx[FX_TS].p, *const tid = fx[FX_TID].p;
    uint8_t *const lgr = fx[FX_LOGGER].p, *const msg = fx[FX_MESSAGE].p, *const lvl = fx[FX_LEVEL].p;
    uint64_t k = 0;
    int rc = 0;
    for (;;) {
        const uint8_t *rec = buf + off;
        if (off + TPL_PREFETCH < size) __builtin_prefetch(rec + TPL_PREFETCH); /* the ring is read once */
        memcpy(seq + 8 * n, rec + 8, 8);
        memcpy(ts + 8 * n, rec + 16, 8);
        memcpy(tid + 4 * n, rec + 24, 4);
        memcpy(lgr + 4 * n, rec + 28, 4);
        memcpy(msg + 4 * n, rec + 32, 4);
        lvl[n] = rec[36];
        const uint32_t row = (uint32_t)n;
        for (uint32_t i = 0; i < nf; i++) {
            put32(rp[i] + 4 * k, row);
            switch (t->vkind[i]) {
            case TV_COPY8:
                memcpy(vp[i] + 8 * k, rec + t->voff[i], 8);
                break;
            case TV_BOOL:
                vp[i][k] = t->bval[i];
                break;
            case TV_STR: {
                uint32_t code;
                if (str_code(&cols[t->col[i]], rec + t->voff[i], t->vlen[i], &code) < 0) {
                    rc = -1;
                    goto out;
                }
                put32(vp[i] + 4 * k, code);
                break;
            }
            default:
                break;
            }
        }
        k++;
        n++;
        off += length;
        if (k == TPL_RUN || off + length > size) break;
        rec = buf + off;
        if (get32(rec) != length || get32(rec + 4) != marker(start + off) || !tpl_match(t, rec)) break;
    }
    for (uint32_t i = 0; i < nf; i++) {
        column_t *c = &cols[t->col[i]];
        c->rows.n += 4 * k;
        c->vals.n += tv_width[t->vkind[i]] * k;
        c->last1 = (uint32_t)n; /* the last row + 1 */
    }
out:
    *off_io = off;
    *n_io = n;
    return rc;
}

/* decode(buf, start_pos) -> dict: the C twin of ttlog.reader.py_decode (same checks in the same
 * order, same error texts). */
static PyObject *ring_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "decode(buf, start_pos) takes 2 arguments");
    modstate *st = (modstate *)PyModule_GetState(module);
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    unsigned long long start = PyLong_AsUnsignedLongLong(args[1]);
    if (start == (unsigned long long)-1 && PyErr_Occurred()) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *buf = view.buf;
    const uint64_t size = (uint64_t)view.len;
    const uint64_t nmax = size / REC_HEADER; /* no more records than this fit in buf */
    obuf fx[FX_N] = {{0}};
    dfield *fields = NULL;
    idslot *fcache = NULL; /* per field position: the (key id, kind) and column seen last */
    size_t fields_cap = 0;
    tpl_t *tpls = NULL;
    uint8_t tpl_next[TPL_SLOTS / TPL_WAYS] = {0}; /* per set: the slot to replace next */
    uint32_t tcols[TPL_FIELDS];
    bpool *pool = st->decode_pool;
    if (pool == NULL) pool = st->decode_pool = PyMem_Calloc(1, sizeof(bpool)); /* NULL: no pool, no error */
    if (pool != NULL && size >= POOL_MIN) pool_tick(pool);
    colset cs = {.st = st, .pool = pool, .nmax = nmax, .lim = buf + size};
    PyObject *inl = PyList_New(0), *fcut = PyList_New(0), *result = NULL, *error = NULL;
    char ebuf[512], wbuf[300];
    uint64_t off = 0, n = 0;
    if (inl == NULL || fcut == NULL) goto done;
    if (nmax) {
        for (int k = 0; k < FX_N; k++) {
            fx[k].pool = pool;
            fx[k].hint = nmax * fx_width[k];
            if (ob_grow(&fx[k], nmax * fx_width[k]) < 0) goto done;
        }
    }
    if ((tpls = PyMem_Calloc(TPL_SLOTS, sizeof(tpl_t))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    while (off + 8 <= size) {
        const uint64_t pos = start + off;
        const uint8_t *rec = buf + off;
        if (off + TPL_PREFETCH < size) __builtin_prefetch(rec + TPL_PREFETCH);
        const uint32_t length = get32(rec), commit = get32(rec + 4);
        if (UNLIKELY(commit != marker(pos))) {
            if (commit == pad_marker(pos) && length >= 8 && length % 8 == 0) {
                if (off + length > size) break;
                off += length;
                continue;
            }
        }
        if (commit != marker(pos) || length < REC_HEADER || length % 8) {
            snprintf(ebuf, sizeof ebuf, "bad record at ring position %llu (length %u, commit 0x%08x)",
                     (unsigned long long)pos, length, commit);
            error = PyUnicode_FromString(ebuf);
            if (error == NULL) goto done;
            break;
        }
        if (off + length > size) break;
        const size_t tslot = tpl_slot(rec, length);
        const tpl_t *tpl = tpl_find(&tpls[tslot], rec, length);
        if (LIKELY(tpl != NULL)) {
            if (tpl_run(tpl, cs.cols, fx, buf, size, start, &off, &n) < 0) goto done;
            continue;
        }
        const uint64_t end = off + length;
        const uint8_t flags = rec[37];
        const uint32_t nf = get16(rec + 38);
        uint64_t p = off + REC_HEADER;
        const char *why = NULL;
        const uint8_t *mp = NULL;
        uint32_t mlen = 0;
#define STRUCT_ERR(OFFSET, SIZE)                                                                        \
    do {                                                                                                \
        snprintf(wbuf, sizeof wbuf,                                                                     \
                 "unpack_from requires a buffer of at least %llu bytes for unpacking %d bytes at "      \
                 "offset %llu (actual buffer size is %llu)",                                            \
                 (unsigned long long)((OFFSET) + (SIZE)), (SIZE), (unsigned long long)(OFFSET),         \
                 (unsigned long long)size);                                                             \
        goto bad;                                                                                       \
    } while (0)
        if (UNLIKELY(flags & RF_MSG_INLINE)) {
            if (p + 4 > size) STRUCT_ERR(p, 4);
            mlen = get32(buf + p);
            if (p + 4 + mlen > end) {
                why = "message runs past its record";
                goto bad;
            }
            mp = buf + p + 4;
            p += 4 + (uint64_t)mlen;
        }
        if (UNLIKELY(nf > fields_cap)) {
            size_t c = fields_cap ? fields_cap : 64;
            while (c < nf) c *= 2;
            dfield *nfp = PyMem_Realloc(fields, c * sizeof(dfield));
            if (nfp == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            fields = nfp;
            idslot *ncp = PyMem_Realloc(fcache, c * sizeof(idslot));
            if (ncp == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            memset(ncp + fields_cap, 0, (c - fields_cap) * sizeof(idslot));
            fcache = ncp;
            fields_cap = c;
        }
        for (uint32_t i = 0; i < nf; i++) {
            dfield *d = &fields[i];
            if (p >= size) {
                why = "index out of bounds on dimension 1";
                goto bad;
            }
            const uint8_t t = buf[p];
            d->t = t;
            if (UNLIKELY(t & T_KEY_INLINE)) {
                if (p + 3 > size) STRUCT_ERR(p + 1, 2);
                d->klen = get16(buf + p + 1);
                d->kp = buf + p + 3;
                p += 3 + (uint64_t)d->klen;
            } else {
                if (p + 5 > size) STRUCT_ERR(p, 5);
                d->kid = get32(buf + p + 1);
                d->kp = NULL;
                p += 5;
            }
            const int kind = t & KIND_MASK;
            d->kn = kind_to_kn[kind];
            switch (kind) {
            case K_INT:
            case K_FLOAT:
                if (p + 8 > size) {
                    why = "field runs past its record";
                    goto bad;
                }
                d->vp = buf + p;
                p += 8;
                break;
            case K_TRUE:
            case K_FALSE:
            case K_NONE:
                break;
            case K_STR:
            case K_BYTES:
            case K_OBJ:
                if (p + 4 > size) STRUCT_ERR(p, 4);
                d->vlen = get32(buf + p);
                d->vp = buf + p + 4;
                p += 4 + (uint64_t)d->vlen;
                break;
            default:
                snprintf(wbuf, sizeof wbuf, "unknown field kind %d", kind);
                goto bad;
            }
            if (p > end) {
                why = "field runs past its record";
                goto bad;
            }
        }
#undef STRUCT_ERR
        {
            const uint32_t row = (uint32_t)n;
            assert(n < nmax);
            memcpy(fx[FX_SEQ].p + 8 * n, rec + 8, 8);
            memcpy(fx[FX_TS].p + 8 * n, rec + 16, 8);
            memcpy(fx[FX_TID].p + 4 * n, rec + 24, 4);
            memcpy(fx[FX_LOGGER].p + 4 * n, rec + 28, 4);
            memcpy(fx[FX_MESSAGE].p + 4 * n, rec + 32, 4);
            fx[FX_LEVEL].p[n] = rec[36];
            if (UNLIKELY(flags & RF_MSG_INLINE)) {
                PyObject *text = PyUnicode_DecodeUTF8((const char *)mp, mlen, "replace");
                if (text == NULL) goto done;
                PyObject *item = Py_BuildValue("(kNO)", (unsigned long)row, text,
                                               (flags & RF_MSG_CUT) ? Py_True : Py_False);
                if (item == NULL || PyList_Append(inl, item) < 0) {
                    Py_XDECREF(item);
                    goto done;
                }
                Py_DECREF(item);
            }
            if (UNLIKELY(flags & RF_FIELDS_CUT)) {
                PyObject *v = PyLong_FromUnsignedLong(row);
                if (v == NULL || PyList_Append(fcut, v) < 0) {
                    Py_XDECREF(v);
                    goto done;
                }
                Py_DECREF(v);
            }
            for (uint32_t i = 0; i < nf; i++) {
                const dfield *d = &fields[i];
                uint32_t ci;
                if (UNLIKELY(d->kp != NULL)) {
                    if (text_column(&cs, d->kp, d->klen, d->kn, &ci) < 0) goto done;
                } else {
                    const uint64_t key1 = (((uint64_t)d->kid << 3) | (uint64_t)d->kn) + 1;
                    if (LIKELY(fcache[i].key1 == key1)) {
                        ci = fcache[i].col;
                    } else {
                        if (id_column(&cs, key1, d->kid, d->kn, &ci) < 0) goto done;
                        fcache[i] = (idslot){key1, ci};
                    }
                }
                if (column_append(&cs.cols[ci], row, d) < 0) goto done;
                if (i < TPL_FIELDS) tcols[i] = ci;
            }
            tpl_build(&tpls[tslot], &tpl_next[tslot / TPL_WAYS], rec, length, fields, nf, tcols);
            n++;
            off = end;
            continue;
        }
    bad:
        snprintf(ebuf, sizeof ebuf, "bad record at ring position %llu: %s", (unsigned long long)pos,
                 why ? why : wbuf);
        error = PyUnicode_FromString(ebuf);
        if (error == NULL) goto done;
        break;
    }
    {
        for (int k = 0; k < FX_N; k++) fx[k].n = (size_t)n * fx_width[k];
        PyObject *cols = PyDict_New();
        if (cols == NULL) goto done;
        for (size_t i = 0; i < cs.ncols; i++) {
            PyObject *v = column_result(&cs.cols[i]);
            if (v == NULL || PyDict_SetItem(cols, cs.cols[i].key, v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(cols);
                goto done;
            }
            Py_DECREF(v);
        }
        PyObject *r = PyDict_New();
        int bad = r == NULL || set_item_steal(r, "n", PyLong_FromUnsignedLongLong(n)) < 0 ||
                  set_item_steal(r, "end", PyLong_FromUnsignedLongLong(start + off)) < 0 ||
                  PyDict_SetItemString(r, "error", error ? error : Py_None) < 0;
        for (int k = 0; k < FX_N && !bad; k++) bad = set_item_steal(r, fx_names[k], ob_finish(&fx[k])) < 0;
        if (bad || PyDict_SetItemString(r, "inline", inl) < 0 || PyDict_SetItemString(r, "fields_cut", fcut) < 0 ||
            PyDict_SetItemString(r, "columns", cols) < 0) {
            Py_DECREF(cols);
            Py_XDECREF(r);
            goto done;
        }
        Py_DECREF(cols);
        result = r;
    }
done:
    PyBuffer_Release(&view);
    for (int k = 0; k < FX_N; k++) ob_free(&fx[k]);
    PyMem_Free(fields);
    PyMem_Free(fcache);
    PyMem_Free(tpls);
    for (size_t i = 0; i < cs.ncols; i++) {
        column_t *c = &cs.cols[i];
        Py_XDECREF(c->key);
        Py_XDECREF(c->list);
        ob_free(&c->rows);
        ob_free(&c->vals);
        ob_free(&c->cuts);
        PyMem_Free(c->tab);
    }
    PyMem_Free(cs.cols);
    PyMem_Free(cs.ids);
    Py_XDECREF(cs.inline_cols);
    Py_XDECREF(inl);
    Py_XDECREF(fcut);
    Py_XDECREF(error);
    return result;
}

/* ---- module --------------------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"decode", (PyCFunction)(void (*)(void))ring_decode, METH_FASTCALL,
     "decode($module, buf, start_pos, /)\n--\n\nDecode the records in buf, a linear copy of ring bytes whose "
     "first byte is ring position start_pos, into columns (see docs/FORMAT.md, \"Decoded batches\"); the "
     "same result as ttlog.reader.py_decode."},
    {NULL, NULL, 0, NULL},
};

/* gc of the module state */
static int module_traverse(PyObject *m, visitproc visit, void *arg) {
    modstate *st = (modstate *)PyModule_GetState(m);
    if (st == NULL) return 0;
    Py_VISIT(st->ring_type);
    Py_VISIT(st->logger_type);
    Py_VISIT(st->ring_mod);
    Py_VISIT(st->obj_text);
    Py_VISIT(st->level_value);
    Py_VISIT(st->read_geometry);
    Py_VISIT(st->ring_error);
    Py_VISIT(st->dead_ring);
    return 0;
}

/* module teardown: drop the state's references (loggers still alive become no-ops) */
static int module_clear(PyObject *m) {
    modstate *st = (modstate *)PyModule_GetState(m);
    if (st == NULL) return 0;
    Py_CLEAR(st->dead_ring);
    Py_CLEAR(st->ring_type);
    Py_CLEAR(st->logger_type);
    Py_CLEAR(st->ring_mod);
    Py_CLEAR(st->obj_text);
    Py_CLEAR(st->level_value);
    Py_CLEAR(st->read_geometry);
    Py_CLEAR(st->ring_error);
    Py_CLEAR(st->arg_names);
    Py_CLEAR(st->empty);
    Py_CLEAR(st->str_index);
    Py_CLEAR(st->str_release);
    for (int i = 0; i < 7; i++) Py_CLEAR(st->kind_names[i]);
    pool_clear(st->decode_pool);
    return 0;
}

static void module_free(void *m) {
    module_clear((PyObject *)m);
    modstate *st = (modstate *)PyModule_GetState((PyObject *)m);
    if (st != NULL) {
        PyMem_Free(st->decode_pool);
        st->decode_pool = NULL;
    }
}

/* import ttlog._ring (PEP 489 exec slot): the types, constants and the unmapped ring */
static int module_exec(PyObject *m) {
    modstate *st = (modstate *)PyModule_GetState(m);
    static const char *const kinds[7] = {"int", "float", "bool", "none", "str", "bytes", "obj"};
    st->ring_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Ring_spec, NULL);
    if (st->ring_type == NULL || PyModule_AddType(m, st->ring_type) < 0) return -1;
    st->logger_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Logger_spec, NULL);
    if (st->logger_type == NULL || PyModule_AddType(m, st->logger_type) < 0) return -1;
    if ((st->arg_names = PyTuple_New(MAX_FIELDS)) == NULL) return -1;
    for (int i = 0; i < MAX_FIELDS; i++) {
        char name[16];
        snprintf(name, sizeof name, "arg%d", i);
        PyObject *s = PyUnicode_InternFromString(name);
        if (s == NULL) return -1;
        PyTuple_SET_ITEM(st->arg_names, i, s);
    }
    if ((st->empty = PyUnicode_FromStringAndSize("", 0)) == NULL) return -1;
    if ((st->str_index = PyUnicode_InternFromString("__index__")) == NULL) return -1;
    if ((st->str_release = PyUnicode_InternFromString("release")) == NULL) return -1;
    for (int i = 0; i < 7; i++)
        if ((st->kind_names[i] = PyUnicode_InternFromString(kinds[i])) == NULL) return -1;
    RingObject *dead = (RingObject *)st->ring_type->tp_alloc(st->ring_type, 0);
    if (dead == NULL) return -1;
    ring_init_fields(dead, m);
    st->dead_ring = (PyObject *)dead;
    if (pthread_atfork(NULL, NULL, tid_after_fork) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static PyModuleDef ring_moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ttlog._ring",
    .m_doc = "The C writer of ttlog rings (Ring, Logger) and the batch decoder (decode): the twins of "
             "ttlog.ring.PyRing, ttlog.ring.PyLogger and ttlog.reader.py_decode, byte for byte.",
    .m_size = sizeof(modstate),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__ring(void) { return PyModuleDef_Init(&ring_moduledef); }
