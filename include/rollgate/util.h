/* Small shared helpers: memory, bounded buffers, string vectors, suggestions, units, redaction,
 * logging, files. Nothing here knows about playbooks or deploys. */
#ifndef ROLLGATE_UTIL_H
#define ROLLGATE_UTIL_H

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rollgate/err.h"

/* ---- memory: these abort with a message on exhaustion; callers never see NULL ---- */
void *rg_malloc(size_t n);
void *rg_calloc(size_t count, size_t size);
void *rg_realloc(void *p, size_t n);
/* Grows an array to hold at least `need` elements of `size` bytes; *cap is updated. */
void *rg_grow(void *p, size_t *cap, size_t need, size_t size);
char *rg_strdup(const char *s);
char *rg_strndup(const char *s, size_t n);
/* Returns a newly allocated printf-formatted string. */
char *rg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Overwrites n bytes in a way the compiler cannot elide (for secrets). */
void rg_wipe(void *p, size_t n);

/* ---- bounded buffer: grows up to a maximum fixed at init, then truncates and says so ---- */
struct rg_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;     /* the most bytes it will ever hold */
    bool truncated; /* something was dropped because of max */
};

/* Initialises an empty buffer that will never hold more than max bytes. */
void rg_buf_init(struct rg_buf *b, size_t max);
/* Frees the storage; the buffer may be initialised again. */
void rg_buf_release(struct rg_buf *b);
/* Appends n bytes; past max the rest is dropped and b->truncated set. */
void rg_buf_add(struct rg_buf *b, const void *p, size_t n);
void rg_buf_adds(struct rg_buf *b, const char *s);
void rg_buf_addf(struct rg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rg_buf_vaddf(struct rg_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void rg_buf_reset(struct rg_buf *b);
/* Hands the string over to the caller (who frees it) and leaves b empty. */
char *rg_buf_detach(struct rg_buf *b);

/* ---- string vector (argv arrays, service lists) ---- */
struct rg_strv {
    char **v; /* NULL-terminated when n > 0, so it can be an argv */
    size_t n;
};
void rg_strv_push(struct rg_strv *sv, const char *s);
void rg_strv_release(struct rg_strv *sv);
bool rg_strv_contains(const struct rg_strv *sv, const char *s);
/* Joins with sep; a newly allocated string. */
char *rg_strv_join(const struct rg_strv *sv, const char *sep);

/* ---- "did you mean": the closest candidate within a small edit distance, or NULL ---- */
const char *rg_suggest(const char *word, const char *const *candidates, size_t n);
/* Optimal string alignment distance (edits and adjacent swaps), for tests and ranking. */
size_t rg_edit_distance(const char *a, const char *b);

/* ---- units ---- */
/* Parses "500ms", "2s", "5m", "1h", "1m30s" into milliseconds. Returns 0, or RG_EINVAL with
 * a message saying what is allowed. A bare number is refused: durations need a unit. */
int rg_duration_parse(int64_t *ms_out, const char *s, struct rg_err *err);
/* Formats milliseconds the way a person writes them ("2s", "1m30s", "500ms") into buf. */
const char *rg_duration_format(char *buf, size_t size, int64_t ms);
/* Parses "80%" (0–100, decimals allowed) into hundredths of a percent (8000). */
int rg_percent_parse(int *centi_out, const char *s, struct rg_err *err);
/* Parses a whole decimal number within [min, max]. */
int rg_int_parse(long long *out, const char *s, long long min, long long max, struct rg_err *err);

/* ---- regular expressions from playbooks (POSIX extended) ---- */
/* Compiles pattern into rx after refusing shapes that make regcomp slow or huge (repeats of
 * repeats, nested bounded repeats, over 512 characters). RG_EINVAL with a message naming the
 * pattern; on success the caller regfree()s rx. */
int rg_regex_compile(regex_t *rx, const char *pattern, int cflags, struct rg_err *err);

/* ---- redaction: what may be printed of a secret-bearing string ---- */
/* A libpq connection string with its password value replaced by "***" (key=value form and
 * postgres:// URIs). Newly allocated. */
char *rg_redact_dsn(const char *dsn);
/* A URL with userinfo, path, query and fragment replaced by "***" (webhook URLs carry their
 * secret in the path). Newly allocated. */
char *rg_redact_url(const char *url);
/* A URL with the password of userinfo and the query string replaced (gate URLs: the path is
 * kept so a person can tell which endpoint is probed). */
char *rg_redact_userinfo(const char *url);

/* ---- crash tests ---- */
/* Kills the process with SIGKILL when ROLLGATE_TEST_KILL_AT names point (STATE[:RUNG] after a
 * state's intent, PROXY_WRITTEN between the upstream file's rewrite and nginx's reload). */
void rg_test_kill_point(const char *point);

/* ---- clocks, in milliseconds ---- */
/* Monotonic: for deadlines and durations. */
int64_t rg_mono_ms(void);
/* Unix time: for what is recorded or compared with Docker's times. */
int64_t rg_wall_ms(void);

/* ---- logging: levels raised by -v; library layers report through rg_err instead ---- */
enum rg_log_level { RG_LOG_ERROR, RG_LOG_WARN, RG_LOG_INFO, RG_LOG_DEBUG, RG_LOG_TRACE };
void rg_log_set_level(enum rg_log_level level);
enum rg_log_level rg_log_get_level(void);
void rg_log(enum rg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- files: every error is RG_EIO with errno kept in err->sys_errno; err may be NULL ---- */
/* Writes all len bytes of data to fd, retrying short writes and EINTR. On failure errno is
 * left set too, and the message is "cannot write 'name': …". */
int rg_fs_write_all(int fd, const void *data, size_t len, const char *name, struct rg_err *err);
/* Reads the whole file at path into out (appended). RG_ENOENT when it does not exist; RG_EIO
 * when it cannot be read; RG_EINVAL when it holds more than out's maximum. */
int rg_fs_read_file(struct rg_buf *out, const char *path, struct rg_err *err);
/* Makes directory path (mode) unless it exists as one. what names it in messages ("state
 * directory"). RG_ENOPERM or RG_ECANTCREAT with the reason and the fix (its parent missing,
 * not a directory, not writable); RG_EIO for anything else (a full disk). */
int rg_fs_make_dir(const char *path, mode_t mode, const char *what, struct rg_err *err);
/* fsyncs the directory dir, so that entries created, renamed or removed in it survive a
 * crash. */
int rg_fs_fsync_dir(const char *dir, struct rg_err *err);
/* fsyncs the directory holding path ("." for a name without a slash). */
int rg_fs_fsync_parent(const char *path, struct rg_err *err);
/* Replaces path with len bytes of data atomically: a new temporary file in the same directory,
 * given mode (the umask does not apply), written, fsynced, renamed over path, and the directory
 * fsynced. A reader sees the old content or the new, never a part; after a failure path is
 * unchanged and the temporary file removed. The file gets the caller's owner. */
int rg_fs_replace_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct rg_err *err);
/* Removes path and, when it is a directory, everything under it, without spawning anything.
 * Never follows a symbolic link (a link is removed, not what it points to) and never enters a
 * directory on another file system than path's (that is an error, as is anything else that
 * cannot be removed). A path that does not exist is not an error. Keeps removing what it can
 * after a failure and reports the first. */
int rg_fs_remove_tree(const char *path, struct rg_err *err);

#endif
