/* Private to git: the handle, libgit2's one-time setup, its errors turned into rg_err, and the
 * checks of names (refs, paths) its files share. */
#ifndef ROLLGATE_GIT_INTERNAL_H
#define ROLLGATE_GIT_INTERNAL_H

#include <git2.h>
#include <stddef.h>

#include "rollgate/git.h"

struct rg_git_repo {
    git_repository *repo;
    char *dir; /* git_repository_path without its trailing '/' */
};

/* Room for a name shown in a message: cut with "..." past it, so a hostile ref or path of
 * any length leaves room for the rule it breaks. */
#define GITMOD_SHOWN_MAX 128

/* git_libgit2_init, once per process (libgit2 counts its inits; one is enough). */
int gitmod_init(struct rg_err *err);

/* rg_err_set with fmt, then ": " and libgit2's last error message when there is one. */
int gitmod_fail(struct rg_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s (its first n bytes) as a message shows it: control characters and bytes outside ASCII as
 * \n, \t, \r, \xNN, a backslash doubled; cut with "..." to fit size. Returns buf. */
const char *gitmod_escape_n(char *buf, size_t size, const char *s, size_t n);
const char *gitmod_escape(char *buf, size_t size, const char *s);

/* The rule ref breaks ("it contains '..'"), or NULL when git accepts it. */
const char *gitmod_ref_problem(const char *ref);

/* The rule a path in a tree breaks ("it has a '..' component"), or NULL when it is a relative
 * path of non-empty components other than "." and "..". */
const char *gitmod_path_problem(const char *path);

#endif
