/* engine/ttlog/_c/writer.c: Ring, the producer side of a mapped ring; the twin of ttlog.ring.PyRing.
 *
 * ttlog/ring.py is the executable spec: the same calls write the same bytes, and
 * tests/ttlog/test_c_twin.py compares whole ring files written by both.
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
 * The one global of the C core is here: a thread-local (the cached native thread id).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "hashtab.h"
#include "module.h"
#include "util.h"
#include "writer.h"

#define STACK_FIELDS 16 /* fields encoded on the C stack; more go to the heap */

/* cut_utf8(raw, limit) in ring.py, for len(raw) > limit: the cut length, never inside a
 * UTF-8 sequence. */
static inline size_t cut_utf8(const char *p, size_t limit) {
    size_t end = limit;
    while (end > 0 && ((uint8_t)p[end] & 0xC0) == 0x80) end--;
    return end;
}

/* ---- thread id: the one global, a thread-local ----------------------------------------------- */
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
void tt_tid_after_fork(void) { tls_tid = 0; }

/* time.time_ns() */
static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- interning ------------------------------------------------------------------------------- */

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


/* (kind, str) -> id: the twin's `_strings` dict. A key is an exact str the table holds a strong
 * reference to; two keys are equal when their kinds are and their texts are. */
typedef struct {
    PyObject *text;
    uint32_t kind;
} string_key;

static int string_key_eq(const ht_entry *e, const void *ctx) {
    const string_key *k = ctx;
    PyObject *s = (PyObject *)e->key;
    return e->aux == k->kind && (s == k->text || PyUnicode_Compare(s, k->text) == 0);
}

/* the hash of (kind, text); text is an exact str, whose hash never fails and is cached in it */
static inline uint64_t string_hash(PyObject *text, uint32_t kind) {
    return ht_hash_word((uint64_t)PyObject_Hash(text) ^ ((uint64_t)kind << 56));
}

/* The entry of (kind, text) in r->strings: its id is e->val if e->key, else e is where it goes.
 * NULL (no exception left set) if the table cannot grow. */
static ht_entry *string_entry(RingObject *r, PyObject *text, uint32_t kind, uint64_t *h) {
    if (ht_reserve(&r->strings) < 0) {
        PyErr_Clear();
        return NULL;
    }
    const string_key k = {text, kind};
    *h = string_hash(text, kind);
    return ht_find(&r->strings, *h, string_key_eq, &k);
}

/* PyRing.map's `self._strings = {}` (and the pointer cache, whose ids are the table's) */
static void clear_strings(RingObject *r) {
    hashtab t = r->strings;
    r->strings = (hashtab){0};
    for (size_t i = 0; t.e != NULL && i <= t.mask; i++) Py_XDECREF((PyObject *)t.e[i].key);
    ht_free(&t);
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
    uint64_t hash;
    ht_entry *e = string_entry(r, text, kind, &hash);
    if (e == NULL) return 0;
    const int cache = kind != S_MESSAGE || n <= MAX_INTERNED_MESSAGE;
    if (e->key) {
        if (cache) pcache_put(r, text, kind, e->val);
        return e->val;
    }
    uint8_t *h = r->map;
    if (h == NULL) return 0;
    uint64_t used = ld64(h + H_STRTAB_USED);
    uint64_t size = (8 + (uint64_t)n + 7) & ~(uint64_t)7;
    if ((uint64_t)n > 0xFFFFFFFFu || used + size > r->strtab_cap || (used >> 3) > 0xFFFFFFFFu) return 0;
    assert(r->strtab != NULL && r->strtab_cap > 0 && used >= STRTAB_FIRST);
    uint8_t *entry = r->strtab + used;
    put32(entry, (uint32_t)n);
    put32(entry + 4, kind);
    memcpy(entry + 8, raw, (size_t)n);
    memset(entry + 8 + n, 0, (size_t)(size - 8 - (uint64_t)n));
    st64_rel(h + H_STRTAB_USED, used + size);
    const uint32_t id = (uint32_t)(used >> 3);
    Py_INCREF(text);
    ht_fill(&r->strings, e, hash, (uintptr_t)text, kind, id);
    if (cache) pcache_put(r, text, kind, id);
    return id;
}

/* PyRing.intern(text, kind) for an exact str. */
static uint32_t intern_str(RingObject *r, PyObject *text, uint32_t kind) {
    uint64_t hash;
    ht_entry *e = string_entry(r, text, kind, &hash);
    if (e == NULL) return 0;
    if (e->key) return e->val;
    PyObject *tmp = NULL;
    const char *p;
    Py_ssize_t n;
    uint32_t id = 0;
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
        if (ht_reserve(&r->strings) < 0) {
            Py_DECREF(text);
            return -1;
        }
        const string_key k = {text, kind};
        const uint64_t hash = string_hash(text, kind);
        ht_entry *e = ht_find(&r->strings, hash, string_key_eq, &k);
        if (e->key) Py_DECREF(text);
        else ht_fill(&r->strings, e, hash, (uintptr_t)text, kind, (uint32_t)(off >> 3)); /* takes text */
        off += (8 + (uint64_t)n + 7) & ~(uint64_t)7;
    }
    return 0;
}

/* ---- encoding values (phase 1) --------------------------------------------------------------- */

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
    if (st->obj_text == NULL && tt_load_ring_module(st) < 0) PyErr_Clear();
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

/* ---- the write ------------------------------------------------------------------------------- */

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
        put32(pad + REC_LEN, (uint32_t)room);
        put32(pad + REC_COMMIT, pad_marker(w));
        w += room;
    }
    uint8_t *b = r->data + (w & mask);
    const uint64_t seq = ld64(h + H_SEQ_NEXT);
    put32(b + REC_LEN, (uint32_t)length);
    put64(b + REC_SEQ, seq);
    put64(b + REC_TS, (uint64_t)ts);
    put32(b + REC_TID, tid);
    put32(b + REC_LOGGER, logger_id);
    put32(b + REC_MSG, msg_id);
    b[REC_LEVEL] = (uint8_t)level;
    b[REC_FLAGS] = rflags;
    put16(b + REC_NFIELDS, (uint16_t)nf);
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
    st32_rel(b + REC_COMMIT, marker(w)); /* commit word, last */
    st64(h + H_SEQ_NEXT, seq + 1);
    st64_rel(h + H_WRITE_POS, end);
out:
    r->busy = 0;
}

/* PyLogger._logger_id() */
static inline uint32_t logger_get_id(RingObject *r, logger_name *lg) {
    if (UNLIKELY(lg->gen != r->gen)) {
        lg->id = intern_str(r, lg->name, S_LOGGER);
        lg->gen = r->gen;
    }
    return lg->id;
}

/* PyRing.write(logger_id, level, msg, args, fields): see writer.h */
int tt_ring_write(RingObject *r, logger_name *lg, uint32_t logger_id, uint32_t level, PyObject *msg,
                  PyObject *const *pos, Py_ssize_t npos, PyObject *const *kwk, PyObject *const *kwv,
                  Py_ssize_t nkw) {
    modstate *st = r->st;
    if (UNLIKELY(st->arg_names == NULL)) return 0; /* module torn down */
    if (lg != NULL) logger_id = logger_get_id(r, lg);
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
    if (lg != NULL && UNLIKELY(lg->gen != r->gen)) logger_id = logger_get_id(r, lg); /* re-mapped */
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


/* ---- Ring ------------------------------------------------------------------------------------ */

/* PyRing.__init__: unmapped */
static void ring_init_fields(RingObject *r, PyObject *module) {
    Py_INCREF(module);
    r->module = module;
    r->st = (modstate *)PyModule_GetState(module);
    atomic_init(&r->off_level, LEVEL_OFF);
    r->level_ptr = &r->off_level;
}

/* Ring.__init__ of a ring made in C (module.c's unmapped ring for loggers that were never inited) */
void tt_ring_init_unmapped(PyObject *ring, PyObject *module) { ring_init_fields((RingObject *)ring, module); }

/* Ring() */
static PyObject *Ring_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "Ring() takes no arguments");
        return NULL;
    }
    PyObject *module = PyType_GetModuleByDef(type, &tt_moduledef);
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

/* gc: a Ring refers to its type and module (the string ids hold only str) */
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
    if (tt_load_ring_module(st) < 0) return NULL;
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
    if (tt_ring_write(self, NULL, (uint32_t)logger_id, (uint32_t)level, args[2],
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

PyType_Spec tt_ring_spec = {
    .name = "ttlog._ring.Ring",
    .basicsize = sizeof(RingObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Ring_slots,
};

