/* Private to the playbook module: the YAML node tree, the decoding context and the schema
 * tables that turn nodes into the typed model. */
#ifndef ROLLGATE_PLAYBOOK_INTERNAL_H
#define ROLLGATE_PLAYBOOK_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "rollgate/playbook.h"

enum pb_kind { PB_SCALAR, PB_SEQ, PB_MAP };

/* A parsed YAML node. Maps keep keys and values alternating in items (2 * n entries). */
struct pb_node {
    enum pb_kind kind;
    int line, col;
    char *str;    /* scalar text, NUL-terminated */
    size_t len;
    bool plain;   /* an unquoted scalar: "", "~" and "null" then mean nothing */
    struct pb_node **items;
    size_t n;     /* items of a sequence, pairs of a map */
    size_t cap;
};

/* Builds the tree of a single YAML document, enforcing the size, depth and node limits and
 * refusing aliases. Problems go to diags; returns 0 or RG_EINVAL. */
int pb_tree_parse(struct pb_node **out, struct rg_diags *diags, const char *file,
                  const char *data, size_t len);
void pb_tree_free(struct pb_node *n);
struct pb_node *pb_map_key(const struct pb_node *map, size_t i);
struct pb_node *pb_map_value(const struct pb_node *map, size_t i);
/* The value under key in map, or NULL. */
const struct pb_node *pb_map_get(const struct pb_node *map, const char *key);
bool pb_is_null(const struct pb_node *n);
const char *pb_kind_noun(const struct pb_node *n);

/* Decoding state: where we are (file and key path) and where problems go. */
struct pb_ctx {
    const char *file;
    struct rg_diags *diags;
    char path[512];
    size_t path_len;
    rg_getenv_fn getenv;
    void *getenv_data;
    const char *base_dir;
    unsigned (*driver_caps)(enum rg_runtime_driver kind); /* NULL: no capability checks */
    int errors;
    bool placeholders; /* rg_load_opts.placeholders */
    bool placeheld;    /* the last pb_scalar_string used a placeholder */
};

void pb_diag_add(struct rg_diags *diags, const char *file, int line, int col, const char *path,
                 const char *msg);
void pb_vdiag(struct rg_diags *diags, const char *file, int line, int col, const char *path,
              const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
/* Appends s as an item of a YAML flow sequence ([a, b]) that reads back as s: plain when it
 * can be, else single-quoted. */
void pb_yaml_flow_item(struct rg_buf *out, const char *s);
/* Splits a command line into words as a POSIX shell would (quotes and backslashes; no
 * expansion). -1 when a quote is not closed. */
int pb_shell_words(struct rg_strv *out, const char *line);

/* Perl's class escapes that a POSIX extended regex (glibc's) does not read as Perl does: \d and
 * \D anywhere (the letters), and any of \d \w \s \b and their negations inside brackets (a
 * backslash there is a backslash). Returns 0 when there is none; else the first one's letter in
 * *found (*in_brackets: where) and re rewritten in POSIX form into rewritten, returning 1 when
 * the rewrite means the same and 2 when one escape has no POSIX form. */
int pb_regex_perl_escapes(struct rg_buf *rewritten, char *found, bool *in_brackets,
                          const char *re);

/* Records a risk at node n that does not stop the playbook from loading. */
void pb_warn(struct pb_ctx *c, const struct pb_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a problem at node n (or at 0:0 when NULL) under the current key path. */
void pb_error(struct pb_ctx *c, const struct pb_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same at an explicit position (for model objects that remember where they were). */
void pb_error_at(struct pb_ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends ".key" (or "[i]" when key is NULL) to the path; returns what to pop back to. */
size_t pb_path_push(struct pb_ctx *c, const char *key, size_t index);
void pb_path_pop(struct pb_ctx *c, size_t mark);

/* ---- table-driven decoding ---- */
enum pb_type {
    PB_T_STR,      /* char * */
    PB_T_PATH,     /* char *, made absolute against the playbook's directory */
    PB_T_INT,      /* int, within min..max */
    PB_T_BOOL,     /* bool */
    PB_T_DURATION, /* int64_t milliseconds */
    PB_T_PERCENT,  /* int, hundredths of a percent */
    PB_T_ARGV,     /* struct rg_strv, a non-empty list: never a shell string */
    PB_T_STRLIST,  /* struct rg_strv; a single string is taken as a list of one */
    PB_T_REGEX,    /* char *, must compile as a POSIX extended regex */
    PB_T_KVMAP,    /* struct rg_kv * followed by size_t count */
    PB_T_MAP,      /* a nested struct at off, decoded with sub */
    PB_T_CUSTOM,   /* decode(c, node, obj + off) does everything */
};

#define PB_REQUIRED 0x1u
#define PB_NOINTERP 0x2u /* no ${VAR} expansion (regexes may contain '$') */

struct pb_field {
    const char *key;
    enum pb_type type;
    size_t off;
    unsigned flags;
    long long min, max;                /* PB_T_INT bounds */
    const struct pb_field *sub;        /* PB_T_MAP */
    int (*decode)(struct pb_ctx *c, const struct pb_node *n, void *field); /* CUSTOM */
    /* PB_T_STR: extra check of the expanded value; returns 0 or reports and returns -1 */
    int (*check)(struct pb_ctx *c, const struct pb_node *n, const char *value);
};

/* Decodes a map node into obj with a NULL-key-terminated field table. Unknown keys, missing
 * required keys and wrong types are reported; decoding goes on so all problems are found.
 * skip_key, when set, names one key the caller handles itself. Returns 0 or -1. */
int pb_decode_map(struct pb_ctx *c, const struct pb_node *n, const struct pb_field *fields,
                  void *obj, const char *skip_key);
/* Decodes one value with one field description. Returns 0 or -1. */
int pb_decode_field(struct pb_ctx *c, const struct pb_node *n, const struct pb_field *f,
                    void *obj);
/* The expanded text of a scalar (interpolating ${VAR} unless noexpand), newly allocated, or
 * NULL after reporting a problem. what names the expected value for the type error. */
char *pb_scalar_string(struct pb_ctx *c, const struct pb_node *n, bool noexpand,
                       const char *what);

/* base/p (or p when absolute) with "." and ".." folded lexically; newly allocated. */
char *pb_path_join(const char *base, const char *p);

/* ${VAR} and ${VAR:-default} from the environment; $$ is a literal $. With placeholders
 * (not NULL), an unset ${VAR} without a default stays as written and sets *placeholders. */
int pb_interpolate(char **out, const char *in, rg_getenv_fn getenv_fn, void *data,
                   bool *placeholders, struct rg_err *err);

/* ---- the schema ---- */
extern const struct pb_field pb_top_fields[];
int pb_decode_gates(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb);
int pb_decode_deploy(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb);
int pb_decode_recover(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb);
int pb_decode_notify(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb);
/* Cross-checks after decoding: references, order, defaults. Returns 0 or -1. */
int pb_check(struct pb_ctx *c, struct rg_playbook *pb, const struct pb_node *root);
int pb_check_regex(struct pb_ctx *c, const struct pb_node *n, const char *re);

void pb_step_release(struct rg_step *s);

#endif
