/* engine/ttlog/_c/hashtab.h: the one hash map of the C core, and its hash functions.
 *
 * Open addressing with linear probing over a power-of-two array of entries, at most half full,
 * grown by doubling (entries are moved by their stored hash; keys are never hashed twice). It
 * maps a key to a u32 value; what a key is and when two are equal is the user's: an entry keeps
 * the key's hash, a word (`key`: the key itself, or a pointer to it) and a second word (`aux`: a
 * length or a kind), and ht_find takes the equality test, inlined at each use. Users:
 *   - the writer's string ids: (kind, str) -> id, the C form of the twin's `_strings` dict
 *     (writer.c, key = the str object, aux = kind);
 *   - the decoder's columns: (key id, kind) -> column (decoder.c, key = the packed pair);
 *   - the decoder's dictionary of a str column: raw UTF-8 -> code (decoder.c, key = where the
 *     bytes are, aux = their length).
 * The two caches in front of these (the writer's pointer cache, the decoder's record templates)
 * are not maps: they forget by design, and stay where they are used.
 *
 * Invariant: an entry whose key is 0 is empty; no key a user stores is 0.
 * Include after Python.h (memory comes from PyMem, so tracemalloc sees it).
 */
#ifndef TTLOG_HASHTAB_H
#define TTLOG_HASHTAB_H

#include <stdint.h>
#include <string.h>

#include "util.h"

#define HT_GOLDEN 0x9E3779B97F4A7C15ull /* 2^64 / phi, odd: multiplying by it is one-to-one */

/* a word's hash (a multiply: one-to-one, so equal hashes mean equal words) */
static inline uint64_t ht_hash_word(uint64_t w) { return w * HT_GOLDEN; }

/* a fast 64-bit hash of raw bytes */
static inline uint64_t ht_hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = HT_GOLDEN ^ n;
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

typedef struct {
    uint64_t h;    /* the key's hash */
    uintptr_t key; /* the key, or where it is; 0: an empty entry */
    uint32_t aux;  /* the rest of the key (a length, a kind) */
    uint32_t val;  /* the value */
} ht_entry;

typedef struct {
    ht_entry *e; /* NULL until the first ht_reserve */
    size_t mask; /* entries - 1 */
    size_t n;    /* entries in use */
} hashtab;

/* the first entry to look at for hash h */
static inline size_t ht_home(uint64_t h, size_t mask) { return (size_t)(h ^ (h >> 31)) & mask; }

/* move every entry into an array of cap entries */
static inline int ht_resize(hashtab *t, size_t cap) {
    ht_entry *e = PyMem_Calloc(cap, sizeof(ht_entry));
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (t->e != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            if (!t->e[i].key) continue;
            size_t j = ht_home(t->e[i].h, cap - 1);
            while (e[j].key) j = (j + 1) & (cap - 1);
            e[j] = t->e[i];
        }
        PyMem_Free(t->e);
    }
    t->e = e;
    t->mask = cap - 1;
    return 0;
}

/* room for one more entry (the map stays at most half full): call before ht_find when the
 * caller may ht_fill the slot it returns. 0, or -1 with MemoryError set (the map is unchanged). */
static inline int ht_reserve(hashtab *t) {
    if (UNLIKELY(t->e == NULL)) return ht_resize(t, 16);
    if (UNLIKELY((t->n + 1) * 2 > t->mask + 1)) return ht_resize(t, (t->mask + 1) * 2);
    return 0;
}

/* The entry of the key with hash h that eq(entry, ctx) accepts (eq is only asked about entries
 * of the same hash), or the empty entry where that key goes. The map must have entries. */
static inline ht_entry *ht_find(const hashtab *t, uint64_t h, int (*eq)(const ht_entry *, const void *),
                                const void *ctx) {
    size_t j = ht_home(h, t->mask);
    for (;;) {
        ht_entry *e = &t->e[j];
        if (!e->key || (e->h == h && eq(e, ctx))) return e;
        j = (j + 1) & t->mask;
    }
}

/* store a new key in the empty entry ht_find returned (after ht_reserve) */
static inline void ht_fill(hashtab *t, ht_entry *e, uint64_t h, uintptr_t key, uint32_t aux, uint32_t val) {
    *e = (ht_entry){h, key, aux, val};
    t->n++;
}

/* free the entries (whatever their keys refer to is the user's to release first) */
static inline void ht_free(hashtab *t) {
    PyMem_Free(t->e);
    *t = (hashtab){0};
}

#endif /* TTLOG_HASHTAB_H */
