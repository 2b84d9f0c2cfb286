/* What a git push brings, read through libgit2: the repository a hook runs in (its quarantined
 * objects included), the lines of <old> <new> <ref> a hook reads, what a pushed ref points at,
 * a file at a pushed commit, and which refs deploy which playbook ([rollgate "TARGET"] in the
 * repository's config). Nothing here writes a ref or an object: git forbids ref updates while
 * a push is quarantined and libgit2 does not enforce it, so this module never offers one. The
 * only writes are the repository's config and its creation, for `rollgate hook install`. */
#ifndef ROLLGATE_GIT_H
#define ROLLGATE_GIT_H

#include <stdbool.h>
#include <stddef.h>

#include "rollgate/err.h"

#define RG_GIT_OID_HEX_MAX 64 /* SHA-256; SHA-1 is 40 */
#define RG_GIT_REF_MAX 255

struct rg_git_repo;

/* Opens the repository a hook runs in from its environment (GIT_DIR, GIT_OBJECT_DIRECTORY,
 * GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_QUARANTINE_PATH: the pushed objects are readable
 * before git accepts the push), or the repository at path when path is not NULL. */
int rg_git_open(struct rg_git_repo **out, const char *path, struct rg_err *err);
/* Creates a bare repository at path (or opens the one there) for `hook install`. */
int rg_git_init_bare(struct rg_git_repo **out, const char *path, struct rg_err *err);
void rg_git_close(struct rg_git_repo *r);
/* The repository's git directory (for a bare repository, the repository itself). */
const char *rg_git_dir(const struct rg_git_repo *r);

/* One line a pre-receive or post-receive hook reads on stdin. */
struct rg_git_update {
    char old_oid[RG_GIT_OID_HEX_MAX + 1]; /* lower-case hex; all zeros when the ref is created */
    char new_oid[RG_GIT_OID_HEX_MAX + 1]; /* all zeros when the ref is deleted */
    char ref[RG_GIT_REF_MAX + 1];
    bool created;
    bool deleted;
};

/* Parses "<old> <new> <ref>" (a trailing newline allowed): two OIDs of 40 (SHA-1) or 64
 * (SHA-256) hex digits, both of one length, and a ref name rg_git_check_ref accepts. RG_EINVAL
 * with a message quoting the line (control characters shown escaped) otherwise. */
int rg_git_parse_update(struct rg_git_update *out, const char *line, struct rg_err *err);

/* A ref name from outside: what git accepts (git check-ref-format) and at most RG_GIT_REF_MAX
 * bytes of printable ASCII: no control characters, space, ~ ^ : ? * [ \, no "..", no "@{", no
 * component that starts with '.' or ends with ".lock", not ending with '/' or '.'. RG_EINVAL
 * naming the ref (escaped) and the rule it breaks. */
int rg_git_check_ref(const char *ref, struct rg_err *err);

enum rg_git_tag_kind {
    RG_GIT_NOT_A_TAG,   /* the OID is a commit (a branch, or a lightweight tag) */
    RG_GIT_ANNOTATED,   /* a tag object without a signature */
    RG_GIT_SIGNED,      /* a tag object carrying a PGP or SSH signature (presence, not validity) */
};

struct rg_git_pushed {
    char commit[RG_GIT_OID_HEX_MAX + 1]; /* what the OID peels to */
    enum rg_git_tag_kind kind;
};

/* What a pushed OID is: peeled through tag objects to its commit. RG_EINVAL when it peels to a
 * tree or a blob ("ref 'refs/tags/v1' points at a tree, not a commit"), RG_ENOENT when the
 * object is not in the repository. ref is used in messages only. */
int rg_git_resolve(struct rg_git_pushed *out, struct rg_git_repo *r, const char *oid_hex,
                   const char *ref, struct rg_err *err);

/* The commit tag (a name under refs/tags/, annotated or lightweight) points at, and its kind.
 * RG_ENOENT "no tag 'v3' in /srv/app.git", RG_EINVAL for a name git refuses or a tag of a tree
 * or blob, RG_EIO when the repository cannot be read. */
int rg_git_tag_commit(struct rg_git_pushed *out, struct rg_git_repo *r, const char *tag,
                      struct rg_err *err);

/* The file at path in commit's tree, read into *data (NUL-terminated, to free()) and *len.
 * path is relative, without "..", "." or empty components. It must be a regular blob (mode
 * 100644 or 100755) of at most max bytes: RG_ENOENT "no 'deploy/web.yml' at commit 1a2b3c4d5e6f"
 * when missing, RG_EINVAL for a symlink, a directory, a submodule or a file over max bytes. */
int rg_git_read_file(char **data, size_t *len, struct rg_git_repo *r, const char *commit_hex,
                     const char *path, size_t max, struct rg_err *err);

/* Writes commit's tree into the directory dest, which must not exist: directories 0755, files
 * 0644 or 0755 as the tree says, symlinks only when they point inside the tree; a submodule is
 * refused. Written under ".<name>.partial-<pid>" beside dest, each file fsynced, and renamed
 * when whole (nothing is left behind on failure), so a release directory is complete or absent. RG_EINVAL naming the entry that
 * breaks a rule, RG_ENOENT for a missing commit or parent directory, RG_EIO otherwise. */
int rg_git_export(struct rg_git_repo *r, const char *commit_hex, const char *dest,
                  struct rg_err *err);

/* One deploy target of the repository: [rollgate "NAME"] in its config. */
struct rg_git_target {
    char name[80];           /* the subsection: letters, digits, '.', '_', '-' */
    char playbook[512];      /* playbook = path of the playbook in the pushed tree (required) */
    char ref[RG_GIT_REF_MAX + 1]; /* ref = the refs that deploy, a glob ("refs/tags/v*") */
    enum rg_git_tag_kind tags; /* tags = any (NOT_A_TAG), annotated or signed: the least a
                                  pushed tag must be */
    bool protect;            /* protect = true (default): a tag that deployed may not be moved
                                or deleted */
    bool wait;               /* busy = wait (default) or refuse: what a push does while another
                                deploy of the target runs */
    char wait_for[32];       /* wait = how long a push waits for the lock (default "30m") */
};

/* The targets in the repository's config, in the order their names sort. Unknown keys, a
 * missing playbook or ref, an invalid value: RG_EINVAL naming the key (rollgate.NAME.KEY), the
 * value and what is allowed. *out is an array of *n (0 when none is configured) to free(). */
int rg_git_targets(struct rg_git_target **out, size_t *n, struct rg_git_repo *r,
                   struct rg_err *err);

/* Whether ref matches a target's ref glob ('*' matches within one path component, as git's
 * refspecs do). */
bool rg_git_ref_matches(const char *pattern, const char *ref);

/* Sets key to value in the repository's own config file (hook install). */
int rg_git_config_set(struct rg_git_repo *r, const char *key, const char *value,
                      struct rg_err *err);

/* The directory git runs the repository's hooks from: core.hooksPath (relative to the
 * repository for a bare one, as git resolves it) or <git dir>/hooks. *out to free(). */
int rg_git_hooks_dir(char **out, struct rg_git_repo *r, struct rg_err *err);

#endif
