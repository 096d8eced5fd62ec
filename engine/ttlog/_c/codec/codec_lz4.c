/* engine/ttlog/_c/codec/codec_lz4.c: LZ4 blocks, compressed and decompressed.
 *
 * Written from the LZ4 block format description: a block is a run of sequences; a sequence is
 * a token (high nibble: literal count, low nibble: match length - 4; 15 means more length bytes
 * follow, each added, until one below 255), the literals, a 2-byte little-endian offset back
 * into the output (1..65535) and the extra match length bytes. The last sequence has literals
 * only. A compressor must end every block with at least 5 literals and start no match within
 * the last 12 bytes.
 *
 * Invariants:
 * - lz4_compress writes at most lz4_bound(n) bytes and only reads src[0:n].
 * - lz4_decompress never reads outside src[0:n] nor writes outside dst[0:cap], and never
 *   reads history before dst - prefix_len; anything malformed returns -1.
 * - Neither touches Python objects: callers run them with the GIL released.
 */
#include "codec.h"

#define MIN_MATCH 4
#define LAST_LITERALS 5
#define MF_LIMIT 12
#define MAX_OFFSET 65535
#define SKIP_TRIGGER 6 /* level 0: after 2**6 misses in a row, step 2 bytes, and so on */

/* the table slot of the 5 bytes at p (hashing 5 bytes rather than the 4 a match needs keeps
 * apart positions that agree on 4 bytes only, which columns of small integers are full of) */
static inline uint32_t hash_at(const uint8_t *p, int log) {
    return (uint32_t)(((ld64(p) << 24) * 889523592379ULL) >> (64 - log));
}

/* How many bytes from p on equal those from q, stopping at limit (q < p). */
static inline size_t count_equal(const uint8_t *p, const uint8_t *q, const uint8_t *limit) {
    const uint8_t *start = p;
    while (p + 8 <= limit) {
        uint64_t diff = ld64(p) ^ ld64(q);
        if (diff) return (size_t)(p - start) + ((size_t)__builtin_ctzll(diff) >> 3);
        p += 8;
        q += 8;
    }
    while (p < limit && *p == *q) p++, q++;
    return (size_t)(p - start);
}

/* a length beyond the nibble: 255s and the rest */
static inline uint8_t *put_length(uint8_t *op, size_t len) {
    while (len >= 255) {
        *op++ = 255;
        len -= 255;
    }
    *op++ = (uint8_t)len;
    return op;
}

static inline uint8_t *put_literals(uint8_t *op, uint8_t *token, const uint8_t *from, size_t count) {
    if (count >= 15) {
        *token = 15 << 4;
        op = put_length(op, count - 15);
    } else {
        *token = (uint8_t)(count << 4);
    }
    memcpy(op, from, count);
    return op + count;
}

static inline uint8_t *put_match(uint8_t *op, uint8_t *token, size_t offset, size_t len) {
    st16(op, (uint16_t)offset);
    op += 2;
    len -= MIN_MATCH;
    if (len >= 15) {
        *token |= 15;
        op = put_length(op, len - 15);
    } else {
        *token |= (uint8_t)len;
    }
    return op;
}

size_t lz4_compress(const uint8_t *src, size_t n, uint8_t *dst, uint32_t *table, int level) {
    const int log = level > 0 ? LZ4_HASH_LOG_HIGH : LZ4_HASH_LOG_FAST;
    const uint8_t *const end = src + n;
    const uint8_t *anchor = src;
    uint8_t *op = dst;
    if (n > MF_LIMIT) {
        const uint8_t *const mf_limit = end - MF_LIMIT;         /* no match starts after this */
        const uint8_t *const match_limit = end - LAST_LITERALS; /* nor ends after this */
        const uint8_t *ip = src + 1;
        memset(table, 0, sizeof(uint32_t) << log); /* every slot: position 0, checked like any other */
        for (;;) {
            const uint8_t *ref;
            /* find a match: a position whose 4 bytes hash to the same slot and are equal */
            unsigned tries = 1u << SKIP_TRIGGER;
            for (;;) {
                uint32_t word = ld32(ip), h = hash_at(ip, log);
                ref = src + table[h];
                table[h] = (uint32_t)(ip - src);
                if ((size_t)(ip - ref) <= MAX_OFFSET && ld32(ref) == word) break;
                ip += level > 0 ? 1 : tries++ >> SKIP_TRIGGER;
                if (ip > mf_limit) goto last;
            }
            while (ip > anchor && ref > src && ip[-1] == ref[-1]) ip--, ref--; /* grow it backwards */
            uint8_t *token = op++;
            op = put_literals(op, token, anchor, (size_t)(ip - anchor));
            for (;;) {
                size_t len = MIN_MATCH + count_equal(ip + MIN_MATCH, ref + MIN_MATCH, match_limit);
                op = put_match(op, token, (size_t)(ip - ref), len);
                ip += len;
                anchor = ip;
                if (ip > mf_limit) goto last;
                table[hash_at(ip - 2, log)] = (uint32_t)(ip - 2 - src);
                uint32_t word = ld32(ip), h = hash_at(ip, log);
                ref = src + table[h];
                table[h] = (uint32_t)(ip - src);
                if (!((size_t)(ip - ref) <= MAX_OFFSET && ld32(ref) == word)) break;
                token = op++; /* a match right after a match: no literals between */
                *token = 0;
            }
            ip++;
            if (ip > mf_limit) goto last;
        }
    }
last:
    {
        uint8_t *token = op++;
        op = put_literals(op, token, anchor, (size_t)(end - anchor));
    }
    return (size_t)(op - dst);
}

/* a length's extra bytes; 0 if the input ends first */
static inline int get_length(const uint8_t **ipp, const uint8_t *iend, size_t *len) {
    const uint8_t *ip = *ipp;
    unsigned b;
    do {
        if (ip >= iend) return 0;
        b = *ip++;
        *len += b;
    } while (b == 255);
    *ipp = ip;
    return 1;
}

Py_ssize_t lz4_decompress(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t prefix_len) {
    const uint8_t *ip = src, *const iend = src + n;
    uint8_t *op = dst, *const oend = dst + cap;
    if (n == 0) return -1;
    for (;;) {
        unsigned token = *ip++;
        size_t lit = token >> 4;
        if (lit == 15 && !get_length(&ip, iend, &lit)) return -1;
        if (lit > (size_t)(iend - ip) || lit > (size_t)(oend - op)) return -1;
        memcpy(op, ip, lit);
        op += lit;
        ip += lit;
        if (ip == iend) break; /* the last sequence: literals only */
        if (iend - ip < 2) return -1;
        size_t offset = ld16(ip);
        ip += 2;
        if (offset == 0 || offset > (size_t)(op - dst) + prefix_len) return -1;
        size_t len = token & 15;
        if (len == 15 && !get_length(&ip, iend, &len)) return -1;
        len += MIN_MATCH;
        if (len > (size_t)(oend - op)) return -1;
        if (offset >= len) {
            memcpy(op, op - offset, len);
        } else { /* overlapping: the output repeats with period offset, so copy whole periods */
            size_t done = 0, period = offset;
            while (done < len) {
                size_t step = len - done < period ? len - done : period;
                memcpy(op + done, op + done - period, step);
                done += step;
                while (period * 2 <= offset + done) period *= 2;
            }
        }
        op += len;
        if (ip >= iend) return -1; /* a block ends with literals */
    }
    return (Py_ssize_t)(op - dst);
}
