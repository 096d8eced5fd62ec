/* engine/ttlog/_c/module.h: the state of the module ttlog._ring, and what its C files give each other.
 *
 * No globals beyond one thread-local (writer.c: the cached native thread id): everything else
 * lives in the module state (PEP 489 multi-phase init, heap types made with
 * PyType_FromModuleAndSpec), reached from a type through PyType_GetModuleByDef(type, &tt_moduledef)
 * or from an object through the module it keeps a reference to.
 *
 *   module.c   the module: state, init and teardown, the exported format tables, decode's entry
 *   writer.c   Ring (ttlog.ring.PyRing's twin): map, intern, encode a call's values, commit
 *   logger.c   Logger (ttlog.ring.PyLogger's twin): the level methods, log, exception
 *   decoder.c  decode (ttlog.reader.py_decode's twin): ring bytes -> columns
 */
#ifndef TTLOG_MODULE_H
#define TTLOG_MODULE_H

#include "format.h"

typedef struct {
    PyTypeObject *ring_type;
    PyTypeObject *logger_type;
    PyObject *ring_mod;       /* ttlog.ring, imported on first need */
    PyObject *obj_text;       /* ttlog.ring.obj_text */
    PyObject *level_value;    /* ttlog.ring.level_value */
    PyObject *read_geometry;  /* ttlog.ring.read_geometry */
    PyObject *stdlib_fields;  /* ttlog.ring.stdlib_fields */
    PyObject *ring_error;     /* ttlog.ring.RingError */
    PyObject *arg_names;      /* ("arg0", ..., "arg254"), interned */
    PyObject *empty;          /* "" */
    PyObject *str_index;      /* "__index__" */
    PyObject *str_release;    /* "release" */
    PyObject *kind_names[COL_COUNT]; /* a decoded column's kind: "int", "float", ... (index COL_*) */
    PyObject *dead_ring;      /* an unmapped Ring: what a Logger whose __init__ never ran points at */
    void *decode_pool;        /* decode's pool of bytearrays (decoder.c), made on first use */
} modstate;

/* the module's definition (module.c); PyType_GetModuleByDef finds the module of a type by it */
extern PyModuleDef tt_moduledef;

/* import ttlog.ring and keep what the C side calls back into (module.c); 0 or -1 */
int tt_load_ring_module(modstate *st);

/* writer.c */
extern PyType_Spec tt_ring_spec;
void tt_ring_init_unmapped(PyObject *ring, PyObject *module); /* Ring.__init__ of a ring made in C */
void tt_tid_after_fork(void);                                 /* pthread_atfork child handler */

/* logger.c */
extern PyType_Spec tt_logger_spec;

/* decoder.c */
PyObject *tt_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs); /* decode(buf, start_pos) */
void tt_decode_pool_clear(modstate *st); /* drop the pooled bytearrays (module teardown) */
void tt_decode_pool_free(modstate *st);  /* and the pool itself */

#endif /* TTLOG_MODULE_H */
