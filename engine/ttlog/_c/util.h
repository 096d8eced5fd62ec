/* engine/ttlog/_c/util.h: loads and stores in shared memory and in record bytes, for the writer and
 * the decoder alike.
 *
 * Header words are naturally aligned, so they are accessed as atomics (a reader in another
 * process never sees a torn position); record bytes are unaligned and go through memcpy. The ring
 * format is little-endian and these store native integers, so a big-endian build is refused.
 */
#ifndef TTLOG_UTIL_H
#define TTLOG_UTIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ring format is little-endian and this code stores native integers"
#endif

_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "atomic sizes");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2, "lock-free atomics");

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* aligned header words: relaxed, acquire and release */
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
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* marker(pos) in layout.py: the commit word of a record at ring position pos */
static inline uint32_t marker(uint64_t pos) { return (uint32_t)((pos >> 3) ^ (uint64_t)COMMIT_SALT); }
/* pad_marker(pos) in layout.py: the commit word of a pad record */
static inline uint32_t pad_marker(uint64_t pos) { return marker(pos) ^ 0xFFFFFFFFu; }

#endif /* TTLOG_UTIL_H */
