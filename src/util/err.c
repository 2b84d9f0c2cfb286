/* rg_err: fill, prefix and name errors. Messages are cut, never overflowed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rollgate/err.h"

static void
mark_cut(char *msg, size_t size)
{
    static const char ellipsis[] = "...";

    memcpy(msg + size - sizeof(ellipsis), ellipsis, sizeof(ellipsis));
}

void
rg_err_clear(struct rg_err *err)
{
    if (!err)
        return;
    err->code = RG_OK;
    err->sys_errno = 0;
    err->msg[0] = '\0';
}

static int
err_vset(struct rg_err *err, int code, int sys_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int
err_vset(struct rg_err *err, int code, int sys_errno, const char *fmt, va_list ap)
{
    int n;

    if (!err)
        return code;
    err->code = code;
    err->sys_errno = sys_errno;
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0)
        err->msg[0] = '\0';
    else if ((size_t)n >= sizeof(err->msg))
        mark_cut(err->msg, sizeof(err->msg));
    return code;
}

int
rg_err_set(struct rg_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int
rg_err_sys(struct rg_err *err, int code, const char *fmt, ...)
{
    int saved = errno;
    size_t len;
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, code, saved, fmt, ap);
    va_end(ap);
    if (!err)
        return code;
    len = strlen(err->msg);
    if (len < sizeof(err->msg) - 1) {
        int n = snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(saved));
        if (n < 0 || (size_t)n >= sizeof(err->msg) - len)
            mark_cut(err->msg, sizeof(err->msg));
    }
    return code;
}

int
rg_err_prefix(struct rg_err *err, const char *fmt, ...)
{
    char prefix[RG_ERR_MSG_MAX];
    char old[RG_ERR_MSG_MAX];
    va_list ap;
    int n;

    if (!err)
        return RG_EINTERNAL;
    va_start(ap, fmt);
    n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->code;
    memcpy(old, err->msg, sizeof(old));
    n = snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        mark_cut(err->msg, sizeof(err->msg));
    return err->code;
}

const char *
rg_err_code_name(int code)
{
    switch (code) {
    case RG_OK: return "ok";
    case RG_EINVAL: return "invalid";
    case RG_ENOENT: return "not found";
    case RG_EIO: return "i/o";
    case RG_ETIMEOUT: return "timeout";
    case RG_EBUSY: return "busy";
    case RG_EGATE: return "gate failed";
    case RG_EDB: return "database";
    case RG_ERUNTIME: return "runtime";
    case RG_EINTERNAL: return "internal";
    case RG_ECANCELED: return "cancelled";
    }
    return "unknown";
}
