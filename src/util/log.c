/* Diagnostic log lines on stderr, raised by -v. User-facing output belongs to cli, not here. */
#include <stdarg.h>
#include <stdio.h>

#include "rollgate/util.h"

static enum rg_log_level current = RG_LOG_WARN;

void
rg_log_set_level(enum rg_log_level level)
{
    current = level;
}

enum rg_log_level
rg_log_get_level(void)
{
    return current;
}

void
rg_log(enum rg_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug", "trace"};
    va_list ap;

    if (level > current)
        return;
    fprintf(stderr, "rollgate: %s: ", names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
