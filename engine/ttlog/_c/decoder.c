/* engine/ttlog/_c/decoder.c: decode(buf, start_pos), ring bytes -> columns; the twin of
 * ttlog.reader.py_decode.
 *
 * Invariants:
 * - The result equals py_decode's for any bytes at all, errors included: each record is checked
 *   field by field (the same checks in the same order, with the same error texts), and a record
 *   that fails stops the decode with `error` set; the records before it are returned.
 * - Nothing is read outside buf.

 *
 * How: each record is checked field by field first, then appended to the
 * columns; a record laid out like one seen before (a template, below) is appended without the
 * checks, which it passes by construction. The columns are bytearrays written in place: the
 * per-record ones are sized once from an upper bound on the record count (every record is at
 * least REC_HEADER bytes), a field column grows by doubling, and each is given its size at the
 * end; large ones come from, and go back to, a pool (below). Nothing is copied twice, and no
 * Python object is made per record beyond what the result holds (inline messages, fields_cut
 * rows, bytes values, and each distinct str/obj value of a column, once: the dedupe table is C).
 * A field finds its column through a per-position cache (the i-th field of a record usually has
 * the key and kind the i-th field of the record before had), else through a hash map of (key
 * id, kind).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>

#include "format.h"
#include "hashtab.h"
#include "module.h"
#include "util.h"

/* ---- the pool of output bytearrays ----------------------------------------------------------- */

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

/* drop every pooled bytearray */
static void pool_clear(bpool *pl) {
    if (pl == NULL) return;
    for (int i = 0; i < POOL_SIZE; i++) Py_CLEAR(pl->ba[i]);
}

/* ---- output buffers -------------------------------------------------------------------------- */

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

/* ---- columns --------------------------------------------------------------------------------- */

/* field kind -> column kind (COL_INVALID: not a kind), from TTLOG_FIELD_KINDS */
#define KIND_TO_COL_(NAME, VALUE, COL) [VALUE] = COL_##COL,
static const int8_t kind_to_col[KIND_MASK + 1] = {TTLOG_FIELD_KINDS(KIND_TO_COL_)};
#undef KIND_TO_COL_

/* bytes one row of a column kind takes in its values */
static const uint8_t col_width[COL_COUNT] = {[COL_INT] = 8, [COL_FLOAT] = 8, [COL_BOOL] = 1, [COL_STR] = 4,
                                             [COL_OBJ] = 4};

typedef struct {
    PyObject *key;  /* (key_ref, kind_name) */
    int kn;         /* COL_* */
    uint32_t last1; /* last row + 1, 0: no row yet */
    obuf rows, vals, cuts;
    PyObject *list; /* uniques (str/obj) or values (bytes) */
    hashtab codes;  /* str/obj: raw bytes (key: where they are in buf, aux: their length) -> code */
    const uint8_t *lim; /* the end of buf: how far a value's bytes may be read past */
} column_t;

/* (key id, kind) -> column: the per-position cache's slot */
typedef struct {
    uint64_t key1; /* ((id << 3) | kn) + 1; 0: empty */
    uint32_t col;
} idslot;

/* one field of the record being decoded, as checked */
typedef struct {
    const uint8_t *kp, *vp; /* inline key text (NULL: key by id); value bytes */
    uint32_t kid, klen, vlen;
    uint8_t t;              /* the type byte */
    int8_t kn;              /* column kind, COL_* */
} dfield;

typedef struct {
    modstate *st;
    bpool *pool;   /* for the columns' bytearrays (may be NULL) */
    uint64_t nmax; /* most records buf can hold: what a column may come to hold */
    const uint8_t *lim; /* the end of buf */
    column_t *cols;
    size_t ncols, capcols;
    hashtab ids;   /* (key id, kind) -> column (key: key1 as in idslot) */
    PyObject *inline_cols; /* (text, kind_name) -> column index, for inline keys */
} colset;

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
    if (kn == COL_STR || kn == COL_OBJ || kn == COL_BYTES) {
        if ((list = PyList_New(0)) == NULL) {
            Py_DECREF(key);
            return -1;
        }
    }
    column_t *c = &cs->cols[cs->ncols];
    memset(c, 0, sizeof *c);
    c->rows.pool = c->vals.pool = cs->pool;
    c->rows.hint = 4 * cs->nmax;
    c->vals.hint = col_width[kn] * cs->nmax;
    c->key = key;
    c->kn = kn;
    c->list = list;
    c->lim = cs->lim;
    *out = (uint32_t)cs->ncols++;
    return 0;
}

static int key1_eq(const ht_entry *e, const void *ctx) { return e->key == *(const uint64_t *)ctx; }

/* the column of (key id, kind), found in the map or made */
static int id_column(colset *cs, uint64_t key1, uint32_t kid, int kn, uint32_t *out) {
    if (ht_reserve(&cs->ids) < 0) return -1;
    const uint64_t h = ht_hash_word(key1);
    ht_entry *e = ht_find(&cs->ids, h, key1_eq, &key1);
    if (e->key) {
        *out = e->val;
        return 0;
    }
    PyObject *ref = PyLong_FromUnsignedLong(kid);
    if (ref == NULL) return -1;
    int rc = new_column(cs, ref, kn, out);
    Py_DECREF(ref);
    if (rc < 0) return -1;
    ht_fill(&cs->ids, e, h, (uintptr_t)key1, 0, *out);
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

/* raw bytes, for a column's dictionary */
typedef struct {
    const uint8_t *p;
    uint32_t n;
} raw_text;

/* same bytes (the hashes are equal already; up to 8 bytes the hash is one-to-one) */
static inline int raw_text_eq(const ht_entry *e, const void *ctx) {
    const raw_text *k = ctx;
    return e->aux == k->n && (k->n <= 8 || memcmp((const void *)e->key, k->p, k->n) == 0);
}

/* the dictionary code of a str/obj value (a new distinct value is decoded once). A value of at
 * most 8 bytes is hashed as its bytes in one word (ht_hash_word, one-to-one): equal hashes and
 * lengths then mean equal bytes, with no compare. */
static int str_code(column_t *c, const uint8_t *p, uint32_t n, uint32_t *code) {
    if (ht_reserve(&c->codes) < 0) return -1;
    uint64_t h;
    if (n <= 8) {
        uint64_t w = 0;
        if (c->lim - p >= 8) { /* one load (the bytes after the value are buf's too) */
            w = get64(p);
            if (n < 8) w &= ((uint64_t)1 << (8 * n)) - 1;
        } else {
            memcpy(&w, p, n);
        }
        h = ht_hash_word(w);
    } else {
        h = ht_hash_bytes(p, n);
    }
    const raw_text k = {p, n};
    ht_entry *e = ht_find(&c->codes, h, raw_text_eq, &k);
    if (e->key) {
        *code = e->val;
        return 0;
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, "replace");
    if (s == NULL) return -1;
    uint32_t nc = (uint32_t)PyList_GET_SIZE(c->list);
    int rc = PyList_Append(c->list, s);
    Py_DECREF(s);
    if (rc < 0) return -1;
    ht_fill(&c->codes, e, h, (uintptr_t)p, n, nc);
    *code = nc;
    return 0;
}

/* the value of d into the last slot of c (replace) or a new one */
static int column_value_put(column_t *c, const dfield *d, int replace) {
    switch (c->kn) {
    case COL_INT:
    case COL_FLOAT:
        if (replace) {
            memcpy(c->vals.p + c->vals.n - 8, d->vp, 8);
        } else {
            if (ob_room(&c->vals, 8) < 0) return -1;
            memcpy(c->vals.p + c->vals.n, d->vp, 8);
            c->vals.n += 8;
        }
        return 0;
    case COL_BOOL: {
        uint8_t v = (d->t & KIND_MASK) == K_TRUE;
        if (replace) {
            c->vals.p[c->vals.n - 1] = v;
        } else {
            if (ob_room(&c->vals, 1) < 0) return -1;
            c->vals.p[c->vals.n++] = v;
        }
        return 0;
    }
    case COL_STR:
    case COL_OBJ: {
        uint32_t code;
        if (str_code(c, d->vp, d->vlen, &code) < 0) return -1;
        if (replace) put32(c->vals.p + c->vals.n - 4, code);
        else if (ob_put32(&c->vals, code) < 0) return -1;
        return 0;
    }
    case COL_BYTES: {
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
    if (LIKELY(!replace) && c->kn <= COL_FLOAT) { /* int, float: the common case, inline */
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
    case COL_NONE:
        Py_INCREF(Py_None);
        vals = Py_None;
        break;
    case COL_BYTES:
        Py_INCREF(c->list);
        vals = c->list;
        break;
    case COL_STR:
    case COL_OBJ: {
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

/* ---- record templates ------------------------------------------------------------------------ */

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
#define TPL_FIRST REC_LEVEL   /* the first word compared starts at the level byte (which is masked out) */
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
    uint64_t h = ((w >> 8) ^ ((uint64_t)length << 40) ^ ((uint64_t)get32(rec + REC_MSG) << 20)) * 0x9E3779B97F4A7C15ull;
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
    const uint8_t flags = rec[REC_FLAGS];
    if (nf > TPL_FIELDS || (flags & (RF_MSG_INLINE | RF_FIELDS_CUT))) return;
    uint8_t structural[TPL_REGION + 8] = {0};
    uint64_t p = REC_HEADER;
    tpl_t t = {0};
    for (uint32_t i = 0; i < nf; i++) {
        const dfield *d = &fields[i];
        if (d->kp != NULL || (d->t & T_CUT) || d->kn == COL_BYTES) return;
        for (uint32_t j = 0; j < i; j++)
            if (cols[j] == cols[i]) return; /* a key twice: the second replaces the first */
        const int str = d->kn == COL_STR || d->kn == COL_OBJ;
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
    memset(structural + REC_FLAGS, 1, 3); /* flags, nfields */
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
        memcpy(seq + 8 * n, rec + REC_SEQ, 8);
        memcpy(ts + 8 * n, rec + REC_TS, 8);
        memcpy(tid + 4 * n, rec + REC_TID, 4);
        memcpy(lgr + 4 * n, rec + REC_LOGGER, 4);
        memcpy(msg + 4 * n, rec + REC_MSG, 4);
        lvl[n] = rec[REC_LEVEL];
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
        if (get32(rec + REC_LEN) != length || get32(rec + REC_COMMIT) != marker(start + off) || !tpl_match(t, rec))
            break;
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

/* ---- decode ---------------------------------------------------------------------------------- */

/* decode(buf, start_pos) -> dict: ttlog.reader.py_decode (same checks in the same order, same error
 * texts) */
PyObject *tt_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
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
    char ebuf[160], wbuf[40];
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
        const uint32_t length = get32(rec + REC_LEN), commit = get32(rec + REC_COMMIT);
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
        const uint8_t flags = rec[REC_FLAGS];
        const uint32_t nf = get16(rec + REC_NFIELDS);
        uint64_t p = off + REC_HEADER;
        const char *why = NULL;
        const uint8_t *mp = NULL;
        uint32_t mlen = 0;
        /* the checks of py_decode, in its order; why: the error, in the project's words */
        if (UNLIKELY(flags & RF_MSG_INLINE)) {
            why = "message runs past its record";
            if (p + 4 > end) goto bad;
            mlen = get32(buf + p);
            if (p + 4 + (uint64_t)mlen > end) goto bad;
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
            why = "field runs past its record";
            if (p + 1 > end) goto bad;
            const uint8_t t = buf[p];
            d->t = t;
            if (UNLIKELY(t & T_KEY_INLINE)) {
                if (p + 3 > end) goto bad;
                d->klen = get16(buf + p + 1);
                d->kp = buf + p + 3;
                p += 3 + (uint64_t)d->klen;
            } else {
                if (p + 5 > end) goto bad;
                d->kid = get32(buf + p + 1);
                d->kp = NULL;
                p += 5;
            }
            const int kind = t & KIND_MASK;
            d->kn = kind_to_col[kind];
            switch (kind) {
            case K_INT:
            case K_FLOAT:
                if (p + 8 > end) goto bad;
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
                if (p + 4 > end) goto bad;
                d->vlen = get32(buf + p);
                d->vp = buf + p + 4;
                p += 4 + (uint64_t)d->vlen;
                break;
            default:
                snprintf(wbuf, sizeof wbuf, "unknown field kind %d", kind);
                why = wbuf;
                goto bad;
            }
            if (p > end) goto bad;
        }
        {
            const uint32_t row = (uint32_t)n;
            assert(n < nmax);
            memcpy(fx[FX_SEQ].p + 8 * n, rec + REC_SEQ, 8);
            memcpy(fx[FX_TS].p + 8 * n, rec + REC_TS, 8);
            memcpy(fx[FX_TID].p + 4 * n, rec + REC_TID, 4);
            memcpy(fx[FX_LOGGER].p + 4 * n, rec + REC_LOGGER, 4);
            memcpy(fx[FX_MESSAGE].p + 4 * n, rec + REC_MSG, 4);
            fx[FX_LEVEL].p[n] = rec[REC_LEVEL];
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
        snprintf(ebuf, sizeof ebuf, "bad record at ring position %llu: %s", (unsigned long long)pos, why);
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
        ht_free(&c->codes);
    }
    PyMem_Free(cs.cols);
    ht_free(&cs.ids);
    Py_XDECREF(cs.inline_cols);
    Py_XDECREF(inl);
    Py_XDECREF(fcut);
    Py_XDECREF(error);
    return result;
}


/* module teardown: drop the pooled bytearrays */
void tt_decode_pool_clear(modstate *st) { pool_clear(st->decode_pool); }

/* module free: and the pool itself */
void tt_decode_pool_free(modstate *st) {
    pool_clear(st->decode_pool);
    PyMem_Free(st->decode_pool);
    st->decode_pool = NULL;
}
