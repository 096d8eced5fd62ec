/* engine/ttlog/_c/codec/codec_xxh32.c: xxHash32, one-shot and streaming.
 *
 * The checksum of LZ4 frames (header byte, blocks, content). Written from the xxHash
 * specification: four lanes over 16-byte stripes, then the tail in 4-byte and 1-byte steps,
 * then the avalanche. Twin: ttlog._codec_py.xxh32 / Xxh32.
 */
#include "codec.h"

#define P1 0x9E3779B1u
#define P2 0x85EBCA77u
#define P3 0xC2B2AE3Du
#define P4 0x27D4EB2Fu
#define P5 0x165667B1u

static inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static inline uint32_t lane(uint32_t acc, uint32_t word) { return rotl(acc + word * P2, 13) * P1; }

void xxh32_init(xxh32_state *s, uint32_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

static void stripes(uint32_t v[4], const uint8_t *p, size_t count) {
    uint32_t a = v[0], b = v[1], c = v[2], d = v[3];
    for (size_t i = 0; i < count; i++, p += 16) {
        a = lane(a, ld32(p));
        b = lane(b, ld32(p + 4));
        c = lane(c, ld32(p + 8));
        d = lane(d, ld32(p + 12));
    }
    v[0] = a, v[1] = b, v[2] = c, v[3] = d;
}

void xxh32_update(xxh32_state *s, const uint8_t *p, size_t n) {
    s->total += n;
    if (s->fill) {
        size_t take = 16 - s->fill;
        if (take > n) take = n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += (uint32_t)take;
        p += take;
        n -= take;
        if (s->fill < 16) return;
        stripes(s->v, s->buf, 1);
        s->fill = 0;
    }
    stripes(s->v, p, n / 16);
    p += n / 16 * 16;
    n %= 16;
    memcpy(s->buf, p, n);
    s->fill = (uint32_t)n;
}

uint32_t xxh32_digest(const xxh32_state *s) {
    uint32_t h;
    if (s->total >= 16)
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) + rotl(s->v[3], 18);
    else
        h = s->seed + P5;
    h += (uint32_t)s->total;
    const uint8_t *p = s->buf, *end = s->buf + s->fill;
    for (; p + 4 <= end; p += 4) h = rotl(h + ld32(p) * P3, 17) * P4;
    for (; p < end; p++) h = rotl(h + *p * P5, 11) * P1;
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

uint32_t xxh32(const uint8_t *p, size_t n, uint32_t seed) {
    xxh32_state s;
    xxh32_init(&s, seed);
    xxh32_update(&s, p, n);
    return xxh32_digest(&s);
}
