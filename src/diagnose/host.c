/* What the host shows: free space of the paths that matter, and the app's own log file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
}
