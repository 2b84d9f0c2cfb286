/* What the host shows: free space of the paths that matter, and the app's own log file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dx.h"

static void
add_disk(struct dx *dx, const char *path)
{
    struct statvfs vfs;

    if (!path || dx->n_disks >= sizeof(dx->disks) / sizeof(dx->disks[0]))
        return;
    for (size_t i = 0; i < dx->n_disks; i++)
        if (strcmp(dx->disks[i].path, path) == 0)
            return;
    if (statvfs(path, &vfs) < 0)
        return; /* a path of another machine, or not made yet: nothing to say */
    struct dx_disk *d = &dx->disks[dx->n_disks++];
    snprintf(d->path, sizeof(d->path), "%s", path);
    d->avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    d->total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    d->files_avail = vfs.f_favail;
}

void
dx_collect_disks(struct dx *dx)
{
    const struct rg_playbook *pb = dx->pb;

    for (size_t i = 0; i < pb->diagnose.disks.n; i++)
        add_disk(dx, pb->diagnose.disks.v[i]);
    if (pb->diagnose.disks.n)
        return;
    add_disk(dx, pb->state_dir);
    add_disk(dx, pb->backup.dir);
    add_disk(dx, pb->runtime.project_dir);
    add_disk(dx, pb->runtime.root);
    add_disk(dx, "/var/lib/docker");
    add_disk(dx, "/var/log");
}

/* The time of a log line that starts with one (within its first 40 bytes): Odoo's
 * "2026-12-01 12:14:32,123", gunicorn's "[2026-12-01 12:14:32 +0000]"; local time unless an
 * offset follows. 0 when the line has none. */
static int64_t
line_time(const char *p, size_t n)
{
    for (size_t i = 0; i + 19 <= n && i < 40; i++) {
        struct tm tm = {0};
        int y, mo, d, h, mi, se, used = 0;
        char sign;
        int off;
        char probe[48];
        snprintf(probe, sizeof(probe), "%.*s", (int)(n - i < 47 ? n - i : 47), p + i);
        if (sscanf(probe, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &used) != 6 ||
            used != 19)
            continue;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = se;
        tm.tm_isdst = -1;
        if (sscanf(probe + used, " %c%4d", &sign, &off) == 2 && (sign == '+' || sign == '-')) {
            int64_t t = (int64_t)timegm(&tm) - (sign == '-' ? -1 : 1) *
                                                   (int64_t)((off / 100) * 3600 + (off % 100) * 60);
            return t * 1000;
        }
        return (int64_t)mktime(&tm) * 1000;
    }
    return 0;
}

/* Keeps the lines of text written since since_ms: a line without a time of its own (a
 * traceback's) goes with the last line that had one; lines before the first time are older. A
 * file with no times at all is kept whole. */
static void
keep_since(struct rg_buf *text, int64_t since_ms)
{
    struct rg_buf kept;
    bool any = false, keep = false;

    if (!text->data)
        return;
    rg_buf_init(&kept, DX_LOG_BYTES);
    for (const char *p = text->data; *p;) {
        size_t n = strcspn(p, "\n");
        int64_t t = line_time(p, n);
        if (t) {
            any = true;
            keep = t >= since_ms;
        }
        if (keep)
            rg_buf_addf(&kept, "%.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    if (any) {
        rg_buf_release(text);
        *text = kept;
    } else {
        rg_buf_release(&kept);
    }
}

void
dx_collect_app_log(struct dx *dx)
{
    const char *path = dx->pb->diagnose.app_log;
    struct stat st;
    char chunk[8192];
    ssize_t got;
    int fd;

    rg_buf_init(&dx->app_log, DX_LOG_BYTES);
    if (!path)
        return;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        dx_note(dx, "app log %s not read: %s", path, strerror(errno));
        return;
    }
    /* The file's end: the lines since the window began are there (a log file carries no
     * timestamps rollgate can trust across apps). */
    if (fstat(fd, &st) == 0 && st.st_size > DX_LOG_BYTES)
        (void)lseek(fd, st.st_size - DX_LOG_BYTES, SEEK_SET);
    while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        rg_buf_add(&dx->app_log, chunk, (size_t)got);
    }
    close(fd);
    keep_since(&dx->app_log, dx->since_ms);
}
