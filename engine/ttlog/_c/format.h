/* engine/ttlog/_c/format.h: the ring format, once, for the C side.
 *
 * Every constant of the ring layout that C code uses is written here and nowhere else, as
 * X-macro tables: X(NAME, VALUE, ...) per entry. The C files expand them into enums (below);
 * module.c expands them into the dicts ttlog._ring exports (LEVELS, METHOD_LEVELS,
 * HEADER_OFFSETS, RECORD_OFFSETS, FIELD_KINDS, KIND_NAMES, CONSTANTS), and
 * tests/ttlog/test_layout.py checks engine/ttlog/layout.py (the Python side's copy, which must
 * work without a compiler) against those dicts entry by entry, both ways. docs/FORMAT.md says the
 * same for people.
 *
 * No Python.h here: this header is the format, not the binding.
 */
#ifndef TTLOG_FORMAT_H
#define TTLOG_FORMAT_H

#define TTLOG_MAGIC "TTLOGRNG" /* the first 8 bytes of a ring file */

/* Scalars of the format: X(NAME, VALUE). */
#define TTLOG_CONSTANTS(X)                                                                          \
    X(VERSION, 1)                 /* the ring format version a reader accepts */                    \
    X(HEADER_SIZE, 4096)          /* bytes of header before the string table */                     \
    X(REC_HEADER, 40)             /* bytes of a record's fixed header */                            \
    X(MAX_FIELDS, 255)            /* fields a record holds; more set RF_FIELDS_CUT */               \
    X(COMMIT_SALT, 0x7A3C5E91)    /* commit word = ((pos >> 3) ^ COMMIT_SALT) & 0xFFFFFFFF */        \
    X(STRTAB_FIRST, 8)            /* offset of the first string table entry (id 0 is none) */        \
    X(MAX_INTERNED_MESSAGE, 256)  /* longer messages (UTF-8 bytes) are stored inline */              \
    X(LEVEL_OFF, 255)             /* min_level that writes nothing */                               \
    X(FLAG_OVERWRITE, 1)          /* header flags: overwrite mode (else drop mode) */               \
    X(STATE_LIVE, 1)              /* header state */                                                \
    X(STATE_CLOSED, 2)                                                                              \
    X(RF_MSG_INLINE, 0x01)        /* record flags: the message follows the header */               \
    X(RF_MSG_CUT, 0x02)           /* that inline message was cut at max_str */                      \
    X(RF_FIELDS_CUT, 0x04)        /* more fields were given than a record holds */                   \
    X(T_KEY_INLINE, 0x40)         /* type byte: the key is u16 length + UTF-8, not a string id */    \
    X(T_CUT, 0x80)                /* type byte: the str/bytes/obj value was cut at max_str */        \
    X(KIND_MASK, 0x0F)            /* type byte: the field kind */                                   \
    X(S_LOGGER, 1)                /* string table entry kinds */                                    \
    X(S_MESSAGE, 2)                                                                                 \
    X(S_KEY, 3)                                                                                     \
    X(S_OTHER, 4)

/* Header fields: X(NAME, byte offset). Types and meanings: docs/FORMAT.md, "Header". */
#define TTLOG_HEADER_FIELDS(X)                                                                      \
    X(H_MAGIC, 0)          /* 8 bytes */                                                             \
    X(H_VERSION, 8)        /* u32 */                                                                \
    X(H_HEADER_SIZE, 12)   /* u32 */                                                                \
    X(H_FILE_SIZE, 16)     /* u64 */                                                                \
    X(H_STRTAB_OFF, 24)    /* u64 */                                                                \
    X(H_STRTAB_CAP, 32)    /* u64 */                                                                \
    X(H_DATA_OFF, 40)      /* u64 */                                                                \
    X(H_DATA_CAP, 48)      /* u64, a power of two */                                                \
    X(H_PID, 56)           /* i64 */                                                                \
    X(H_START_NS, 64)      /* i64 */                                                                \
    X(H_FLAGS, 72)         /* u32, FLAG_* */                                                        \
    X(H_MAX_STR, 76)       /* u32 */                                                                \
    X(H_STATE, 80)         /* u32, STATE_* */                                                       \
    X(H_MIN_LEVEL, 84)     /* u32 */                                                                \
    X(H_SNAP_REQ, 88)      /* u64 */                                                                \
    X(H_SNAP_REASON, 96)   /* u32, string id */                                                     \
    X(H_EXIT_REASON, 100)  /* u32, string id */                                                     \
    X(H_SERVICE, 128)      /* 64 bytes */                                                           \
    X(H_HOST, 192)         /* 64 bytes */                                                           \
    X(H_WRITE_POS, 256)    /* u64, producer-written, own cache line */                              \
    X(H_RESERVE_POS, 264)  /* u64 */                                                                \
    X(H_TAIL_POS, 272)     /* u64 */                                                                \
    X(H_SEQ_NEXT, 280)     /* u64 */                                                                \
    X(H_DROPPED, 288)      /* u64 */                                                                \
    X(H_STRTAB_USED, 320)  /* u64, own cache line */                                                \
    X(H_READ_POS, 384)     /* u64, sidecar-written, own cache line */                               \
    X(H_READ_SEQ, 392)     /* u64 */                                                                \
    X(H_SIDECAR_PID, 400)  /* i64 */                                                                \
    X(H_SIDECAR_BEAT, 408) /* i64 */                                                                \
    X(H_DRAINED, 416)      /* u64 */                                                                \
    X(H_LOST, 424)         /* u64 */                                                                \
    X(H_SNAP_DONE, 432)    /* u64 */                                                                \
    X(H_DROPPED_REPORTED, 440) /* u64, sidecar-written */

/* The fixed header of a record: X(NAME, byte offset); REC_HEADER bytes in all. */
#define TTLOG_RECORD_FIELDS(X)                                                                      \
    X(REC_LEN, 0)     /* u32, whole record, a multiple of 8 */                                      \
    X(REC_COMMIT, 4)  /* u32, written last */                                                       \
    X(REC_SEQ, 8)     /* u64 */                                                                     \
    X(REC_TS, 16)     /* i64 */                                                                     \
    X(REC_TID, 24)    /* u32 */                                                                     \
    X(REC_LOGGER, 28) /* u32, string id */                                                          \
    X(REC_MSG, 32)    /* u32, string id, 0 if inline */                                             \
    X(REC_LEVEL, 36)  /* u8 */                                                                      \
    X(REC_FLAGS, 37)  /* u8, RF_* */                                                                \
    X(REC_NFIELDS, 38) /* u16 */

/* Column kinds of a decoded batch (docs/FORMAT.md, "Decoded batches"): X(NAME, text). */
#define TTLOG_COLUMN_KINDS(X)                                                                       \
    X(INT, "int")                                                                                   \
    X(FLOAT, "float")                                                                               \
    X(BOOL, "bool")                                                                                 \
    X(NONE, "none")                                                                                 \
    X(STR, "str")                                                                                   \
    X(BYTES, "bytes")                                                                               \
    X(OBJ, "obj")

/* Field kinds (the low nibble of a field's type byte): X(NAME, value, column kind). */
#define TTLOG_FIELD_KINDS(X)                                                                        \
    X(K_INT, 1, INT)     /* i64 */                                                                  \
    X(K_FLOAT, 2, FLOAT) /* f64 */                                                                  \
    X(K_TRUE, 3, BOOL)                                                                              \
    X(K_FALSE, 4, BOOL)                                                                             \
    X(K_NONE, 5, NONE)                                                                              \
    X(K_STR, 6, STR)     /* u32 length + UTF-8 */                                                   \
    X(K_BYTES, 7, BYTES) /* u32 length + bytes */                                                   \
    X(K_OBJ, 8, OBJ)     /* u32 length + UTF-8 of str(value) */

/* Levels: X(NAME, logger method, value), in ascending order. Each entry is a level of
 * ttlog.LEVELS and a method Logger.<method>(msg, *args, **fields) writing at that level. */
#define TTLOG_LEVELS(X)                                                                             \
    X(TRACE, trace, 5)                                                                              \
    X(DEBUG, debug, 10)                                                                             \
    X(MARKET_DATA, market_data, 15)                                                                 \
    X(INFO, info, 20)                                                                               \
    X(ORDER, order, 21)                                                                             \
    X(TRADE, trade, 22)                                                                             \
    X(PORTFOLIO, portfolio, 23)                                                                     \
    X(RISK, risk, 25)                                                                               \
    X(WARN, warn, 30)                                                                               \
    X(ERROR, error, 40)                                                                             \
    X(CRITICAL, critical, 50)

/* More logger methods for a level: X(method, NAME of the level). */
#define TTLOG_LEVEL_ALIASES(X) X(warning, WARN)

/* ---- the tables as C constants --------------------------------------------------------------- */
#define TTLOG_ENUM_(NAME, VALUE, ...) NAME = (VALUE),
enum { TTLOG_CONSTANTS(TTLOG_ENUM_) };
enum { TTLOG_HEADER_FIELDS(TTLOG_ENUM_) };
enum { TTLOG_RECORD_FIELDS(TTLOG_ENUM_) };
enum { TTLOG_FIELD_KINDS(TTLOG_ENUM_) };
#undef TTLOG_ENUM_

/* LEVEL_TRACE = 5, ... */
#define TTLOG_LEVEL_ENUM_(NAME, METHOD, VALUE) LEVEL_##NAME = (VALUE),
enum { TTLOG_LEVELS(TTLOG_LEVEL_ENUM_) };
#undef TTLOG_LEVEL_ENUM_

/* COL_INT = 1, ... COL_OBJ; 0 is no column kind (a field kind that does not exist) */
#define TTLOG_COL_ENUM_(NAME, TEXT) COL_##NAME,
enum { COL_INVALID, TTLOG_COLUMN_KINDS(TTLOG_COL_ENUM_) COL_COUNT };
#undef TTLOG_COL_ENUM_

#endif /* TTLOG_FORMAT_H */
