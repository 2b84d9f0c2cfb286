/* Writing a rollgate backup: pax tar through zstd (gzip when zstd is missing) into
 * "<path>.partial", the dump cut into in-memory parts, the filestore walked without following
 * anything, the manifest last, then fsync and a rename that never replaces a file. */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/archive_internal.h"
#include "backup/digest.h"
#include "rollgate/util.h"
#include "rollgate_version.h"

#define COPY_BUF 65536
#define MAX_DEPTH 128

enum wstate { W_OPEN, W_FAILED, W_COMMITTED };

struct rg_archive_writer {
    char *final;            /* the name the backup gets on commit */
    char *partial;          /* "<final>.partial", removed unless committed */
    int fd;
    struct archive *a;
    enum wstate state;
    bool created;           /* the partial file is ours to remove */
    bool have_db, have_fs;
    struct ar_members members;
    /* what the manifest says about the dump and the filestore */
    char *db_format;
    uint64_t db_size;
    char db_sha256[65];
    size_t db_parts;
    uint64_t fs_files, fs_size;
    time_t now;
};

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int
write_failed(struct rg_archive_writer *w, struct rg_err *err)
{
    w->state = W_FAILED;
    return rg_err_set(err, RG_EIO, "cannot write backup '%s': %s", w->final,
                      archive_error_string(w->a) ? archive_error_string(w->a) : "unknown error");
}

const char *
rg_archive_writer_path(const struct rg_archive_writer *w)
{
    return w->final;
}

int
rg_archive_writer_open(struct rg_archive_writer **out, const char *path, struct rg_err *err)
{
    struct rg_archive_writer *w;
    struct stat st;
    bool zstd = true;
    int rc = 0;

    *out = NULL;
    w = rg_calloc(1, sizeof(*w));
    w->fd = -1;
    w->state = W_FAILED; /* until the partial file exists and the archive is set up */
    w->now = time(NULL);
    w->a = archive_write_new();
    if (!w->a) {
        rc = rg_err_set(err, RG_EIO, "cannot start backup '%s': out of memory", path);
        goto out;
    }
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK) {
        rc = write_failed(w, err);
        goto out;
    }
    /* A libarchive built without libzstd refuses the filter here; gzip is the fallback. */
    if (archive_write_add_filter_zstd(w->a) != ARCHIVE_OK) {
        zstd = false;
        if (archive_write_add_filter_gzip(w->a) != ARCHIVE_OK) {
            w->final = rg_strdup(path);
            rc = write_failed(w, err);
            goto out;
        }
    }
    if (!zstd && ends_with(path, ".tar.zst"))
        w->final = rg_asprintf("%.*s.tar.gz", (int)(strlen(path) - 8), path);
    else
        w->final = rg_strdup(path);
    w->partial = rg_asprintf("%s.partial", w->final);
    if (lstat(w->final, &st) == 0) {
        rc = rg_err_set(err, RG_EINVAL, "backup '%s' already exists", w->final);
        goto out;
    }
    w->fd = open(w->partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot create '%s'", w->partial);
        goto out;
    }
    w->created = true;
    w->state = W_OPEN;
    /* No padding of the last block to 10 KiB: a compressed stream gains nothing from it. */
    if (archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
        archive_write_open_fd(w->a, w->fd) != ARCHIVE_OK) {
        rc = write_failed(w, err);
        goto out;
    }
    *out = w;
    w = NULL;
out:
    rg_archive_writer_free(w);
    return rc;
}

/* Writes a header for a file or directory member and records it for the manifest. */
static int
write_header(struct rg_archive_writer *w, struct ar_member **mb_out, const char *name,
             enum ar_type type, uint64_t size, mode_t perm, time_t mtime, struct rg_err *err)
{
    struct archive_entry *e = archive_entry_new();
    struct ar_member *mb;
    int rc = 0;

    if (!e)
        abort();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type == AR_DIR ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, perm & 0755);
    archive_entry_set_size(e, type == AR_DIR ? 0 : (la_int64_t)size);
    archive_entry_set_mtime(e, mtime, 0);
    if (archive_write_header(w->a, e) != ARCHIVE_OK) {
        rc = write_failed(w, err);
        goto out;
    }
    mb = ar_members_add(&w->members, name, type);
    if (!mb) {
        w->state = W_FAILED;
        rc = rg_err_set(err, RG_EINTERNAL, "backup member '%s' written twice", name);
        goto out;
    }
    mb->size = type == AR_DIR ? 0 : size;
    *mb_out = mb;
out:
    archive_entry_free(e);
    return rc;
}

static int
write_data(struct rg_archive_writer *w, const void *p, size_t n, struct rg_err *err)
{
    const char *c = p;

    while (n > 0) {
        la_ssize_t k = archive_write_data(w->a, c, n);
        if (k <= 0)
            return write_failed(w, err);
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads up to n bytes, short only at EOF; waits on a non-blocking fd. */
static int
read_full(int fd, char *buf, size_t n, size_t *got, struct rg_err *err)
{
    *got = 0;
    while (*got < n) {
        ssize_t k = read(fd, buf + *got, n - *got);
        if (k > 0) {
            *got += (size_t)k;
        } else if (k == 0) {
            break;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return rg_err_sys(err, RG_EIO, "cannot read the database dump");
        } else if (errno != EINTR) {
            return rg_err_sys(err, RG_EIO, "cannot read the database dump");
        }
    }
    return 0;
}

int
rg_archive_writer_add_database(struct rg_archive_writer *w, int fd, const char *db_format,
                               struct rg_err *err)
{
    const char *stem;
    struct ar_sha256 all = {0}, part;
    char *buf = NULL;
    int rc = 0;

    if (w->state != W_OPEN)
        return rg_err_set(err, RG_EINTERNAL, "backup '%s' can no longer be written", w->final);
    if (w->have_db)
        return rg_err_set(err, RG_EINVAL, "the database was already added");
    if (!(stem = ar_db_stem(db_format)))
        return rg_err_set(err, RG_EINVAL,
                          "unknown database format '%s' (use 'custom', 'plain' or 'sqlite')",
                          db_format);
    w->have_db = true;
    w->db_format = rg_strdup(db_format);
    if ((rc = ar_sha256_init(&all, err)) < 0) {
        w->state = W_FAILED;
        goto out;
    }
    buf = rg_malloc(RG_ARCHIVE_PART_SIZE);
    for (;;) {
        struct ar_member *mb;
        char name[64];
        size_t got;

        if ((rc = read_full(fd, buf, RG_ARCHIVE_PART_SIZE, &got, err)) < 0) {
            w->state = W_FAILED;
            goto out;
        }
        /* The first part is written even when empty, so a backup always has one. */
        if (got == 0 && w->db_parts > 0)
            break;
        if (w->db_parts >= AR_MAX_PARTS) {
            w->state = W_FAILED;
            rc = rg_err_set(err, RG_EINVAL, "the database dump has more than %d parts",
                            AR_MAX_PARTS);
            goto out;
        }
        snprintf(name, sizeof(name), "%s.%06zu", stem, w->db_parts);
        if ((rc = write_header(w, &mb, name, AR_FILE, got, 0600, w->now, err)) < 0 ||
            (rc = write_data(w, buf, got, err)) < 0)
            goto out;
        if ((rc = ar_sha256_init(&part, err)) < 0)
            goto out;
        ar_sha256_update(&part, buf, got);
        if ((rc = ar_sha256_final_hex(&part, mb->sha256, err)) < 0)
            goto out;
        ar_sha256_update(&all, buf, got);
        w->db_size += got;
        w->db_parts++;
        if (got < RG_ARCHIVE_PART_SIZE)
            break;
    }
    rc = ar_sha256_final_hex(&all, w->db_sha256, err);
out:
    if (rc < 0)
        w->state = W_FAILED; /* a half-written database cannot be completed */
    ar_sha256_release(&all);
    free(buf);
    return rc;
}

struct walk {
    struct rg_archive_writer *w;
    struct rg_buf path;     /* host path for messages */
    struct rg_buf name;     /* member name */
    char *buf;
};

static const char *
kind_name(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device file";
    if (S_ISFIFO(mode))
        return "a fifo";
    if (S_ISSOCK(mode))
        return "a socket";
    return "of an unknown type";
}

static int
refuse_kind(struct walk *wk, mode_t mode, struct rg_err *err)
{
    return rg_err_set(err, RG_EINVAL,
                      "cannot back up '%s': it is %s (a filestore may hold only directories and "
                      "regular files)",
                      wk->path.data, kind_name(mode));
}

static int
add_file(struct walk *wk, int dfd, const char *entry, struct rg_err *err)
{
    struct rg_archive_writer *w = wk->w;
    struct ar_member *mb;
    struct ar_sha256 c = {0};
    struct stat st;
    uint64_t left;
    int fd = -1, rc = 0;
    char extra;

    /* O_NOFOLLOW: a file swapped for a link after the directory was read is refused. */
    fd = openat(dfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot open '%s'",
                        wk->path.data);
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot stat '%s'", wk->path.data);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = refuse_kind(wk, st.st_mode, err);
        goto out;
    }
    if ((rc = write_header(w, &mb, wk->name.data, AR_FILE, (uint64_t)st.st_size, st.st_mode,
                           st.st_mtime, err)) < 0)
        goto out;
    if ((rc = ar_sha256_init(&c, err)) < 0)
        goto out;
    for (left = (uint64_t)st.st_size; left > 0;) {
        size_t want = left < COPY_BUF ? (size_t)left : COPY_BUF;
        ssize_t k = read(fd, wk->buf, want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = rg_err_sys(err, RG_EIO, "cannot read '%s'", wk->path.data);
            goto out;
        }
        if (k == 0)
            break;
        if ((rc = write_data(w, wk->buf, (size_t)k, err)) < 0)
            goto out;
        ar_sha256_update(&c, wk->buf, (size_t)k);
        left -= (uint64_t)k;
    }
    /* The header promised st_size bytes: a file that shrank or grew cannot be trusted. */
    if (left > 0 || read(fd, &extra, 1) != 0) {
        rc = rg_err_set(err, RG_EINVAL, "cannot back up '%s': it changed while being read",
                        wk->path.data);
        goto out;
    }
    if ((rc = ar_sha256_final_hex(&c, mb->sha256, err)) < 0)
        goto out;
    w->fs_files++;
    w->fs_size += (uint64_t)st.st_size;
out:
    ar_sha256_release(&c);
    if (rc < 0)
        w->state = W_FAILED;
    if (fd >= 0)
        close(fd);
    return rc;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the directory open at dfd (whose member is wk->name) and everything under it. Takes
 * dfd. Entries are sorted so the same tree always gives the same archive. */
static int
add_dir(struct walk *wk, int dfd, const struct stat *dst, int depth, struct rg_err *err)
{
    struct rg_archive_writer *w = wk->w;
    struct ar_member *mb;
    DIR *d = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i, plen = wk->path.len, nlen = wk->name.len;
    int rc = 0;

    if (depth > MAX_DEPTH) {
        close(dfd);
        w->state = W_FAILED;
        return rg_err_set(err, RG_EINVAL, "filestore '%s' is nested deeper than %d directories",
                          wk->path.data, MAX_DEPTH);
    }
    if ((rc = write_header(w, &mb, wk->name.data, AR_DIR, 0, dst->st_mode | 0700, dst->st_mtime,
                           err)) < 0) {
        close(dfd);
        return rc;
    }
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        rc = rg_err_sys(err, RG_EIO, "cannot read directory '%s'", wk->path.data);
        goto out;
    }
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        names = rg_grow(names, &cap, n + 1, sizeof(*names));
        names[n++] = rg_strdup(de->d_name);
        errno = 0;
    }
    if (errno != 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot read directory '%s'", wk->path.data);
        goto out;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    for (i = 0; i < n && rc == 0; i++) {
        struct stat st;

        rg_buf_addf(&wk->path, "/%s", names[i]);
        rg_buf_addf(&wk->name, "/%s", names[i]);
        if (wk->path.truncated || wk->name.truncated) {
            rc = rg_err_set(err, RG_EINVAL, "cannot back up '%s': the path is too long",
                            wk->path.data);
        } else if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = rg_err_sys(err, errno == ENOENT ? RG_ENOENT : RG_EIO, "cannot stat '%s'",
                            wk->path.data);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(wk, dirfd(d), names[i], err);
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), names[i],
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                rc = rg_err_sys(err, RG_EIO, "cannot open '%s'", wk->path.data);
            else
                rc = add_dir(wk, sub, &st, depth + 1, err);
        } else {
            rc = refuse_kind(wk, st.st_mode, err);
        }
        /* Cut back to this directory's names (the buffers keep their NUL). */
        wk->path.len = plen;
        wk->path.data[plen] = '\0';
        wk->name.len = nlen;
        wk->name.data[nlen] = '\0';
    }
out:
    if (rc < 0)
        w->state = W_FAILED;
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    return rc;
}

int
rg_archive_writer_add_filestore(struct rg_archive_writer *w, const char *dir, struct rg_err *err)
{
    struct walk wk = {.w = w};
    struct stat st;
    int dfd = -1, rc;

    if (w->state != W_OPEN)
        return rg_err_set(err, RG_EINTERNAL, "backup '%s' can no longer be written", w->final);
    if (w->have_fs)
        return rg_err_set(err, RG_EINVAL, "the filestore was already added");
    if (!w->have_db)
        return rg_err_set(err, RG_EINVAL, "the filestore must be added after the database");
    w->have_fs = true;
    rg_buf_init(&wk.path, 4096);
    rg_buf_init(&wk.name, 4096);
    rg_buf_adds(&wk.path, dir);
    rg_buf_adds(&wk.name, AR_FILESTORE);
    wk.buf = rg_malloc(COPY_BUF);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        if ((e == ELOOP || e == ENOTDIR) && lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
            rc = S_ISREG(st.st_mode)
                     ? rg_err_set(err, RG_EINVAL, "cannot back up '%s': it is not a directory",
                                  dir)
                     : refuse_kind(&wk, st.st_mode, err);
        else
            rc = (errno = e, rg_err_sys(err, e == ENOENT ? RG_ENOENT : RG_EIO,
                                        "cannot open '%s'", dir));
        w->state = W_FAILED;
        goto out;
    }
    if (fstat(dfd, &st) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot stat '%s'", dir);
        close(dfd);
        w->state = W_FAILED;
        goto out;
    }
    rc = add_dir(&wk, dfd, &st, 0, err);
out:
    rg_buf_release(&wk.path);
    rg_buf_release(&wk.name);
    free(wk.buf);
    return rc;
}

/* Renames without ever replacing: renameat2(RENAME_NOREPLACE), or link+unlink where the file
 * system does not support the flag. */
static int
rename_noreplace(const char *from, const char *to, struct rg_err *err)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(from, to) == 0) {
            unlink(from);
            return 0;
        }
    }
    if (errno == EEXIST)
        return rg_err_set(err, RG_EINVAL, "backup '%s' already exists", to);
    return rg_err_sys(err, RG_EIO, "cannot rename '%s' to '%s'", from, to);
}

int
rg_archive_writer_commit(struct rg_archive_writer *w, const struct rg_archive_manifest *m,
                         uint64_t *size_out, struct rg_err *err)
{
    struct rg_archive_manifest full = {0};
    struct ar_member *mb;
    struct ar_sha256 c;
    struct stat st;
    char *text = NULL;
    size_t len;
    int rc = 0, fd;

    if (size_out)
        *size_out = 0;
    if (w->state != W_OPEN)
        return rg_err_set(err, RG_EINTERNAL, "backup '%s' can no longer be written", w->final);
    if (!w->have_db)
        return rg_err_set(err, RG_EINVAL, "the database was never added");
    if (!m->target || !m->tag || !m->db_name)
        return rg_err_set(err, RG_EINVAL, "manifest field '%s' is missing",
                          !m->target ? "target" : !m->tag ? "tag" : "db_name");
    full = *m; /* borrowed strings; only created_at may be our own */
    full.created_at = m->created_at ? rg_strdup(m->created_at) : ar_now_rfc3339();
    full.rollgate_version = rg_strdup(ROLLGATE_VERSION);
    full.version = RG_ARCHIVE_VERSION;
    full.db_format = w->db_format;
    full.db_size = w->db_size;
    memcpy(full.db_sha256, w->db_sha256, sizeof(full.db_sha256));
    full.db_parts = w->db_parts;
    full.has_filestore = w->have_fs;
    full.fs_files = w->fs_files;
    full.fs_size = w->fs_size;
    text = ar_manifest_format(&full, &w->members);
    len = strlen(text);
    if ((rc = write_header(w, &mb, AR_MANIFEST_NAME, AR_FILE, len, 0600, w->now, err)) < 0 ||
        (rc = write_data(w, text, len, err)) < 0)
        goto out;
    if ((rc = ar_sha256_init(&c, err)) < 0) {
        w->state = W_FAILED;
        goto out;
    }
    ar_sha256_update(&c, text, len);
    if ((rc = ar_sha256_final_hex(&c, mb->sha256, err)) < 0) {
        w->state = W_FAILED;
        goto out;
    }
    /* archive_write_close flushes the compressor and the last block: its failure is a lost
     * backup, not a detail. */
    if (archive_write_close(w->a) != ARCHIVE_OK) {
        rc = write_failed(w, err);
        goto out;
    }
    fd = w->fd;
    if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
        w->state = W_FAILED;
        rc = rg_err_sys(err, RG_EIO, "cannot fsync '%s'", w->partial);
        goto out;
    }
    if ((rc = rename_noreplace(w->partial, w->final, err)) < 0) {
        w->state = W_FAILED;
        goto out;
    }
    w->state = W_COMMITTED; /* the file has its final name: free must leave it */
    if ((rc = rg_fs_fsync_parent(w->final, err)) < 0)
        goto out;
    if (size_out)
        *size_out = (uint64_t)st.st_size;
out:
    free(full.created_at);
    free(full.rollgate_version);
    free(text);
    return rc;
}

void
rg_archive_writer_free(struct rg_archive_writer *w)
{
    if (!w)
        return;
    /* archive_write_free closes an unclosed archive, flushing into the partial file that is
     * removed next; archive_write_fail would skip that but leaks the fd's client data in
     * libarchive 3.6. */
    archive_write_free(w->a);
    if (w->fd >= 0)
        close(w->fd);
    if (w->created && w->state != W_COMMITTED)
        unlink(w->partial);
    ar_members_release(&w->members);
    free(w->db_format);
    free(w->final);
    free(w->partial);
    free(w);
}
