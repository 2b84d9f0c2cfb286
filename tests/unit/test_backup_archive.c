/* Unit tests of backup archives: SHA-256 vectors, a round trip through a pipe, the writer's
 * refusals, and every class of hostile archive refused by verify and extract alike. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/digest.h"
#include "rollgate/backup_archive.h"
#include "rollgate/util.h"

struct fx {
    char *dir;       /* fresh temp dir per test */
    char *backup;    /* dir/b.tar.zst */
    char *db;        /* dir/restore.dump */
    char *fs;        /* dir/restore-fs */
    char *sentinel;  /* dir/sentinel: must survive every refusal */
};

static char *
tpath(struct fx *fx, const char *name)
{
    return rg_asprintf("%s/%s", fx->dir, name);
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static char *
read_file(const char *path, size_t *len)
{
    struct rg_buf b;
    char chunk[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    rg_buf_init(&b, (size_t)1 << 30);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        rg_buf_add(&b, chunk, (size_t)n);
    close(fd);
    *len = b.len;
    if (!b.data)
        return rg_strdup("");
    return rg_buf_detach(&b);
}

static void
file_sha(const char *path, char hex[65])
{
    struct ar_sha256 c;
    char chunk[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(ar_sha256_init(&c, NULL), 0);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        ar_sha256_update(&c, chunk, (size_t)n);
    close(fd);
    assert_int_equal(ar_sha256_final_hex(&c, hex, NULL), 0);
}

static void
rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        d = opendir(path);
        if (d) {
            while ((de = readdir(d)) != NULL) {
                char *sub;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                sub = rg_asprintf("%s/%s", path, de->d_name);
                rm_rf(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static bool
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static int
setup(void **state)
{
    struct fx *fx = rg_calloc(1, sizeof(*fx));
    char tmpl[] = "/tmp/rg-archive-XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    fx->dir = rg_strdup(tmpl);
    fx->backup = tpath(fx, "b.tar.zst");
    fx->db = tpath(fx, "restore.dump");
    fx->fs = tpath(fx, "restore-fs");
    fx->sentinel = tpath(fx, "sentinel");
    write_file(fx->sentinel, "keep", 4, 0644);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;

    rm_rf(fx->dir);
    free(fx->dir);
    free(fx->backup);
    free(fx->db);
    free(fx->fs);
    free(fx->sentinel);
    free(fx);
    return 0;
}

/* ---- SHA-256 ---- */

static void
sha_hex(const void *p, size_t n, char hex[65])
{
    struct ar_sha256 c;

    assert_int_equal(ar_sha256_init(&c, NULL), 0);
    ar_sha256_update(&c, p, n);
    assert_int_equal(ar_sha256_final_hex(&c, hex, NULL), 0);
}

/* FIPS 180-4's examples, a message fed in uneven pieces across block boundaries, and a long
 * pseudo-random one (digest from an independent implementation). */
static void
test_sha256_vectors(void **state)
{
    static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char *big = malloc(1 << 20);
    struct ar_sha256 c;
    char hex[65], a[1000];
    uint32_t x = 2463534242u;
    int i;

    (void)state;
    sha_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_hex(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a', fed in uneven pieces to cross block boundaries */
    memset(a, 'a', sizeof(a));
    assert_int_equal(ar_sha256_init(&c, NULL), 0);
    for (i = 0; i < 1000; i++) {
        ar_sha256_update(&c, a, 7);
        ar_sha256_update(&c, a, 993);
    }
    assert_int_equal(ar_sha256_final_hex(&c, hex, NULL), 0);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    for (size_t j = 0; j < (1 << 20); j++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        big[j] = (unsigned char)x;
    }
    sha_hex(big, (1 << 20) - 3, hex);
    assert_string_equal(hex, "6de599b1c2e72699c315e4ecdfddf1faa5a7585ecea736e82a4c9b749553ac67");
    free(big);
    /* an unfinished digest is released; a released one may be released again */
    assert_int_equal(ar_sha256_init(&c, NULL), 0);
    ar_sha256_update(&c, "abc", 3);
    ar_sha256_release(&c);
    ar_sha256_release(&c);
}

/* ---- writing backups ---- */

static const struct rg_archive_manifest base_manifest = {
    .target = "demo",
    .tag = "v1",
    .digest = "sha256:0123",
    .db_name = "odoo",
    .server_version = "15.18",
    .created_at = "2026-11-21T10:00:00Z",
};

/* A small filestore: nested dirs, an empty file, an empty dir, a 0640 file. */
static void
make_filestore(const char *root)
{
    char *p;
    char data[10000];
    size_t i;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7 + 3);
    assert_int_equal(mkdir(root, 0755), 0);
    p = rg_asprintf("%s/ab", root);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = rg_asprintf("%s/ab/cdef", root);
    write_file(p, data, sizeof(data), 0640);
    free(p);
    p = rg_asprintf("%s/ab/empty", root);
    write_file(p, "", 0, 0644);
    free(p);
    p = rg_asprintf("%s/cd", root);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = rg_asprintf("%s/cd/ef", root);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = rg_asprintf("%s/cd/ef/gh", root);
    write_file(p, "nested\n", 7, 0644);
    free(p);
    p = rg_asprintf("%s/emptydir", root);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

/* A small backup: a 4096-byte dump from a file and the small filestore. */
static void
make_small_backup(struct fx *fx, const char *path)
{
    struct rg_archive_writer *w = NULL;
    struct rg_err err;
    char dump[4096];
    char *dump_path = tpath(fx, "src.dump"), *fs = tpath(fx, "src-fs");
    int fd;
    size_t i;

    for (i = 0; i < sizeof(dump); i++)
        dump[i] = (char)(i % 251);
    write_file(dump_path, dump, sizeof(dump), 0600);
    if (!exists(fs))
        make_filestore(fs);
    fd = open(dump_path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(rg_archive_writer_open(&w, path, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "custom", &err), 0);
    assert_int_equal(rg_archive_writer_add_filestore(w, fs, &err), 0);
    assert_int_equal(rg_archive_writer_commit(w, &base_manifest, NULL, &err), 0);
    rg_archive_writer_free(w);
    close(fd);
    free(dump_path);
    free(fs);
}

/* The round trip's dump: pseudo-random stretches and compressible runs, through a pipe. */
#define DUMP_SIZE ((size_t)80 * 1024 * 1024)

struct feeder {
    int fd;
    char sha[65];
};

static void *
feed(void *arg)
{
    struct feeder *f = arg;
    struct ar_sha256 c;
    static char chunk[1 << 20];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t sent = 0, i;

    if (ar_sha256_init(&c, NULL) < 0)
        abort();
    while (sent < DUMP_SIZE) {
        size_t n = sizeof(chunk);
        for (i = 0; i < n; i += 8) {
            if ((i / 4096) % 3 == 0) {
                memset(chunk + i, 'x', 8); /* a compressible run */
                continue;
            }
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(chunk + i, &x, 8);
        }
        for (i = 0; i < n;) {
            ssize_t k = write(f->fd, chunk + i, n - i);
            if (k <= 0)
                abort();
            i += (size_t)k;
        }
        ar_sha256_update(&c, chunk, n);
        sent += n;
    }
    if (ar_sha256_final_hex(&c, f->sha, NULL) < 0)
        abort();
    close(f->fd);
    return NULL;
}

static void
assert_same_tree(const char *a, const char *b)
{
    DIR *d = opendir(a);
    struct dirent *de;
    struct stat sa, sb;
    size_t na = 0, nb = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char *pa, *pb;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        na++;
        pa = rg_asprintf("%s/%s", a, de->d_name);
        pb = rg_asprintf("%s/%s", b, de->d_name);
        assert_int_equal(lstat(pa, &sa), 0);
        assert_int_equal(lstat(pb, &sb), 0);
        if (S_ISDIR(sa.st_mode)) {
            assert_true(S_ISDIR(sb.st_mode));
            assert_int_equal(sb.st_mode & 07777, 0755);
            assert_same_tree(pa, pb);
        } else {
            size_t la, lb;
            char *ca = read_file(pa, &la), *cb = read_file(pb, &lb);
            assert_true(S_ISREG(sb.st_mode));
            assert_int_equal(sb.st_mode & 07777, sa.st_mode & 07777);
            assert_int_equal(la, lb);
            assert_memory_equal(ca, cb, la);
            free(ca);
            free(cb);
        }
        free(pa);
        free(pb);
    }
    closedir(d);
    d = opendir(b);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            nb++;
    closedir(d);
    assert_int_equal(na, nb);
}

/* The dump as rg_archive_dbstream reads it from a verified archive, in reads of at most 777
 * bytes; the stream's error (with *rc) when it fails. */
static char *
stream_dump(const char *path, size_t *len, int *rc, struct rg_err *err)
{
    struct rg_archive_info info;
    struct rg_archive_dbstream *st = NULL;
    struct rg_buf b;
    char piece[777];
    size_t got;

    assert_int_equal(rg_archive_verify(&info, path, NULL, err), 0);
    rg_buf_init(&b, 1 << 30);
    *rc = rg_archive_dbstream_open(&st, path, &info, err);
    while (*rc == 0 && (*rc = rg_archive_dbstream_read(st, piece, sizeof(piece), &got, err)) == 0 &&
           got > 0)
        rg_buf_add(&b, piece, got);
    rg_archive_dbstream_close(st);
    rg_archive_info_release(&info);
    *len = b.len;
    return b.data ? b.data : rg_strdup("");
}

static void
test_round_trip(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_writer *w = NULL;
    struct rg_archive_info info;
    struct feeder f;
    struct rg_err err;
    struct stat st;
    pthread_t th;
    char *fs = tpath(fx, "src-fs"), hex[65];
    uint64_t size = 0;
    int p[2];

    make_filestore(fs);
    assert_int_equal(pipe(p), 0);
    f.fd = p[1];
    assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_string_equal(rg_archive_writer_path(w), fx->backup);
    assert_int_equal(rg_archive_writer_add_database(w, p[0], "custom", &err), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    close(p[0]);
    assert_int_equal(rg_archive_writer_add_filestore(w, fs, &err), 0);
    assert_int_equal(rg_archive_writer_commit(w, &base_manifest, &size, &err), 0);
    rg_archive_writer_free(w);
    assert_int_equal(stat(fx->backup, &st), 0);
    assert_int_equal((uint64_t)st.st_size, size);
    assert_true(size < DUMP_SIZE); /* the runs compressed */

    assert_int_equal(rg_archive_verify(&info, fx->backup, NULL, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_ROLLGATE);
    assert_string_equal(info.manifest.target, "demo");
    assert_string_equal(info.manifest.tag, "v1");
    assert_string_equal(info.manifest.digest, "sha256:0123");
    assert_string_equal(info.manifest.db_name, "odoo");
    assert_string_equal(info.manifest.server_version, "15.18");
    assert_string_equal(info.manifest.db_format, "custom");
    assert_string_equal(info.manifest.created_at, "2026-11-21T10:00:00Z");
    assert_string_equal(info.manifest.rollgate_version, "0.1.0");
    assert_int_equal(info.manifest.version, 1);
    assert_int_equal(info.manifest.db_parts, 3);
    assert_int_equal(info.manifest.db_size, DUMP_SIZE);
    assert_string_equal(info.manifest.db_sha256, f.sha);
    assert_true(info.manifest.has_filestore);
    assert_int_equal(info.manifest.fs_files, 3);
    assert_int_equal(info.manifest.fs_size, 10007);
    assert_int_equal(info.file_size, size);
    /* 3 parts, filestore + ab ab/cdef ab/empty cd cd/ef cd/ef/gh emptydir, manifest */
    assert_int_equal(info.members, 3 + 8 + 1);
    rg_archive_info_release(&info);

    assert_int_equal(rg_archive_extract(fx->backup, fx->db, fx->fs, NULL, &info, &err), 0);
    assert_string_equal(info.manifest.db_sha256, f.sha);
    rg_archive_info_release(&info);
    file_sha(fx->db, hex);
    assert_string_equal(hex, f.sha);
    assert_int_equal(stat(fx->db, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(fx->fs, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_same_tree(fs, fx->fs);
    free(fs);

    /* Read again as a stream: the three parts in order, the verified bytes. */
    {
        size_t len;
        int rc;
        char *dump = stream_dump(fx->backup, &len, &rc, &err);

        assert_int_equal(rc, 0);
        assert_int_equal(len, DUMP_SIZE);
        sha_hex(dump, len, hex);
        assert_string_equal(hex, f.sha);
        free(dump);
    }
}

/* An archive that changes between its verification and the second read is refused, whether the
 * change comes before the stream opens or while it is read. */
static void
test_dbstream_archive_changed(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_dbstream *st = NULL;
    struct rg_archive_info info;
    struct rg_err err;
    char *sql = tpath(fx, "prod.sql"), *want, piece[4];
    size_t got;
    int fd;

    write_file(sql, "create table t (x int);\n", 24, 0644);
    want = rg_asprintf("backup '%s' changed after it was verified: restore it again", sql);
    assert_int_equal(rg_archive_verify(&info, sql, NULL, &err), 0);
    fd = open(sql, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "-- x\n", 5), 5);
    assert_int_equal(rg_archive_dbstream_open(&st, sql, &info, &err), RG_EINVAL);
    assert_null(st);
    assert_string_equal(err.msg, want);
    rg_archive_info_release(&info);

    assert_int_equal(rg_archive_verify(&info, sql, NULL, &err), 0);
    assert_int_equal(rg_archive_dbstream_open(&st, sql, &info, &err), 0);
    assert_int_equal(rg_archive_dbstream_read(st, piece, sizeof(piece), &got, &err), 0);
    assert_int_equal(got, 4);
    /* Rewritten in place, same size: only the change and modification times tell. The kernel
     * stamps them from a clock that ticks every few milliseconds: this write waits for a tick
     * after the file's last one, as any real writer is (a verification takes longer). */
    usleep(30 * 1000);
    close(fd);
    fd = open(sql, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "C", 1, 0), 1);
    while (rg_archive_dbstream_read(st, piece, sizeof(piece), &got, &err) == 0 && got > 0)
        ;
    assert_string_equal(err.msg, want);
    rg_archive_dbstream_close(st);
    rg_archive_info_release(&info);
    close(fd);
    free(want);
    free(sql);
}

static void
test_plain_dump_parts(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_writer *w = NULL;
    struct rg_archive_info info;
    struct rg_err err;
    char *src = tpath(fx, "dump.sql"), hex[65];
    int fd;

    write_file(src, "select 1;\n", 10, 0600);
    fd = open(src, O_RDONLY);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "plain", &err), 0);
    assert_int_equal(rg_archive_writer_commit(w, &base_manifest, NULL, &err), 0);
    rg_archive_writer_free(w);
    close(fd);
    assert_int_equal(rg_archive_extract(fx->backup, fx->db, fx->fs, NULL, &info, &err), 0);
    assert_string_equal(info.manifest.db_format, "plain");
    assert_false(info.manifest.has_filestore);
    assert_int_equal(info.members, 2);
    assert_false(exists(fx->fs)); /* no filestore in the backup: nothing made */
    rg_archive_info_release(&info);
    file_sha(fx->db, hex);
    sha_hex("select 1;\n", 10, info.manifest.db_sha256);
    assert_string_equal(hex, info.manifest.db_sha256);
    free(src);
}

static void
test_writer_refuses_symlink(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_writer *w = NULL;
    struct rg_err err;
    char *fs = tpath(fx, "src-fs"), *link = NULL, *partial, *msg;
    int fd = open(fx->sentinel, O_RDONLY);

    make_filestore(fs);
    link = rg_asprintf("%s/ab/passwd", fs);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    partial = rg_asprintf("%s.partial", fx->backup);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_true(exists(partial));
    assert_int_equal(rg_archive_writer_add_database(w, fd, "custom", &err), 0);
    assert_int_equal(rg_archive_writer_add_filestore(w, fs, &err), RG_EINVAL);
    msg = rg_asprintf("cannot back up '%s': it is a symbolic link (a filestore may hold only "
                      "directories and regular files)", link);
    assert_string_equal(err.msg, msg);
    assert_int_equal(rg_archive_writer_commit(w, &base_manifest, NULL, &err), RG_EINTERNAL);
    rg_archive_writer_free(w);
    assert_false(exists(partial));
    assert_false(exists(fx->backup));
    close(fd);
    free(msg);
    free(partial);
    free(link);
    free(fs);
}

static void
test_writer_abandoned_leaves_nothing(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_writer *w = NULL;
    struct rg_err err;
    char *partial = rg_asprintf("%s.partial", fx->backup);
    int fd = open(fx->sentinel, O_RDONLY);

    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "custom", &err), 0);
    rg_archive_writer_free(w);
    assert_false(exists(partial));
    assert_false(exists(fx->backup));
    /* and a second writer can start afresh */
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "directory", &err), RG_EINVAL);
    assert_string_equal(err.msg,
                        "unknown database format 'directory' (use 'custom', 'plain' or 'sqlite')");
    rg_archive_writer_free(w);
    assert_false(exists(partial));
    close(fd);
    free(partial);
}

static void
test_writer_never_overwrites(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_writer *w = NULL;
    struct rg_err err;
    char *partial = rg_asprintf("%s.partial", fx->backup), *msg, *got;
    size_t len;
    int fd = open(fx->sentinel, O_RDONLY);

    /* an existing final path refuses the open */
    write_file(fx->backup, "old", 3, 0644);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), RG_EINVAL);
    msg = rg_asprintf("backup '%s' already exists", fx->backup);
    assert_string_equal(err.msg, msg);
    assert_null(w);
    assert_false(exists(partial));
    /* one appearing while the backup is written refuses the commit and survives it */
    unlink(fx->backup);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "custom", &err), 0);
    write_file(fx->backup, "old", 3, 0644);
    assert_int_equal(rg_archive_writer_commit(w, &base_manifest, NULL, &err), RG_EINVAL);
    assert_string_equal(err.msg, msg);
    rg_archive_writer_free(w);
    got = read_file(fx->backup, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(got, "old", 3);
    assert_false(exists(partial));
    /* a leftover partial file is never taken over */
    unlink(fx->backup);
    write_file(partial, "x", 1, 0600);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), RG_EIO);
    free(msg);
    msg = rg_asprintf("cannot create '%s': File exists", partial);
    assert_string_equal(err.msg, msg);
    assert_true(exists(partial));
    close(fd);
    free(got);
    free(msg);
    free(partial);
}

/* ---- hostile archives ---- */

/* Copies the backup at src to dst entry by entry (pax + zstd, as the writer does), letting a
 * test drop, change or add members. */
struct rewrite {
    const char *drop;             /* member to leave out */
    const char *edit_from;        /* in manifest.json: replace this text ... */
    const char *edit_to;          /* ... with this */
    void (*insert)(struct archive *a, const void *arg); /* before manifest.json */
    const void *insert_arg;
    bool gzip;                    /* tar.gz, as a writer without zstd makes */
};

static void
put_entry(struct archive *a, const char *name, mode_t type, const void *data, size_t len,
          const char *symlink_to, const char *hardlink_to)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    if (symlink_to)
        archive_entry_set_symlink(e, symlink_to);
    if (hardlink_to) {
        archive_entry_set_hardlink(e, hardlink_to);
        archive_entry_set_size(e, 0);
    }
    if (type == AE_IFCHR)
        archive_entry_set_rdev(e, makedev(1, 3));
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    if (len > 0 && !hardlink_to)
        assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static char *
replace_once(const char *text, size_t len, const char *from, const char *to, size_t *out_len)
{
    const char *at = strstr(text, from);
    char *out;

    assert_non_null(at);
    *out_len = len - strlen(from) + strlen(to);
    out = rg_malloc(*out_len + 1);
    memcpy(out, text, (size_t)(at - text));
    memcpy(out + (at - text), to, strlen(to));
    memcpy(out + (at - text) + strlen(to), at + strlen(from),
           len - (size_t)(at - text) - strlen(from));
    out[*out_len] = '\0';
    return out;
}

static void
rewrite_backup(const char *src, const char *dst, const struct rewrite *rw)
{
    struct archive *in = archive_read_new(), *out = archive_write_new();
    struct archive_entry *e;
    struct rg_buf data;

    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in);
    assert_int_equal(archive_read_open_filename(in, src, 65536), ARCHIVE_OK);
    archive_write_set_format_pax_restricted(out);
    if (rw->gzip)
        archive_write_add_filter_gzip(out);
    else
        archive_write_add_filter_zstd(out);
    assert_int_equal(archive_write_open_filename(out, dst), ARCHIVE_OK);
    while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        char chunk[65536];
        la_ssize_t n;

        rg_buf_init(&data, (size_t)1 << 30);
        while ((n = archive_read_data(in, chunk, sizeof(chunk))) > 0)
            rg_buf_add(&data, chunk, (size_t)n);
        if (strcmp(name, "manifest.json") == 0 && rw->insert)
            rw->insert(out, rw->insert_arg);
        if (rw->drop && strcmp(name, rw->drop) == 0) {
            rg_buf_release(&data);
            continue;
        }
        if (strcmp(name, "manifest.json") == 0 && rw->edit_from) {
            size_t len;
            char *text = replace_once(data.data, data.len, rw->edit_from, rw->edit_to, &len);
            archive_entry_set_size(e, (la_int64_t)len);
            assert_int_equal(archive_write_header(out, e), ARCHIVE_OK);
            assert_int_equal(archive_write_data(out, text, len), (la_ssize_t)len);
            free(text);
        } else {
            assert_int_equal(archive_write_header(out, e), ARCHIVE_OK);
            if (data.len)
                assert_int_equal(archive_write_data(out, data.data, data.len),
                                 (la_ssize_t)data.len);
        }
        rg_buf_release(&data);
    }
    assert_int_equal(archive_write_close(out), ARCHIVE_OK);
    archive_write_free(out);
    archive_read_free(in);
}

/* Both verify and extract refuse path with exactly msg (a format with one %s: the path), and
 * extract leaves nothing behind. */
static void
assert_refused(struct fx *fx, const char *path, const struct rg_archive_limits *lim,
               const char *fmt)
{
    struct rg_archive_info info;
    struct rg_err err;
    char *want;
    char *keep;
    const char *p;
    struct rg_buf b;
    size_t len;

    /* fmt's one "%s" is the archive's path ("%%" a percent sign) */
    rg_buf_init(&b, 4096);
    for (p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's')
            rg_buf_adds(&b, path), p++;
        else if (p[0] == '%' && p[1] == '%')
            rg_buf_adds(&b, "%"), p++;
        else
            rg_buf_add(&b, p, 1);
    }
    want = rg_buf_detach(&b);
    assert_int_equal(rg_archive_verify(&info, path, lim, &err), RG_EINVAL);
    assert_string_equal(err.msg, want);
    assert_null(info.manifest.target);
    assert_int_equal(rg_archive_extract(path, fx->db, fx->fs, lim, &info, &err), RG_EINVAL);
    assert_string_equal(err.msg, want);
    assert_false(exists(fx->db));
    assert_false(exists(fx->fs));
    keep = read_file(fx->sentinel, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(keep, "keep", 4);
    free(keep);
    free(want);
}

/* A hostile member slipped in before the manifest. */
struct intruder {
    const char *name;
    mode_t type;
    const char *symlink_to, *hardlink_to;
};

static void
insert_intruder(struct archive *a, const void *arg)
{
    const struct intruder *in = arg;

    put_entry(a, in->name, in->type, in->type == AE_IFREG ? "evil\n" : NULL,
              in->type == AE_IFREG ? 5 : 0, in->symlink_to, in->hardlink_to);
}

static void
refuse_intruder(struct fx *fx, const struct intruder *in, const char *fmt)
{
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.insert = insert_intruder, .insert_arg = in};

    make_small_backup(fx, good);
    rewrite_backup(good, fx->backup, &rw);
    assert_refused(fx, fx->backup, NULL, fmt);
    free(good);
}

static void
test_hostile_absolute(void **state)
{
    struct intruder in = {"/etc/cron.d/evil", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in, "backup '%s': member '/etc/cron.d/evil' is an absolute path");
}

static void
test_hostile_dotdot(void **state)
{
    struct intruder in = {"../../etc/passwd", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member '../../etc/passwd' escapes the archive (a '..' "
                    "component)");
}

static void
test_hostile_dotdot_inside(void **state)
{
    struct intruder in = {"filestore/ab/../../x", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'filestore/ab/../../x' escapes the archive (a '..' "
                    "component)");
}

static void
test_hostile_symlink(void **state)
{
    struct intruder in = {"filestore/etc", AE_IFLNK, "/etc", NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'filestore/etc' is a link to '/etc' that points "
                    "outside the archive");
}

static void
test_hostile_symlink_inside(void **state)
{
    struct intruder in = {"filestore/ab/link", AE_IFLNK, "cdef", NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'filestore/ab/link' is a link to 'cdef': links are not "
                    "allowed in a backup");
}

static void
test_hostile_hardlink(void **state)
{
    struct intruder in = {"filestore/x", AE_IFREG, NULL, "../x"};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'filestore/x' is a link to '../x' that points outside "
                    "the archive");
}

static void
test_hostile_device(void **state)
{
    struct intruder in = {"filestore/null", AE_IFCHR, NULL, NULL};

    refuse_intruder(*state, &in, "backup '%s': member 'filestore/null' is a device file");
}

static void
test_hostile_fifo(void **state)
{
    struct intruder in = {"filestore/fifo", AE_IFIFO, NULL, NULL};

    refuse_intruder(*state, &in, "backup '%s': member 'filestore/fifo' is a fifo");
}

static void
test_hostile_not_in_manifest(void **state)
{
    struct intruder in = {"filestore/extra", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'filestore/extra' is not listed in the manifest");
}

static void
test_hostile_duplicate(void **state)
{
    struct intruder in = {"filestore/ab/cdef", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in, "backup '%s': member 'filestore/ab/cdef' appears twice");
}

static void
test_hostile_unknown_member(void **state)
{
    struct intruder in = {"etc/passwd", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'etc/passwd' is not part of a rollgate backup");
}

static void
test_hostile_oversized(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_limits lim = {.max_member = 1000};
    struct rg_archive_limits total = {.max_total = 5000};
    struct rg_archive_limits members = {.max_members = 5};

    make_small_backup(fx, fx->backup);
    assert_refused(fx, fx->backup, &lim,
                   "backup '%s': member 'database.dump.000000' is larger than the limit of 1000 "
                   "bytes");
    assert_refused(fx, fx->backup, &total,
                   "backup '%s': member 'filestore/ab/cdef' takes the total size past the limit "
                   "of 5000 bytes");
    assert_refused(fx, fx->backup, &members,
                   "backup '%s': member 'filestore/cd' is past the limit of 5 members");
}

static void
test_hostile_bad_checksum(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst"), from[80], to[80];
    struct rewrite rw = {.edit_from = from, .edit_to = to};
    char sha[65], *fmt;

    /* the sha-256 of filestore/ab/cdef: bytes (i * 7 + 3) for i < 10000 */
    {
        char data[10000];
        size_t i;
        for (i = 0; i < sizeof(data); i++)
            data[i] = (char)(i * 7 + 3);
        sha_hex(data, sizeof(data), sha);
    }
    make_small_backup(fx, good);
    snprintf(from, sizeof(from), "\"%s\"", sha);
    snprintf(to, sizeof(to), "\"%.63s0\"", sha);
    if (sha[63] == '0')
        to[64] = '1';
    rewrite_backup(good, fx->backup, &rw);
    fmt = rg_asprintf("backup '%%s': member 'filestore/ab/cdef': checksum mismatch: manifest "
                      "says %.64s, archive has %s", to + 1, sha);
    assert_refused(fx, fx->backup, NULL, fmt);
    free(fmt);
    free(good);
}

static void
test_hostile_truncated(void **state)
{
    struct fx *fx = *state;
    struct stat st;

    make_small_backup(fx, fx->backup);
    assert_int_equal(stat(fx->backup, &st), 0);
    assert_int_equal(truncate(fx->backup, st.st_size / 2), 0);
    assert_refused(fx, fx->backup, NULL,
                   "backup '%s' is truncated or corrupt: Truncated zstd input");
}

static void
test_hostile_unknown_version(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.edit_from = "\"version\":1", .edit_to = "\"version\":7"};

    make_small_backup(fx, good);
    rewrite_backup(good, fx->backup, &rw);
    assert_refused(fx, fx->backup, NULL,
                   "backup '%s': unknown manifest version 7 (this rollgate reads version 1)");
    free(good);
}

/* Backups written before SQLite was supported have no database.kind: they are PostgreSQL's. */
static void
test_manifest_without_kind(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.edit_from = "\"kind\":\"postgresql\",", .edit_to = ""};
    struct rg_archive_info info;
    struct rg_err err;

    make_small_backup(fx, good);
    assert_int_equal(rg_archive_verify(&info, good, NULL, &err), 0);
    assert_string_equal(info.manifest.db_kind, "postgresql");
    rg_archive_info_release(&info);
    rewrite_backup(good, fx->backup, &rw);
    assert_int_equal(rg_archive_verify(&info, fx->backup, NULL, &err), 0);
    assert_string_equal(info.manifest.db_kind, "postgresql");
    assert_string_equal(info.manifest.db_format, "custom");
    rg_archive_info_release(&info);
    free(good);
}

static void
test_hostile_kind_mismatch(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.edit_from = "\"kind\":\"postgresql\"",
                         .edit_to = "\"kind\":\"sqlite\""};

    make_small_backup(fx, good);
    rewrite_backup(good, fx->backup, &rw);
    assert_refused(fx, fx->backup, NULL,
                   "backup '%s': manifest field 'database.kind' has a bad value");
    free(good);
}

static void
test_hostile_bad_json(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.edit_from = "{\"format\"", .edit_to = "{format\""};

    make_small_backup(fx, good);
    rewrite_backup(good, fx->backup, &rw);
    assert_refused(fx, fx->backup, NULL,
                   "backup '%s': member 'manifest.json' is not valid JSON: string or '}' "
                   "expected near 'format' (line 1, column 7)");
    free(good);
}

static void
test_hostile_missing_manifest(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.drop = "manifest.json"};

    make_small_backup(fx, good);
    rewrite_backup(good, fx->backup, &rw);
    assert_refused(fx, fx->backup, NULL, "backup '%s': member 'manifest.json' is missing");
    free(good);
}

static void
test_hostile_missing_member(void **state)
{
    struct fx *fx = *state;
    char *good = tpath(fx, "good.tar.zst");
    struct rewrite rw = {.drop = "filestore/cd/ef/gh"};

    make_small_backup(fx, good);
    rewrite_backup(good, fx->backup, &rw);
    assert_refused(fx, fx->backup, NULL,
                   "backup '%s': member 'filestore/cd/ef/gh' is listed in the manifest but "
                   "missing from the archive");
    free(good);
}

/* ---- Odoo zips and plain SQL ---- */

static void
make_zip(const char *path, bool with_dump)
{
    static const char manifest[] = "{\"odoo_dump\": \"1\", \"db_name\": \"prod\", "
                                   "\"version\": \"17.0\", \"pg_version\": \"15.0\"}";
    struct archive *a = archive_write_new();

    archive_write_set_format_zip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    if (with_dump)
        put_entry(a, "dump.sql", AE_IFREG, "select 1;\n", 10, NULL, NULL);
    put_entry(a, "filestore/prod/ab/cdef", AE_IFREG, "attachment", 10, NULL, NULL);
    put_entry(a, "manifest.json", AE_IFREG, manifest, strlen(manifest), NULL, NULL);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void
test_odoo_zip(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_info info;
    struct rg_err err;
    char *zip = tpath(fx, "odoo.zip"), *p, *got, hex[65];
    size_t len;
    struct stat st;

    make_zip(zip, true);
    assert_int_equal(rg_archive_verify(&info, zip, NULL, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_ODOO_ZIP);
    assert_string_equal(info.manifest.db_format, "plain");
    assert_string_equal(info.manifest.db_name, "prod");
    assert_string_equal(info.manifest.server_version, "15.0");
    assert_null(info.manifest.tag);
    assert_null(info.manifest.target);
    assert_int_equal(info.manifest.db_size, 10);
    assert_true(info.manifest.has_filestore);
    assert_int_equal(info.manifest.fs_files, 1);
    assert_int_equal(info.members, 3);
    rg_archive_info_release(&info);

    assert_int_equal(rg_archive_extract(zip, fx->db, fx->fs, NULL, &info, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_ODOO_ZIP);
    rg_archive_info_release(&info);
    got = read_file(fx->db, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(got, "select 1;\n", 10);
    free(got);
    p = rg_asprintf("%s/prod/ab/cdef", fx->fs);
    got = read_file(p, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(got, "attachment", 10);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    free(got);
    free(p);
    p = rg_asprintf("%s/prod/ab", fx->fs);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    free(p);
    file_sha(fx->db, hex);
    sha_hex("select 1;\n", 10, info.manifest.db_sha256);
    assert_string_equal(hex, info.manifest.db_sha256);
    {
        size_t slen;
        int rc;
        char *dump = stream_dump(zip, &slen, &rc, &err);

        assert_int_equal(rc, 0);
        assert_int_equal(slen, 10);
        assert_memory_equal(dump, "select 1;\n", 10);
        free(dump);
    }
    free(zip);
}

static void
test_hostile_odoo_zip_without_dump(void **state)
{
    struct fx *fx = *state;
    char *zip = tpath(fx, "odoo.zip");

    make_zip(zip, false);
    assert_refused(fx, zip, NULL, "backup '%s': odoo zip has no member 'dump.sql'");
    free(zip);
}

static void
test_plain_sql(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_info info;
    struct rg_err err;
    char *sql = tpath(fx, "prod.sql"), *got, *msg;
    size_t len;

    write_file(sql, "create table t (x int);\n", 24, 0644);
    assert_int_equal(rg_archive_verify(&info, sql, NULL, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_PLAIN_SQL);
    assert_string_equal(info.manifest.db_format, "plain");
    assert_int_equal(info.manifest.db_size, 24);
    assert_int_equal(info.manifest.db_parts, 1);
    assert_false(info.manifest.has_filestore);
    assert_int_equal(info.members, 1);
    rg_archive_info_release(&info);
    assert_int_equal(rg_archive_extract(sql, fx->db, fx->fs, NULL, NULL, &err), 0);
    got = read_file(fx->db, &len);
    assert_int_equal(len, 24);
    assert_memory_equal(got, "create table t (x int);\n", 24);
    assert_false(exists(fx->fs));
    free(got);
    /* an existing target is refused before anything is read */
    assert_int_equal(rg_archive_extract(sql, fx->db, fx->fs, NULL, NULL, &err), RG_EINVAL);
    msg = rg_asprintf("cannot extract to '%s': it already exists", fx->db);
    assert_string_equal(err.msg, msg);
    free(msg);
    /* and something that is none of the three kinds */
    free(sql);
    sql = tpath(fx, "notes.txt");
    write_file(sql, "hello", 5, 0644);
    assert_int_equal(rg_archive_verify(&info, sql, NULL, &err), RG_EINVAL);
    msg = rg_asprintf("backup '%s' is not a rollgate backup, an odoo zip or a .sql file", sql);
    assert_string_equal(err.msg, msg);
    free(msg);
    free(sql);
}

static void
test_hostile_part_out_of_order(void **state)
{
    struct intruder in = {"database.dump.000001", AE_IFREG, NULL, NULL};

    refuse_intruder(*state, &in,
                    "backup '%s': member 'database.dump.000001' is out of order (the database "
                    "parts come first)");
}

/* Cut inside the data of the first member: the member is named. */
static void
test_hostile_truncated_member(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_writer *w = NULL;
    struct rg_err err;
    char *src = tpath(fx, "random.dump"), *data = rg_malloc(1 << 20);
    uint64_t x = 88172645463325252ULL;
    struct stat st;
    size_t i;
    int fd;

    for (i = 0; i < (1 << 20); i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(data + i, &x, 8);
    }
    write_file(src, data, 1 << 20, 0600);
    fd = open(src, O_RDONLY);
    assert_int_equal(rg_archive_writer_open(&w, fx->backup, &err), 0);
    assert_int_equal(rg_archive_writer_add_database(w, fd, "custom", &err), 0);
    assert_int_equal(rg_archive_writer_commit(w, &base_manifest, NULL, &err), 0);
    rg_archive_writer_free(w);
    close(fd);
    assert_int_equal(stat(fx->backup, &st), 0);
    assert_int_equal(truncate(fx->backup, st.st_size / 2), 0);
    assert_refused(fx, fx->backup, NULL,
                   "backup '%s': member 'database.dump.000000' is truncated or corrupt: "
                   "Truncated zstd input");
    free(data);
    free(src);
}

static void
test_tar_gz(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_info info;
    struct rg_err err;
    char *good = tpath(fx, "good.tar.zst"), *gz = tpath(fx, "b.tar.gz");
    struct rewrite rw = {.gzip = true};

    make_small_backup(fx, good);
    rewrite_backup(good, gz, &rw);
    assert_int_equal(rg_archive_verify(&info, gz, NULL, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_ROLLGATE);
    assert_int_equal(info.manifest.fs_files, 3);
    rg_archive_info_release(&info);
    free(good);
    free(gz);
}

static void
test_hostile_zip_dotdot(void **state)
{
    struct fx *fx = *state;
    char *zip = tpath(fx, "odoo.zip");
    struct archive *a = archive_write_new();

    archive_write_set_format_zip(a);
    assert_int_equal(archive_write_open_filename(a, zip), ARCHIVE_OK);
    put_entry(a, "dump.sql", AE_IFREG, "select 1;\n", 10, NULL, NULL);
    put_entry(a, "filestore/../../sentinel", AE_IFREG, "gone", 4, NULL, NULL);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    assert_refused(fx, zip,
                   NULL, "backup '%s': member 'filestore/../../sentinel' escapes the archive (a "
                   "'..' component)");
    free(zip);
}

static void
test_plain_sql_gz(void **state)
{
    struct fx *fx = *state;
    struct rg_archive_info info;
    struct rg_err err;
    char *sql = tpath(fx, "prod.sql.gz"), *got;
    struct archive *a = archive_write_new();
    size_t len;

    archive_write_add_filter_gzip(a);
    archive_write_set_format_raw(a);
    assert_int_equal(archive_write_open_filename(a, sql), ARCHIVE_OK);
    put_entry(a, "data", AE_IFREG, "select 2;\n", 10, NULL, NULL);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    assert_int_equal(rg_archive_extract(sql, fx->db, NULL, NULL, &info, &err), 0);
    assert_int_equal(info.kind, RG_ARCHIVE_PLAIN_SQL);
    assert_int_equal(info.manifest.db_size, 10);
    rg_archive_info_release(&info);
    got = read_file(fx->db, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(got, "select 2;\n", 10);
    free(got);
    free(sql);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_dump_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_abandoned_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_dotdot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_dotdot_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_symlink_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_hardlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_not_in_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_unknown_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_bad_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_unknown_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_without_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_kind_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_bad_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_missing_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_missing_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odoo_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_odoo_zip_without_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_part_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_truncated_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_zip_dotdot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_sql_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dbstream_archive_changed, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
