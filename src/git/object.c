/* What a pushed object id is (a commit, or a tag of one, signed or not) and the files at a
 * pushed commit, read straight from the object database: nothing is checked out. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git_internal.h"
#include "rollgate/util.h"

#define OID_SHA1_HEX 40
#define OID_SHA256_HEX 64
#define SHORT_HEX 12

/* The libgit2 this is built with reads SHA-1 repositories only (SHA-256 came to libgit2 as an
 * experimental build option after 1.5); a SHA-256 id is refused by name rather than cut or
 * misread. */
static int
parse_oid(git_oid *oid, const char *hex, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    size_t len = strlen(hex), i;

    for (i = 0; i < len && isxdigit((unsigned char)hex[i]); i++)
        ;
    if (i == len && len == OID_SHA256_HEX)
        return rg_err_set(err, RG_EINVAL,
                          "SHA-256 object ids need a libgit2 with SHA-256 support; this rollgate "
                          "was built with libgit2 %d.%d",
                          LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR);
    if (i != len || len != OID_SHA1_HEX || git_oid_fromstrn(oid, hex, len) < 0)
        return rg_err_set(err, RG_EINVAL, "invalid object id '%s': want 40 hex digits",
                          gitmod_escape(shown, sizeof(shown), hex));
    return 0;
}

static bool
line_starts(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);

    for (const char *p = text;; p++) {
        if (strncmp(p, prefix, n) == 0)
            return true;
        if (!(p = strchr(p, '\n')))
            return false;
    }
}

/* git appends a tag's signature to its message; a line that opens one is what `git tag -v`
 * looks for too. Whether it verifies is for gpg or ssh-keygen, not for this check. */
static bool
tag_is_signed(const git_tag *tag)
{
    const char *msg = git_tag_message(tag);

    return msg && (line_starts(msg, "-----BEGIN PGP SIGNATURE-----") ||
                   line_starts(msg, "-----BEGIN SSH SIGNATURE-----"));
}

int
rg_git_resolve(struct rg_git_pushed *out, struct rg_git_repo *r, const char *oid_hex,
               const char *ref, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    git_object *obj = NULL, *peeled = NULL;
    const git_object *target;
    git_oid oid;
    int rc = 0, grc;

    memset(out, 0, sizeof(*out));
    gitmod_escape(shown, sizeof(shown), ref);
    if ((rc = parse_oid(&oid, oid_hex, err)) < 0)
        return rg_err_prefix(err, "cannot resolve ref '%s': ", shown);
    if ((grc = git_object_lookup(&obj, r->repo, &oid, GIT_OBJECT_ANY)) < 0) {
        rc = grc == GIT_ENOTFOUND
                 ? rg_err_set(err, RG_ENOENT,
                              "cannot resolve ref '%s': object %s is not in the repository", shown,
                              oid_hex)
                 : gitmod_fail(err, RG_EIO, "cannot resolve ref '%s': cannot read object %s", shown,
                               oid_hex);
        goto out;
    }
    target = obj;
    if (git_object_type(obj) == GIT_OBJECT_TAG) {
        out->kind = tag_is_signed((const git_tag *)obj) ? RG_GIT_SIGNED : RG_GIT_ANNOTATED;
        /* ANY peels a tag through every tag it points at, to the first object that is not. */
        if ((grc = git_object_peel(&peeled, obj, GIT_OBJECT_ANY)) < 0) {
            rc = gitmod_fail(err, grc == GIT_ENOTFOUND ? RG_ENOENT : RG_EIO,
                             "cannot resolve ref '%s': the object tag %s points at is not "
                             "readable",
                             shown, oid_hex);
            goto out;
        }
        target = peeled;
    }
    switch (git_object_type(target)) {
    case GIT_OBJECT_COMMIT:
        git_oid_tostr(out->commit, sizeof(out->commit), git_object_id(target));
        break;
    case GIT_OBJECT_TREE:
        rc = rg_err_set(err, RG_EINVAL, "ref '%s' points at a tree, not a commit", shown);
        break;
    case GIT_OBJECT_BLOB:
        rc = rg_err_set(err, RG_EINVAL, "ref '%s' points at a blob, not a commit", shown);
        break;
    default:
        rc = rg_err_set(err, RG_EINVAL, "ref '%s' points at a %s, not a commit", shown,
                        git_object_type2string(git_object_type(target)));
        break;
    }
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    git_object_free(peeled);
    git_object_free(obj);
    return rc;
}

const char *
gitmod_path_problem(const char *path)
{
    const char *comp;
    size_t n;

    if (!path[0])
        return "it is empty";
    if (path[0] == '/')
        return "it is absolute";
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "it contains a control character";
    for (comp = path;; comp += n + 1) {
        n = strcspn(comp, "/");
        if (n == 0)
            return "it has an empty component";
        if (n == 1 && comp[0] == '.')
            return "it has a '.' component";
        if (n == 2 && comp[0] == '.' && comp[1] == '.')
            return "it has a '..' component";
        if (!comp[n])
            return NULL;
    }
}

/* Looks the commit up by a full id: a tree or blob id given for a commit is refused rather
 * than read as a tree. */
static int
lookup_commit(git_commit **out, struct rg_git_repo *r, const char *commit_hex, struct rg_err *err)
{
    git_object *obj = NULL;
    git_oid oid;
    int rc, grc;

    *out = NULL;
    if ((rc = parse_oid(&oid, commit_hex, err)) < 0)
        return rc;
    if ((grc = git_object_lookup(&obj, r->repo, &oid, GIT_OBJECT_ANY)) < 0)
        return grc == GIT_ENOTFOUND
                   ? rg_err_set(err, RG_ENOENT, "no commit %s in the repository", commit_hex)
                   : gitmod_fail(err, RG_EIO, "cannot read commit %s", commit_hex);
    if (git_object_type(obj) != GIT_OBJECT_COMMIT) {
        rc = rg_err_set(err, RG_EINVAL, "object %s is a %s, not a commit", commit_hex,
                        git_object_type2string(git_object_type(obj)));
        git_object_free(obj);
        return rc;
    }
    *out = (git_commit *)obj;
    return 0;
}

/* The entry's mode, not the object it names, says what it is: a symlink is a blob too. */
static const char *
mode_problem(git_filemode_t mode)
{
    switch (mode) {
    case GIT_FILEMODE_BLOB:
    case GIT_FILEMODE_BLOB_EXECUTABLE: return NULL;
    case GIT_FILEMODE_LINK: return "a symlink";
    case GIT_FILEMODE_TREE: return "a directory";
    case GIT_FILEMODE_COMMIT: return "a submodule";
    default: return "of an unknown mode";
    }
}

static int
too_big(struct rg_err *err, const char *shown, const char *commit_hex, size_t size, size_t max)
{
    return rg_err_set(err, RG_EINVAL, "'%s' at commit %.*s is %zu bytes, over the %zu-byte limit",
                      shown, SHORT_HEX, commit_hex, size, max);
}

int
rg_git_read_file(char **data, size_t *len, struct rg_git_repo *r, const char *commit_hex,
                 const char *path, size_t max, struct rg_err *err)
{
    char shown[GITMOD_SHOWN_MAX];
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_odb *odb = NULL;
    git_blob *blob = NULL;
    git_object_t type;
    const char *why;
    size_t size;
    char *buf = NULL;
    int rc = 0, grc;

    *data = NULL;
    *len = 0;
    gitmod_escape(shown, sizeof(shown), path);
    if ((why = gitmod_path_problem(path)))
        return rg_err_set(err, RG_EINVAL, "invalid path '%s' in the repository: %s", shown, why);
    if ((rc = lookup_commit(&commit, r, commit_hex, err)) < 0) {
        rg_err_prefix(err, "cannot read '%s': ", shown);
        goto out;
    }
    if (git_commit_tree(&tree, commit) < 0) {
        rc = gitmod_fail(err, RG_EIO, "cannot read the tree of commit %.*s", SHORT_HEX, commit_hex);
        goto out;
    }
    if ((grc = git_tree_entry_bypath(&entry, tree, path)) < 0) {
        rc = grc == GIT_ENOTFOUND ? rg_err_set(err, RG_ENOENT, "no '%s' at commit %.*s", shown,
                                               SHORT_HEX, commit_hex)
                                  : gitmod_fail(err, RG_EIO, "cannot look up '%s' at commit %.*s",
                                                shown, SHORT_HEX, commit_hex);
        goto out;
    }
    if ((why = mode_problem(git_tree_entry_filemode(entry)))) {
        rc = rg_err_set(err, RG_EINVAL, "'%s' at commit %.*s is %s, not a file", shown, SHORT_HEX,
                        commit_hex, why);
        goto out;
    }
    /* The header says the size without inflating the blob: a huge file is refused before a
     * byte of it is in memory. */
    if (git_repository_odb(&odb, r->repo) < 0 ||
        git_odb_read_header(&size, &type, odb, git_tree_entry_id(entry)) < 0) {
        rc = gitmod_fail(err, RG_EIO, "cannot read '%s' at commit %.*s", shown, SHORT_HEX,
                         commit_hex);
        goto out;
    }
    if (size > max) {
        rc = too_big(err, shown, commit_hex, size, max);
        goto out;
    }
    if (git_blob_lookup(&blob, r->repo, git_tree_entry_id(entry)) < 0) {
        rc = gitmod_fail(err, RG_EIO, "cannot read '%s' at commit %.*s", shown, SHORT_HEX,
                         commit_hex);
        goto out;
    }
    /* The header and the object agree unless the database is corrupt; the copy goes by the
     * object. */
    size = (size_t)git_blob_rawsize(blob);
    if (size > max) {
        rc = too_big(err, shown, commit_hex, size, max);
        goto out;
    }
    buf = rg_malloc(size + 1);
    memcpy(buf, git_blob_rawcontent(blob), size);
    buf[size] = '\0';
    *data = buf;
    *len = size;
out:
    git_blob_free(blob);
    git_odb_free(odb);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_commit_free(commit);
    return rc;
}

int
rg_git_tag_commit(struct rg_git_pushed *out, struct rg_git_repo *r, const char *tag,
                  struct rg_err *err)
{
    char ref[300], hex[GIT_OID_HEXSZ + 1];
    git_reference *found = NULL;
    int grc, rc;

    memset(out, 0, sizeof(*out));
    snprintf(ref, sizeof(ref), "refs/tags/%s", tag);
    if (strlen(tag) > 255 || gitmod_ref_problem(ref))
        return rg_err_set(err, RG_EINVAL, "'%.255s' is not a tag name git accepts", tag);
    if ((grc = git_reference_lookup(&found, r->repo, ref)) < 0)
        return grc == GIT_ENOTFOUND
                   ? rg_err_set(err, RG_ENOENT, "no tag '%s' in %s", tag, r->dir)
                   : gitmod_fail(err, RG_EIO, "cannot read tag '%s' in %s", tag, r->dir);
    if (git_reference_type(found) != GIT_REFERENCE_DIRECT) {
        git_reference *direct = NULL;
        grc = git_reference_resolve(&direct, found);
        git_reference_free(found);
        if (grc < 0)
            return gitmod_fail(err, RG_EIO, "cannot resolve tag '%s' in %s", tag, r->dir);
        found = direct;
    }
    git_oid_tostr(hex, sizeof(hex), git_reference_target(found));
    git_reference_free(found);
    rc = rg_git_resolve(out, r, hex, ref, err);
    return rc;
}
