/* libFuzzer target: the backup archive verifier (and the extractor when an input verifies), the
 * code that stands between an untrusted archive and the live database. The first byte chooses
 * how the rest becomes a file: 0 as is (zip, zstd or gzip tar: the detection path), 1 wrapped in
 * gzip here, so that the mutations reach the tar headers, the member rules and the manifest
 * instead of dying in a decompressor's checksum. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "rollgate/backup_archive.h"
#include "rollgate/spawn.h"

static char dir[64];
static char path[128];

static void remove_tree(const char *p);

static void
teardown(void)
{
    remove_tree(dir);
}

static void
setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof(dir), "/tmp/rollgate-fuzz-archive.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/input", dir);
    atexit(teardown);
}

static void
remove_tree(const char *p)
{
    /* Only what rg_archive_extract made: the dump file and a filestore of plain entries. */
    const char *argv[] = {"rm", "-rf", "--", p, NULL};
    struct rg_spawn_opts o = {.argv = argv, .timeout_ms = 10000, .cancel_fd = -1};
    struct rg_spawn_result res;
    struct rg_err err;

    if (rg_spawn_run(&res, &o, &err) == 0)
        rg_spawn_result_release(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_archive_limits limits = {.max_member = 1 << 20, .max_total = 4 << 20,
                                       .max_members = 1000};
    struct rg_archive_info info;
    struct rg_err err;

    if (size < 1)
        return 0;
    setup();
    unlink(path);
    if (data[0] == 1) {
        gzFile gz = gzopen(path, "wb1");
        if (!gz)
            abort();
        if (size > 1)
            gzwrite(gz, data + 1, (unsigned)(size - 1));
        gzclose(gz);
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)))
            abort();
        close(fd);
    }
    if (rg_archive_verify(&info, path, &limits, &err) == 0) {
        char db[160], fs[160];
        rg_archive_info_release(&info);
        snprintf(db, sizeof(db), "%s/db", dir);
        snprintf(fs, sizeof(fs), "%s/fs", dir);
        if (rg_archive_extract(path, db, fs, &limits, &info, &err) == 0)
            rg_archive_info_release(&info);
        unlink(db);
        remove_tree(fs);
    }
    return 0;
}
