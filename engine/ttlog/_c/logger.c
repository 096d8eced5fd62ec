/* engine/ttlog/_c/logger.c: Logger, a named logger over a Ring; the twin of ttlog.ring.PyLogger.
 *
 * Invariants:
 * - A disabled call is one load and one compare (the level method, generated from TTLOG_LEVELS),
 *   and touches nothing else.
 * - An enabled call without the stdlib's keywords goes straight to tt_ring_write; exc_info,
 *   stack_info and Logger.exception take a slower path that builds the fields as
 *   ttlog.ring.stdlib_fields says (the same function the twin calls), so both write the same.
 * - A Logger whose __init__ never ran points at an unmapped ring: it writes nothing and never
 *   crashes.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "format.h"
#include "module.h"
#include "util.h"
#include "writer.h"

typedef struct {
    PyObject_HEAD
    RingObject *ring;
    logger_name lname; /* the name, and its id in the ring's current string table */
} LoggerObject;

/* Logger.__new__(cls, *args, **kwargs): points at an unmapped ring until __init__ runs. */
static PyObject *Logger_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwds)) {
    PyObject *module = PyType_GetModuleByDef(type, &tt_moduledef);
    if (module == NULL) return NULL;
    modstate *st = (modstate *)PyModule_GetState(module);
    if (st->dead_ring == NULL || st->empty == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ttlog._ring is being torn down");
        return NULL;
    }
    LoggerObject *lg = (LoggerObject *)type->tp_alloc(type, 0);
    if (lg == NULL) return NULL;
    Py_INCREF(st->dead_ring);
    lg->ring = (RingObject *)st->dead_ring;
    Py_INCREF(st->empty);
    lg->lname.name = st->empty;
    lg->lname.gen = UINT64_MAX;
    return (PyObject *)lg;
}

/* Logger.__init__(ring, name) */
static int Logger_init(LoggerObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"ring", "name", NULL};
    PyObject *ring, *name;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Logger", kwlist, &ring, &name)) return -1;
    PyObject *module = PyType_GetModuleByDef(Py_TYPE(self), &tt_moduledef);
    if (module == NULL) return -1;
    modstate *st = (modstate *)PyModule_GetState(module);
    if (!PyObject_TypeCheck(ring, st->ring_type)) {
        PyErr_Format(PyExc_TypeError, "ring must be an ttlog._ring.Ring, not %.100s", Py_TYPE(ring)->tp_name);
        return -1;
    }
    PyObject *s = PyObject_Str(name);
    if (s == NULL) return -1;
    if (!PyUnicode_CheckExact(s)) Py_SETREF(s, PyUnicode_FromObject(s));
    if (s == NULL) return -1;
    Py_INCREF(ring);
    Py_SETREF(self->ring, (RingObject *)ring);
    Py_SETREF(self->lname.name, s);
    self->lname.id = 0;
    self->lname.gen = UINT64_MAX;
    return 0;
}

/* gc: a Logger refers to its type, ring and name */
static int Logger_traverse(LoggerObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->ring);
    Py_VISIT(self->lname.name);
    return 0;
}

/* Logger.__del__ (also the base part of a Python subclass's dealloc) */
static void Logger_dealloc(LoggerObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->ring);
    Py_CLEAR(self->lname.name);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* ---- the stdlib's keywords: exc_info, stack_info --------------------------------------------- */

/* a keyword name of n characters is "exc_info" or "stack_info" */
static inline int is_stdlib_keyword(PyObject *k, Py_ssize_t n) {
    if (!PyUnicode_IS_ASCII(k)) return 0;
    const void *p = PyUnicode_DATA(k);
    return n == 8 ? memcmp(p, "exc_info", 8) == 0 : memcmp(p, "stack_info", 10) == 0;
}

/* any of the keyword names kwk[nkw] is "exc_info" or "stack_info": a length compare per name */
static inline int has_stdlib_keyword(PyObject *const *kwk, Py_ssize_t nkw) {
    for (Py_ssize_t i = 0; i < nkw; i++) {
        const Py_ssize_t n = PyUnicode_GET_LENGTH(kwk[i]);
        if (UNLIKELY(n == 8 || n == 10) && is_stdlib_keyword(kwk[i], n)) return 1;
    }
    return 0;
}

/* The enabled path of a call with exc_info or stack_info, or of Logger.exception: PyRing.write with
 * the fields ttlog.ring.stdlib_fields(fields, caller's frame, exception) returns. */
static __attribute__((noinline)) PyObject *emit_with_stdlib_keywords(LoggerObject *lg, uint32_t level, PyObject *msg,
                                                                     PyObject *const *pos, Py_ssize_t npos,
                                                                     PyObject *const *kwk, PyObject *const *kwv,
                                                                     Py_ssize_t nkw, int exception) {
    RingObject *r = lg->ring;
    modstate *st = r->st;
    PyObject *fields = NULL, *done = NULL, *keys = NULL, *vals = NULL, *res = NULL;
    if (st->stdlib_fields == NULL && tt_load_ring_module(st) < 0) return NULL;
    if ((fields = PyDict_New()) == NULL) return NULL;
    for (Py_ssize_t i = 0; i < nkw; i++)
        if (PyDict_SetItem(fields, kwk[i], kwv[i]) < 0) goto done;
    /* the innermost Python frame: the caller's (a C method has no frame of its own) */
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    done = PyObject_CallFunctionObjArgs(st->stdlib_fields, fields, frame ? frame : Py_None,
                                        exception ? Py_True : Py_False, NULL);
    if (done == NULL) goto done;
    if (!PyDict_Check(done)) {
        PyErr_SetString(PyExc_TypeError, "stdlib_fields must return a dict");
        goto done;
    }
    if ((keys = PyDict_Keys(done)) == NULL || (vals = PyDict_Values(done)) == NULL) goto done;
    if (tt_ring_write(r, &lg->lname, 0, level, msg, pos, npos, ((PyListObject *)keys)->ob_item,
                      ((PyListObject *)vals)->ob_item, PyList_GET_SIZE(keys)) == 0) {
        Py_INCREF(Py_None);
        res = Py_None;
    }
done:
    Py_DECREF(fields);
    Py_XDECREF(done);
    Py_XDECREF(keys);
    Py_XDECREF(vals);
    return res;
}

/* ---- the log calls --------------------------------------------------------------------------- */

/* The enabled path of Logger.<level>(msg="", *args, **fields): PyRing.write with this logger.
 * exception: Logger.exception (exc_info=True unless given). */
static inline PyObject *logger_emit(LoggerObject *lg, uint32_t level, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames, int exception) {
    RingObject *r = lg->ring;
    if (UNLIKELY(r->map == NULL || r->st->empty == NULL)) Py_RETURN_NONE;
    PyObject *msg = r->st->empty;
    PyObject *const *pos = NULL;
    Py_ssize_t npos = 0, nkw = 0;
    PyObject *const *kwk = NULL, *const *kwv = NULL;
    if (nargs > 0) {
        msg = args[0];
        pos = args + 1;
        npos = nargs - 1;
    }
    if (kwnames != NULL && (nkw = PyTuple_GET_SIZE(kwnames)) > 0) {
        kwk = ((PyTupleObject *)kwnames)->ob_item;
        kwv = args + nargs;
    }
    if (UNLIKELY(exception || has_stdlib_keyword(kwk, nkw)))
        return emit_with_stdlib_keywords(lg, level, msg, pos, npos, kwk, kwv, nkw, exception);
    if (UNLIKELY(tt_ring_write(r, &lg->lname, 0, level, msg, pos, npos, kwk, kwv, nkw) < 0)) return NULL;
    Py_RETURN_NONE;
}

/* Logger.<method>(msg="", *args, **fields), one per entry X(NAME, method, value) of TTLOG_LEVELS
 * (Logger.trace ... Logger.critical), as Logger_level_<NAME>. The disabled path is this compare. */
#define LEVEL_METHOD(NAME, METHOD, VALUE)                                                              \
    static PyObject *Logger_level_##NAME(PyObject *self, PyObject *const *args, Py_ssize_t nargs,      \
                                         PyObject *kwnames) {                                          \
        LoggerObject *lg = (LoggerObject *)self;                                                       \
        if ((VALUE) < tt_min_level(lg->ring)) Py_RETURN_NONE;                                          \
        return logger_emit(lg, (VALUE), args, nargs, kwnames, 0);                                      \
    }
TTLOG_LEVELS(LEVEL_METHOD)
#undef LEVEL_METHOD

/* Logger.exception(msg="", *args, **fields): Logger.error with exc_info=True unless given */
static PyObject *Logger_exception(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    LoggerObject *lg = (LoggerObject *)self;
    if (LEVEL_ERROR < tt_min_level(lg->ring)) Py_RETURN_NONE;
    return logger_emit(lg, LEVEL_ERROR, args, nargs, kwnames, 1);
}

/* level_value(level), INFO if that raises; for Logger.log */
static uint32_t level_of(modstate *st, PyObject *lv) {
    if (PyLong_CheckExact(lv)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(lv, &overflow);
        if (overflow == 0 && v >= 0 && v < LEVEL_OFF) return (uint32_t)v;
        PyErr_Clear();
        return LEVEL_INFO; /* level_value raises "out of range" */
    }
    if (st->level_value == NULL && tt_load_ring_module(st) < 0) {
        PyErr_Clear();
        return LEVEL_INFO;
    }
    PyObject *res = PyObject_CallOneArg(st->level_value, lv);
    uint32_t out = LEVEL_INFO;
    if (res != NULL && PyLong_Check(res)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(res, &overflow);
        if (overflow == 0 && v >= 0 && v < LEVEL_OFF) out = (uint32_t)v;
    }
    Py_XDECREF(res);
    PyErr_Clear();
    return out;
}

/* Logger.log(level, msg, *args, **fields) */
static PyObject *Logger_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    LoggerObject *lg = (LoggerObject *)self;
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "log() needs a level and a message: log(level, msg, *args, **fields)");
        return NULL;
    }
    RingObject *r = lg->ring;
    if (r->map == NULL) Py_RETURN_NONE;
    uint32_t level = level_of(r->st, args[0]);
    if (level < tt_min_level(r)) Py_RETURN_NONE;
    return logger_emit(lg, level, args + 1, nargs - 1, kwnames, 0);
}

/* Logger.is_enabled_for(level) */
static PyObject *Logger_is_enabled_for(PyObject *self, PyObject *level) {
    LoggerObject *lg = (LoggerObject *)self;
    uint32_t min = tt_min_level(lg->ring);
    if (PyLong_CheckExact(level)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(level, &overflow);
        if (overflow == 0 && !(v == -1 && PyErr_Occurred())) return PyBool_FromLong(v >= (long long)min);
        PyErr_Clear();
    }
    PyObject *m = PyLong_FromUnsignedLong(min);
    if (m == NULL) return NULL;
    PyObject *res = PyObject_RichCompare(level, m, Py_GE);
    Py_DECREF(m);
    return res;
}

/* Logger.name */
static PyObject *Logger_get_name(LoggerObject *self, void *Py_UNUSED(c)) {
    Py_INCREF(self->lname.name);
    return self->lname.name;
}

/* Logger.ring */
static PyObject *Logger_get_ring(LoggerObject *self, void *Py_UNUSED(c)) {
    Py_INCREF(self->ring);
    return (PyObject *)self->ring;
}

/* ---- the type -------------------------------------------------------------------------------- */

#define LEVEL_DOC(NAME, METHOD)                                                                        \
    #METHOD "($self, msg='', /, *args, **fields)\n--\n\nWrite one record at level " #NAME              \
            " (a compare and nothing else when the level is disabled). Positional args are stored as " \
            "fields arg0, arg1, ...; exc_info and stack_info mean what they mean to the standard "     \
            "library's logging; never raises for odd values."
#define LEVEL_ENTRY(NAME, METHOD, VALUE)                                                               \
    {#METHOD, (PyCFunction)(void (*)(void))Logger_level_##NAME, METH_FASTCALL | METH_KEYWORDS,          \
     LEVEL_DOC(NAME, METHOD)},
#define ALIAS_ENTRY(METHOD, NAME)                                                                      \
    {#METHOD, (PyCFunction)(void (*)(void))Logger_level_##NAME, METH_FASTCALL | METH_KEYWORDS,          \
     LEVEL_DOC(NAME, METHOD)},

static PyMethodDef Logger_methods[] = {
    TTLOG_LEVELS(LEVEL_ENTRY)
    TTLOG_LEVEL_ALIASES(ALIAS_ENTRY)
    {"exception", (PyCFunction)(void (*)(void))Logger_exception, METH_FASTCALL | METH_KEYWORDS,
     "exception($self, msg='', /, *args, **fields)\n--\n\nerror() with the traceback of the exception being "
     "handled in field exc_info (unless exc_info is given), as the standard library's Logger.exception."},
    {"log", (PyCFunction)(void (*)(void))Logger_log, METH_FASTCALL | METH_KEYWORDS,
     "log($self, level, msg, /, *args, **fields)\n--\n\nWrite one record at level (an int 0..255 or a name "
     "such as 'warn'; anything else is INFO)."},
    {"is_enabled_for", (PyCFunction)Logger_is_enabled_for, METH_O,
     "is_enabled_for($self, level, /)\n--\n\nWhether a record at level would be written now."},
    {NULL, NULL, 0, NULL},
};
#undef LEVEL_ENTRY
#undef ALIAS_ENTRY
#undef LEVEL_DOC

static PyGetSetDef Logger_getset[] = {
    {"name", (getter)Logger_get_name, NULL, "The logger's name.", NULL},
    {"ring", (getter)Logger_get_ring, NULL, "The Ring the logger writes to.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Logger_slots[] = {
    {Py_tp_doc,
     "Logger(ring, name)\n--\n\nA named logger over a Ring (the C twin of ttlog.ring.PyLogger).\n\n"
     "log.info(msg, *args, **fields) and its siblings (trace, debug, market_data, order, trade, "
     "portfolio, risk, warn, warning, error, critical) write one record; positional args are stored "
     "as fields arg0, arg1, ... log.exception(msg) adds the current traceback. Subclassable."},
    {Py_tp_new, Logger_new},
    {Py_tp_init, Logger_init},
    {Py_tp_dealloc, Logger_dealloc},
    {Py_tp_traverse, Logger_traverse},
    {Py_tp_methods, Logger_methods},
    {Py_tp_getset, Logger_getset},
    {0, NULL},
};

PyType_Spec tt_logger_spec = {
    .name = "ttlog._ring.Logger",
    .basicsize = sizeof(LoggerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Logger_slots,
};
