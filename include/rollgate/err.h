/* The one error type of rollgate: a code callers can act on and a message a person can act on. */
#ifndef ROLLGATE_ERR_H
#define ROLLGATE_ERR_H

#include <stddef.h>

enum rg_err_code {
    RG_OK = 0,
    RG_EINVAL = -1,     /* invalid input: playbook, tag, option, archive */
    RG_ENOENT = -2,     /* a named thing does not exist */
    RG_EIO = -3,        /* reading or writing failed */
    RG_ETIMEOUT = -4,   /* a deadline passed */
    RG_EBUSY = -5,      /* another run holds the target */
    RG_EGATE = -6,      /* a health gate failed */
    RG_EDB = -7,        /* a database call failed */
    RG_ERUNTIME = -8,   /* the container runtime refused or failed */
    RG_EINTERNAL = -9,  /* a bug in rollgate */
    RG_ECANCELED = -10, /* stopped on request (SIGINT, SIGTERM) */
    RG_ENOPERM = -11,   /* the environment: permission denied on a path rollgate needs */
    RG_ECANTCREAT = -12, /* the environment: a directory or file cannot be created there */
};

#define RG_ERR_MSG_MAX 512

struct rg_err {
    int code;
    int sys_errno;
    char msg[RG_ERR_MSG_MAX];
};

/* Clears err to RG_OK with an empty message. */
void rg_err_clear(struct rg_err *err);

/* Sets err's code and printf-style message; returns code so callers can `return rg_err_set(…)`.
 * err may be NULL (the message is then dropped). A message that does not fit is cut with "…". */
int rg_err_set(struct rg_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like rg_err_set, and appends ": strerror(errno)" and keeps errno in sys_errno. */
int rg_err_sys(struct rg_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts context in front of an existing message ("gate 'health': " + msg); returns err->code. */
int rg_err_prefix(struct rg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short lowercase name of a code ("invalid", "not found", …) for logs and JSON. */
const char *rg_err_code_name(int code);

#endif
