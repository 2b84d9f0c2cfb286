/* YAML → node tree through libyaml's event API, with the limits that keep hostile input cheap:
 * size, depth and node count are capped and aliases are refused (no billion laughs, no cycles). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

struct tree_state {
    struct rg_diags *diags;
    const char *file;
    struct pb_node *stack[RG_PLAYBOOK_MAX_DEPTH + 1];
    size_t depth;
    size_t nodes;
    struct pb_node *root;
};

static void
tree_error(struct tree_state *t, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
tree_error(struct tree_state *t, int line, int col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pb_vdiag(t->diags, t->file, line, col, "", fmt, ap);
    va_end(ap);
}

void
pb_tree_free(struct pb_node *n)
{
    if (!n)
        return;
    /* cap counts every attached child, including a map key whose value never arrived. */
    for (size_t i = 0; i < n->cap; i++)
        pb_tree_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

struct pb_node *
pb_map_key(const struct pb_node *map, size_t i)
{
    return map->items[2 * i];
}

struct pb_node *
pb_map_value(const struct pb_node *map, size_t i)
{
    return map->items[2 * i + 1];
}

const struct pb_node *
pb_map_get(const struct pb_node *map, const char *key)
{
    if (!map || map->kind != PB_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(pb_map_key(map, i)->str, key) == 0)
            return pb_map_value(map, i);
    return NULL;
}

bool
pb_is_null(const struct pb_node *n)
{
    return n->kind == PB_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
            strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

const char *
pb_kind_noun(const struct pb_node *n)
{
    if (n->kind == PB_MAP)
        return "a mapping";
    if (n->kind == PB_SEQ)
        return "a list";
    if (pb_is_null(n))
        return "nothing";
    return "a scalar";
}

/* Attaches a finished node to the open collection on top of the stack, or makes it the root. */
static int
tree_attach(struct tree_state *t, struct pb_node *n)
{
    struct pb_node *parent = t->depth ? t->stack[t->depth - 1] : NULL;

    if (!parent) {
        t->root = n;
        return 0;
    }
    if (parent->kind == PB_MAP && (parent->cap & 1) == 0) {
        /* Even slot: this is a key. Keys must be plain strings, and unique. */
        if (n->kind != PB_SCALAR) {
            tree_error(t, n->line, n->col, "a mapping key must be a plain string, not %s",
                       pb_kind_noun(n));
            pb_tree_free(n);
            return -1;
        }
        for (size_t i = 0; i < parent->n; i++) {
            const struct pb_node *k = pb_map_key(parent, i);
            if (strcmp(k->str, n->str) == 0) {
                tree_error(t, n->line, n->col, "duplicate key '%s' (first defined at line %d)",
                           n->str, k->line);
                pb_tree_free(n);
                return -1;
            }
        }
    }
    /* cap counts attached children; items grows in pairs for maps. */
    parent->items = rg_realloc(parent->items, (parent->cap + 1) * sizeof(*parent->items));
    parent->items[parent->cap++] = n;
    parent->n = parent->kind == PB_MAP ? parent->cap / 2 : parent->cap;
    return 0;
}

static struct pb_node *
node_new(struct tree_state *t, enum pb_kind kind, const yaml_mark_t *mark)
{
    struct pb_node *n;

    if (++t->nodes > RG_PLAYBOOK_MAX_NODES) {
        tree_error(t, (int)mark->line + 1, (int)mark->column + 1,
                   "document has more than %d values; a playbook is not a data set",
                   RG_PLAYBOOK_MAX_NODES);
        return NULL;
    }
    n = rg_calloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    return n;
}

static int
tree_event(struct tree_state *t, const yaml_event_t *ev, int *documents)
{
    const yaml_mark_t *m = &ev->start_mark;
    struct pb_node *n;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*documents > 1) {
            tree_error(t, (int)m->line + 1, (int)m->column + 1,
                       "a playbook file holds one YAML document, found a second");
            return -1;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        tree_error(t, (int)m->line + 1, (int)m->column + 1,
                   "alias '*%s' is not allowed in a playbook (write the value out)",
                   (const char *)ev->data.alias.anchor);
        return -1;
    case YAML_SCALAR_EVENT:
        if (!(n = node_new(t, PB_SCALAR, m)))
            return -1;
        n->len = ev->data.scalar.length;
        n->str = rg_strndup((const char *)ev->data.scalar.value, n->len);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (strlen(n->str) != n->len) {
            tree_error(t, n->line, n->col, "value contains a NUL character");
            pb_tree_free(n);
            return -1;
        }
        return tree_attach(t, n);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (t->depth >= RG_PLAYBOOK_MAX_DEPTH) {
            tree_error(t, (int)m->line + 1, (int)m->column + 1,
                       "nesting deeper than %d levels", RG_PLAYBOOK_MAX_DEPTH);
            return -1;
        }
        if (!(n = node_new(t, ev->type == YAML_MAPPING_START_EVENT ? PB_MAP : PB_SEQ, m)))
            return -1;
        /* Attach first so the tree owns the node whatever happens next. */
        if (tree_attach(t, n) < 0)
            return -1;
        t->stack[t->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        t->depth--;
        return 0;
    default:
        return 0;
    }
}

/* What libyaml's words mean for the two mistakes people make most. */
static const char *
yaml_hint(const char *data, size_t len, size_t line, size_t column, const char *problem)
{
    size_t at = 0;

    /* libyaml counts lines and characters, not bytes: walk to the place in UTF-8. */
    for (size_t l = 0; at < len && l < line; at++)
        if (data[at] == '\n')
            l++;
    for (size_t c = 0; at < len && c < column && data[at] != '\n'; c++)
        do
            at++;
        while (at < len && ((unsigned char)data[at] & 0xC0) == 0x80);
    if (at < len && data[at] == '\t')
        return ": a tab; YAML indents with spaces only";
    if (strstr(problem, "unknown escape character"))
        return ": inside double quotes a backslash starts an escape; write a value with "
               "backslashes (a regular expression, a path) in single quotes, where a backslash "
               "is just a backslash";
    return "";
}

int
pb_tree_parse(struct pb_node **out, struct rg_diags *diags, const char *file, const char *data,
              size_t len)
{
    struct tree_state t = {.diags = diags, .file = file};
    yaml_parser_t parser;
    yaml_event_t ev;
    int documents = 0, rc = 0;
    bool done = false;

    *out = NULL;
    if (len > RG_PLAYBOOK_MAX_BYTES) {
        tree_error(&t, 0, 0, "file is larger than the %d-byte limit for a playbook",
                   RG_PLAYBOOK_MAX_BYTES);
        return RG_EINVAL;
    }
    if (!yaml_parser_initialize(&parser))
        rg_malloc((size_t)-1); /* libyaml fails only when out of memory */
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *problem = parser.problem ? parser.problem : "invalid YAML";
            const char *context = parser.context;
            yaml_mark_t pm = parser.problem_mark;
            if (parser.error == YAML_READER_ERROR)
                tree_error(&t, 0, 0, "not a text file: %s at byte %zu", problem,
                           parser.problem_offset);
            else
                tree_error(&t, (int)pm.line + 1, (int)pm.column + 1, "invalid YAML: %s%s%s%s",
                           problem, context ? " " : "", context ? context : "",
                           yaml_hint(data, len, pm.line, pm.column, problem));
            rc = RG_EINVAL;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        if (tree_event(&t, &ev, &documents) < 0)
            rc = RG_EINVAL;
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    yaml_parser_delete(&parser);
    if (rc == 0 && !t.root) {
        tree_error(&t, 0, 0, "file is empty: a playbook needs at least 'version' and 'name'");
        rc = RG_EINVAL;
    }
    if (rc) {
        pb_tree_free(t.root);
        return rc;
    }
    *out = t.root;
    return 0;
}
