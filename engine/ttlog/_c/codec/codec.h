/* engine/ttlog/_c/codec/codec.h: what the files of ttlog._codec share.
 *
 * ttlog._codec is the C half of the snapshot writer: LZ4 blocks and frames (codec_lz4.c),
 * xxHash32 (codec_xxh32.c), and the typed-array kernels the writer runs over decoded ring
 * batches (codec_kernels.c); codec_module.c is the Python module. Each function has a
 * pure-Python twin in engine/ttlog/_codec_py.py that returns the same bytes.
 *
 * Everything here is written from the public LZ4 block and frame format descriptions and the
 * xxHash specification; no code is taken from their reference implementations.
 */
#ifndef TTLOG_CODEC_H
#define TTLOG_CODEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "snapshot arrays are little-endian and these kernels read and write native integers"
#endif

/* ---- LZ4 (codec_lz4.c) ------------------------------------------------------------------------- */

#define LZ4_BLOCK_MAX (4u << 20)     /* the frame's largest block (BD code 7) */
#define LZ4_HASH_LOG_FAST 14          /* level 0: 16 Ki table entries */
#define LZ4_HASH_LOG_HIGH 16          /* level >= 1: 64 Ki entries, no skipping ahead */

/* Worst-case size of a compressed block of n bytes. */
static inline size_t lz4_bound(size_t n) { return n + n / 255 + 16; }

/* Compress src[0:n] into dst (at least lz4_bound(n) bytes) as one independent LZ4 block;
 * returns its size. table: scratch of (1 << hash_log) uint32 entries. Never fails. */
size_t lz4_compress(const uint8_t *src, size_t n, uint8_t *dst, uint32_t *table, int level);

/* Decompress one LZ4 block into dst (cap bytes). The prefix_len bytes just before dst are
 * history a match may reach into (a linked block's predecessor). Returns the size, or -1 for
 * any malformed block (a read or write out of bounds, offset 0 or past the history). */
Py_ssize_t lz4_decompress(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t prefix_len);

/* ---- xxHash32 (codec_xxh32.c) -------------------------------------------------------------------- */

typedef struct {
    uint64_t total;  /* bytes seen */
    uint32_t v[4];   /* the four lanes */
    uint32_t seed;
    uint32_t fill;   /* bytes waiting in buf */
    uint8_t buf[16];
} xxh32_state;

void xxh32_init(xxh32_state *s, uint32_t seed);
void xxh32_update(xxh32_state *s, const uint8_t *p, size_t n);
uint32_t xxh32_digest(const xxh32_state *s);
uint32_t xxh32(const uint8_t *p, size_t n, uint32_t seed);

/* ---- the kernels' method table (codec_kernels.c) ------------------------------------------------- */

extern PyMethodDef codec_kernel_methods[];

/* Little-endian loads and stores of any alignment. */
static inline uint16_t ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void st16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

#endif /* TTLOG_CODEC_H */
