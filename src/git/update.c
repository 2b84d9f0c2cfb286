/* What a hook reads: the "<old> <new> <ref>" lines of a push, the ref names in them (checked
 * by git's rules before anything uses them), and the globs targets match refs with. */
#include <assert.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "git_internal.h"
#include "rollgate/util.h"

#define OID_SHA1_HEX 40
#define OID_SHA256_HEX 64

const char *
gitmod_escape_n(char *buf, size_t size, const char *s, size_t n)
{
    static const char cut[] = "...";
    size_t off = 0, i;

    assert(size > sizeof(cut));
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char one[5];
        size_t len;

        if (c == '\n')
            memcpy(one, "\\n", 3);
        else if (c == '\t')
            memcpy(one, "\\t", 3);
        else if (c == '\r')
            memcpy(one, "\\r", 3);
        else if (c == '\\')
            memcpy(one, "\\\\", 3);
        else if (c < 0x20 || c >= 0x7f)
            snprintf(one, sizeof(one), "\\x%02x", c);
        else {
            one[0] = (char)c;
            one[1] = '\0';
        }
        len = strlen(one);
        /* Every byte but the last leaves room for the cut mark, so it always fits. */
        if (off + len + (i + 1 < n ? sizeof(cut) - 1 : 0) >= size)
            break;
        memcpy(buf + off, one, len);
        off += len;
    }
    if (i < n)
        memcpy(buf + off, cut, sizeof(cut));
    else
        buf[off] = '\0';
    return buf;
}

const char *
gitmod_escape(char *buf, size_t size, const char *s)
{
    return gitmod_escape_n(buf, size, s, strlen(s));
}

static const char *
char_problem(unsigned char c)
{
    if (c < 0x20 || c == 0x7f)
        return "it contains a control character";
    if (c >= 0x80)
        return "it contains a byte outside ASCII";
    switch (c) {
    case ' ': return "it contains a space";
    case '~': return "it contains '~'";
    case '^': return "it contains '^'";
    case ':': return "it contains ':'";
    case '?': return "it contains '?'";
    case '*': return "it contains '*'";
    case '[': return "it contains '['";
    case '\\': return "it contains '\\'";
    }
    return NULL;
}

static bool
lib_accepts(const char *ref)
{
    int valid = 0;

    if (gitmod_init(NULL) < 0)
        return false;
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 1)
    if (git_reference_name_is_valid(&valid, ref) < 0)
        return false;
#else
    valid = git_reference_is_valid_name(ref);
#endif
    return valid != 0;
}

/* git check-ref-format's rules, spelled out so the message can name the one broken; libgit2's
 * own check runs last so that nothing it refuses gets through a rule missed here. */
const char *
gitmod_ref_problem(const char *ref)
{
    size_t len = strlen(ref), n;
    const char *why, *comp;

    if (len == 0)
        return "it is empty";
    if (len > RG_GIT_REF_MAX)
        return "it is longer than 255 bytes";
    for (size_t i = 0; i < len; i++)
        if ((why = char_problem((unsigned char)ref[i])))
            return why;
    if (strstr(ref, ".."))
        return "it contains '..'";
    if (strstr(ref, "@{"))
        return "it contains '@{'";
    if (strcmp(ref, "@") == 0)
        return "it is '@'";
    if (ref[0] == '/')
        return "it starts with '/'";
    if (ref[len - 1] == '/')
        return "it ends with '/'";
    if (ref[len - 1] == '.')
        return "it ends with '.'";
    if (strstr(ref, "//"))
        return "it contains '//'";
    for (comp = ref;; comp += n + 1) {
        n = strcspn(comp, "/");
        if (comp[0] == '.')
            return "a component starts with '.'";
        if (n >= 5 && memcmp(comp + n - 5, ".lock", 5) == 0)
            return "a component ends with '.lock'";
        if (!comp[n])
            break;
    }
    if (!strchr(ref, '/'))
        return "it has no '/' (a ref is a path like 'refs/heads/main')";
    if (!lib_accepts(ref))
        return "libgit2 does not accept it";
    return NULL;
}

int
rg_git_check_ref(const char *ref, struct rg_err *err)
{
    const char *why = gitmod_ref_problem(ref);
    char shown[GITMOD_SHOWN_MAX];

    if (!why)
        return 0;
    return rg_err_set(err, RG_EINVAL, "invalid ref name '%s': %s",
                      gitmod_escape(shown, sizeof(shown), ref), why);
}

static bool
is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool
is_zero(const char *s)
{
    return s[strspn(s, "0")] == '\0';
}

/* Copies a field of n hex digits in lower case, the form git prints and compares. */
static void
copy_oid(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

static int
parse_update(struct rg_git_update *u, const char *line, size_t len, struct rg_err *err)
{
    char shown_line[GITMOD_SHOWN_MAX], shown[GITMOD_SHOWN_MAX];
    const char *old_hex = line, *new_hex, *ref, *end = line + len;
    size_t old_n, new_n, ref_n;

    gitmod_escape_n(shown_line, sizeof(shown_line), line, len);
    if (!(new_hex = memchr(old_hex, ' ', len)) ||
        !(ref = memchr(new_hex + 1, ' ', (size_t)(end - new_hex - 1))))
        return rg_err_set(err, RG_EINVAL,
                          "invalid update line '%s': want '<old-id> <new-id> <ref>'", shown_line);
    old_n = (size_t)(new_hex - old_hex);
    new_hex++;
    new_n = (size_t)(ref - new_hex);
    ref++;
    ref_n = (size_t)(end - ref);
    if ((old_n != OID_SHA1_HEX && old_n != OID_SHA256_HEX) || !is_hex(old_hex, old_n))
        return rg_err_set(err, RG_EINVAL,
                          "invalid update line '%s': old id '%s' is not 40 or 64 hex digits",
                          shown_line, gitmod_escape_n(shown, sizeof(shown), old_hex, old_n));
    if ((new_n != OID_SHA1_HEX && new_n != OID_SHA256_HEX) || !is_hex(new_hex, new_n))
        return rg_err_set(err, RG_EINVAL,
                          "invalid update line '%s': new id '%s' is not 40 or 64 hex digits",
                          shown_line, gitmod_escape_n(shown, sizeof(shown), new_hex, new_n));
    if (old_n != new_n)
        return rg_err_set(err, RG_EINVAL,
                          "invalid update line '%s': the old id has %zu hex digits, the new one "
                          "%zu (SHA-1 and SHA-256 ids do not mix)",
                          shown_line, old_n, new_n);
    if (ref_n > RG_GIT_REF_MAX)
        return rg_err_set(err, RG_EINVAL,
                          "invalid update line '%s': invalid ref name '%s': it is longer than "
                          "255 bytes",
                          shown_line, gitmod_escape_n(shown, sizeof(shown), ref, ref_n));
    copy_oid(u->old_oid, old_hex, old_n);
    copy_oid(u->new_oid, new_hex, new_n);
    memcpy(u->ref, ref, ref_n);
    u->ref[ref_n] = '\0';
    if (rg_git_check_ref(u->ref, err) < 0)
        return rg_err_prefix(err, "invalid update line '%s': ", shown_line);
    u->created = is_zero(u->old_oid);
    u->deleted = is_zero(u->new_oid);
    if (u->created && u->deleted)
        return rg_err_set(err, RG_EINVAL, "invalid update line '%s': both ids are zero",
                          shown_line);
    return 0;
}

int
rg_git_parse_update(struct rg_git_update *out, const char *line, struct rg_err *err)
{
    struct rg_git_update u = {0};
    size_t len = strlen(line);
    int rc;

    memset(out, 0, sizeof(*out));
    if (len && line[len - 1] == '\n')
        len--;
    if ((rc = parse_update(&u, line, len, err)) < 0)
        return rc;
    *out = u;
    return 0;
}

bool
rg_git_ref_matches(const char *pattern, const char *ref)
{
    return fnmatch(pattern, ref, FNM_PATHNAME) == 0;
}
