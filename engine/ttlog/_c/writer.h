/* engine/ttlog/_c/writer.h: the Ring object, as the logger sees it.
 *
 * A Logger checks the level with one load through level_ptr (the header's min_level, or a word
 * holding LEVEL_OFF while unmapped) and hands an enabled call to tt_ring_write.
 */
#ifndef TTLOG_WRITER_H
#define TTLOG_WRITER_H

#include <stdatomic.h>
#include <stdint.h>

#include "hashtab.h"
#include "module.h"

#define PCACHE_SLOTS 1024 /* the direct-mapped (str object, kind) -> id cache in front of `strings` */

/* a slot of the pointer cache */
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
    hashtab strings;             /* (kind, str) -> id: the twin's _strings (keys: strong references) */
    pslot pcache[PCACHE_SLOTS];
} RingObject;

/* a logger's name and its id in the string table of the ring generation it was interned in */
typedef struct {
    PyObject *name; /* an exact str */
    uint64_t gen;   /* the ring's gen when id was interned; UINT64_MAX: not yet */
    uint32_t id;
} logger_name;

/* PyRing.write(logger_id, level, msg, args, fields), with args as pos[npos] and fields as the
 * parallel arrays kwk[nkw] (str keys) and kwv[nkw]. With lg, the logger id is lg's (interned
 * lazily, again after a re-map). Returns -1 only on a memory error (exception set). */
int tt_ring_write(RingObject *r, logger_name *lg, uint32_t logger_id, uint32_t level, PyObject *msg,
                  PyObject *const *pos, Py_ssize_t npos, PyObject *const *kwk, PyObject *const *kwv,
                  Py_ssize_t nkw);

/* the level a record needs to be written now (LEVEL_OFF while unmapped) */
static inline uint32_t tt_min_level(const RingObject *r) {
    return atomic_load_explicit(r->level_ptr, memory_order_relaxed);
}

#endif /* TTLOG_WRITER_H */
