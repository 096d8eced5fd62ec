/* engine/ttlog/_c/module.c: the module ttlog._ring: its state, init and teardown, its functions,
 * and the format tables it exports.
 *
 * The tables (LEVELS, METHOD_LEVELS, HEADER_OFFSETS, RECORD_OFFSETS, FIELD_KINDS, KIND_NAMES,
 * CONSTANTS, MAGIC) are format.h's X-macros as dicts, so tests/ttlog/test_layout.py can check
 * the pure-Python side's copy (ttlog.layout) against what the C code was compiled with.
 * ASSERTS says whether this build checks its assert()s (a debug build: TTLOG_DEBUG_C=1).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>

#include "format.h"
#include "module.h"

/* import ttlog.ring and keep what the C side calls back into */
int tt_load_ring_module(modstate *st) {
    if (st->ring_mod != NULL) return 0;
    PyObject *m = PyImport_ImportModule("ttlog.ring");
    if (m == NULL) return -1;
    PyObject *a = PyObject_GetAttrString(m, "obj_text");
    PyObject *b = a ? PyObject_GetAttrString(m, "level_value") : NULL;
    PyObject *c = b ? PyObject_GetAttrString(m, "read_geometry") : NULL;
    PyObject *d = c ? PyObject_GetAttrString(m, "RingError") : NULL;
    PyObject *e = d ? PyObject_GetAttrString(m, "stdlib_fields") : NULL;
    if (e == NULL) {
        Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c); Py_XDECREF(d); Py_DECREF(m);
        return -1;
    }
    if (st->ring_mod != NULL) { /* imported meanwhile by code the import ran */
        Py_DECREF(a); Py_DECREF(b); Py_DECREF(c); Py_DECREF(d); Py_DECREF(e); Py_DECREF(m);
        return 0;
    }
    st->obj_text = a;
    st->level_value = b;
    st->read_geometry = c;
    st->ring_error = d;
    st->stdlib_fields = e;
    st->ring_mod = m;
    return 0;
}

/* ---- the format tables ----------------------------------------------------------------------- */

/* d[key] = value */
static int put_int(PyObject *d, const char *key, long long value) {
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) return -1;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}

/* module.name = d (the reference to d is consumed; d may be NULL: an error) */
static int add_table(PyObject *m, const char *name, PyObject *d) {
    if (d == NULL) return -1;
    int rc = PyModule_AddObjectRef(m, name, d);
    Py_DECREF(d);
    return rc;
}

#define PUT_(NAME, VALUE, ...)                                                                         \
    if (put_int(d, #NAME, (VALUE)) < 0) goto fail;

/* {name: value} of one X(NAME, VALUE, ...) table */
#define TABLE_FUNCTION(FUNC, TABLE)                                                                    \
    static PyObject *FUNC(void) {                                                                      \
        PyObject *d = PyDict_New();                                                                    \
        if (d == NULL) return NULL;                                                                    \
        TABLE(PUT_)                                                                                    \
        return d;                                                                                      \
    fail:                                                                                              \
        Py_DECREF(d);                                                                                  \
        return NULL;                                                                                   \
    }
TABLE_FUNCTION(constants_table, TTLOG_CONSTANTS)
TABLE_FUNCTION(header_table, TTLOG_HEADER_FIELDS)
TABLE_FUNCTION(record_table, TTLOG_RECORD_FIELDS)
TABLE_FUNCTION(field_kinds_table, TTLOG_FIELD_KINDS)
#undef TABLE_FUNCTION
#undef PUT_

/* LEVELS {"TRACE": 5, ...} */
static PyObject *levels_table(void) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
#define PUT_(NAME, METHOD, VALUE)                                                                      \
    if (put_int(d, #NAME, (VALUE)) < 0) goto fail;
    TTLOG_LEVELS(PUT_)
#undef PUT_
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* METHOD_LEVELS {"trace": 5, ..., "warning": 30}: the Logger methods that write at a level */
static PyObject *method_levels_table(void) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
#define PUT_(NAME, METHOD, VALUE)                                                                      \
    if (put_int(d, #METHOD, (VALUE)) < 0) goto fail;
    TTLOG_LEVELS(PUT_)
#undef PUT_
#define PUT_(METHOD, NAME)                                                                             \
    if (put_int(d, #METHOD, LEVEL_##NAME) < 0) goto fail;
    TTLOG_LEVEL_ALIASES(PUT_)
#undef PUT_
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* the text of each column kind, index COL_* */
#define TEXT_(NAME, TEXT) TEXT,
static const char *const column_kind_text[COL_COUNT] = {NULL, TTLOG_COLUMN_KINDS(TEXT_)};
#undef TEXT_

/* KIND_NAMES {1: "int", ...}: field kind -> the kind of its decoded column */
static PyObject *kind_names_table(void) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
#define PUT_(NAME, VALUE, COL)                                                                         \
    {                                                                                                  \
        PyObject *k = PyLong_FromLong(VALUE), *v = PyUnicode_FromString(column_kind_text[COL_##COL]);  \
        int rc = (k && v) ? PyDict_SetItem(d, k, v) : -1;                                              \
        Py_XDECREF(k);                                                                                 \
        Py_XDECREF(v);                                                                                 \
        if (rc < 0) goto fail;                                                                         \
    }
    TTLOG_FIELD_KINDS(PUT_)
#undef PUT_
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static int add_format_tables(PyObject *m) {
#ifdef NDEBUG
    PyObject *asserts = Py_False;
#else
    PyObject *asserts = Py_True;
#endif
    if (add_table(m, "LEVELS", levels_table()) < 0 || add_table(m, "METHOD_LEVELS", method_levels_table()) < 0 ||
        add_table(m, "HEADER_OFFSETS", header_table()) < 0 || add_table(m, "RECORD_OFFSETS", record_table()) < 0 ||
        add_table(m, "FIELD_KINDS", field_kinds_table()) < 0 || add_table(m, "KIND_NAMES", kind_names_table()) < 0 ||
        add_table(m, "CONSTANTS", constants_table()) < 0 ||
        add_table(m, "MAGIC", PyBytes_FromStringAndSize(TTLOG_MAGIC, sizeof TTLOG_MAGIC - 1)) < 0 ||
        PyModule_AddObjectRef(m, "ASSERTS", asserts) < 0)
        return -1;
    return 0;
}

/* ---- the module ------------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"decode", (PyCFunction)(void (*)(void))tt_decode, METH_FASTCALL,
     "decode($module, buf, start_pos, /)\n--\n\nDecode the records in buf, a linear copy of ring bytes whose "
     "first byte is ring position start_pos, into columns (see docs/FORMAT.md, \"Decoded batches\"); the "
     "same result as ttlog.reader.py_decode, errors included."},
    {NULL, NULL, 0, NULL},
};

/* gc of the module state */
static int module_traverse(PyObject *m, visitproc visit, void *arg) {
    modstate *st = (modstate *)PyModule_GetState(m);
    if (st == NULL) return 0;
    Py_VISIT(st->ring_type);
    Py_VISIT(st->logger_type);
    Py_VISIT(st->ring_mod);
    Py_VISIT(st->obj_text);
    Py_VISIT(st->level_value);
    Py_VISIT(st->read_geometry);
    Py_VISIT(st->stdlib_fields);
    Py_VISIT(st->ring_error);
    Py_VISIT(st->dead_ring);
    return 0;
}

/* module teardown: drop the state's references (loggers still alive become no-ops) */
static int module_clear(PyObject *m) {
    modstate *st = (modstate *)PyModule_GetState(m);
    if (st == NULL) return 0;
    Py_CLEAR(st->dead_ring);
    Py_CLEAR(st->ring_type);
    Py_CLEAR(st->logger_type);
    Py_CLEAR(st->ring_mod);
    Py_CLEAR(st->obj_text);
    Py_CLEAR(st->level_value);
    Py_CLEAR(st->read_geometry);
    Py_CLEAR(st->stdlib_fields);
    Py_CLEAR(st->ring_error);
    Py_CLEAR(st->arg_names);
    Py_CLEAR(st->empty);
    Py_CLEAR(st->str_index);
    Py_CLEAR(st->str_release);
    for (int i = 0; i < COL_COUNT; i++) Py_CLEAR(st->kind_names[i]);
    tt_decode_pool_clear(st);
    return 0;
}

static void module_free(void *m) {
    module_clear((PyObject *)m);
    modstate *st = (modstate *)PyModule_GetState((PyObject *)m);
    if (st != NULL) tt_decode_pool_free(st);
}

/* import ttlog._ring (PEP 489 exec slot): the types, the tables, and the unmapped ring */
static int module_exec(PyObject *m) {
    modstate *st = (modstate *)PyModule_GetState(m);
    st->ring_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &tt_ring_spec, NULL);
    if (st->ring_type == NULL || PyModule_AddType(m, st->ring_type) < 0) return -1;
    st->logger_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &tt_logger_spec, NULL);
    if (st->logger_type == NULL || PyModule_AddType(m, st->logger_type) < 0) return -1;
    if ((st->arg_names = PyTuple_New(MAX_FIELDS)) == NULL) return -1;
    for (int i = 0; i < MAX_FIELDS; i++) {
        char name[16];
        snprintf(name, sizeof name, "arg%d", i);
        PyObject *s = PyUnicode_InternFromString(name);
        if (s == NULL) return -1;
        PyTuple_SET_ITEM(st->arg_names, i, s);
    }
    if ((st->empty = PyUnicode_FromStringAndSize("", 0)) == NULL) return -1;
    if ((st->str_index = PyUnicode_InternFromString("__index__")) == NULL) return -1;
    if ((st->str_release = PyUnicode_InternFromString("release")) == NULL) return -1;
    for (int i = 1; i < COL_COUNT; i++)
        if ((st->kind_names[i] = PyUnicode_InternFromString(column_kind_text[i])) == NULL) return -1;
    if (add_format_tables(m) < 0) return -1;
    PyObject *dead = st->ring_type->tp_alloc(st->ring_type, 0);
    if (dead == NULL) return -1;
    tt_ring_init_unmapped(dead, m);
    st->dead_ring = dead;
    if (pthread_atfork(NULL, NULL, tt_tid_after_fork) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

PyModuleDef tt_moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ttlog._ring",
    .m_doc = "The C writer of ttlog rings (Ring, Logger) and the batch decoder (decode): the twins of "
             "ttlog.ring.PyRing, ttlog.ring.PyLogger and ttlog.reader.py_decode, byte for byte; and the "
             "ring format's tables it was compiled with.",
    .m_size = sizeof(modstate),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__ring(void) { return PyModuleDef_Init(&tt_moduledef); }
