/* The deploy steps and the recover ladder: lists whose items are a bare word (`pull`) or a
 * one-key mapping (`verify: [health]`), decoded by kind. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STEP_MASK(k) (1u << (k))
#define DEPLOY_STEPS                                                                           \
    (STEP_MASK(RG_STEP_PULL) | STEP_MASK(RG_STEP_SWITCH) | STEP_MASK(RG_STEP_UP) |             \
     STEP_MASK(RG_STEP_EXEC) | STEP_MASK(RG_STEP_RESTART) | STEP_MASK(RG_STEP_VERIFY) |        \
     STEP_MASK(RG_STEP_SETTLE))
#define REPAIR_STEPS (STEP_MASK(RG_STEP_EXEC) | STEP_MASK(RG_STEP_RESTART))

/* A step written as a bare word needs no parameters. */
static const bool bare_allowed[RG_STEP_KIND_COUNT] = {
    [RG_STEP_PULL] = true, [RG_STEP_SWITCH] = true, [RG_STEP_UP] = true,
};

static const struct pb_field exec_fields[] = {
    {.key = "service", .type = PB_T_STRLIST, .off = offsetof(struct rg_step, services),
     .flags = PB_REQUIRED},
    {.key = "run", .type = PB_T_ARGV, .off = offsetof(struct rg_step, argv),
     .flags = PB_REQUIRED},
    {.key = "timeout", .type = PB_T_DURATION, .off = offsetof(struct rg_step, timeout_ms)},
    {0},
};

static const struct pb_field settle_fields[] = {
    {.key = "for", .type = PB_T_DURATION, .off = offsetof(struct rg_step, for_ms),
     .flags = PB_REQUIRED},
    {.key = "watch", .type = PB_T_STRLIST, .off = offsetof(struct rg_step, watch)},
    {.key = "gates", .type = PB_T_STRLIST, .off = offsetof(struct rg_step, gates),
     .flags = PB_NOINTERP},
    {0},
};

static const struct pb_field services_field = {
    .type = PB_T_STRLIST, .off = offsetof(struct rg_step, services)};
static const struct pb_field gates_field = {
    .type = PB_T_STRLIST, .off = offsetof(struct rg_step, gates), .flags = PB_NOINTERP};

void
pb_step_release(struct rg_step *s)
{
    rg_strv_release(&s->services);
    rg_strv_release(&s->argv);
    rg_strv_release(&s->gates);
    rg_strv_release(&s->watch);
}

static int
step_kind_lookup(struct pb_ctx *c, const struct pb_node *at, const char *word, unsigned allowed,
                 const char *where)
{
    const char *names[RG_STEP_KIND_COUNT] = {0};
    struct rg_buf list;
    const char *best;

    for (int k = 0; k < RG_STEP_KIND_COUNT; k++) {
        if (!(allowed & STEP_MASK(k)))
            continue;
        names[k] = rg_step_kind_name((enum rg_step_kind)k);
        if (strcmp(word, names[k]) == 0)
            return k;
    }
    rg_buf_init(&list, 200);
    for (int k = 0; k < RG_STEP_KIND_COUNT; k++)
        if (names[k])
            rg_buf_addf(&list, "%s%s", list.len ? ", " : "", names[k]);
    if ((best = rg_suggest(word, names, RG_STEP_KIND_COUNT)))
        pb_error(c, at, "unknown %s step '%s' (did you mean '%s'?)", where, word, best);
    else
        pb_error(c, at, "unknown %s step '%s' (allowed: %s)", where, word, list.data);
    rg_buf_release(&list);
    return -1;
}

static int
decode_step_value(struct pb_ctx *c, const struct pb_node *v, struct rg_step *s)
{
    switch (s->kind) {
    case RG_STEP_PULL:
    case RG_STEP_UP:
    case RG_STEP_RESTART:
        return pb_decode_field(c, v, &services_field, s);
    case RG_STEP_SWITCH:
        pb_error(c, v, "'switch' takes no parameters: write it as a bare '- switch'");
        return -1;
    case RG_STEP_EXEC:
        s->timeout_ms = 10 * 60 * 1000;
        if (pb_decode_map(c, v, exec_fields, s, NULL) < 0)
            return -1;
        if (s->services.n != 1) {
            pb_error(c, v, "exec runs in exactly one service, got %zu", s->services.n);
            return -1;
        }
        if (s->timeout_ms == 0) {
            pb_error(c, v, "exec needs a timeout longer than 0");
            return -1;
        }
        return 0;
    case RG_STEP_VERIFY:
        if (pb_decode_field(c, v, &gates_field, s) < 0)
            return -1;
        if (!s->gates.n) {
            pb_error(c, v, "verify needs at least one gate name");
            return -1;
        }
        return 0;
    case RG_STEP_SETTLE:
        s->for_ms = -1;
        if (pb_decode_map(c, v, settle_fields, s, NULL) < 0)
            return -1;
        if (s->for_ms == 0) {
            pb_error(c, v, "settle needs a window longer than 0 (for: 60s)");
            return -1;
        }
        return 0;
    case RG_STEP_KIND_COUNT:
        break;
    }
    return -1;
}

/* One list item: `word` or `{word: value}`. */
static int
decode_step(struct pb_ctx *c, const struct pb_node *n, struct rg_step *s, unsigned allowed,
            const char *where)
{
    const struct pb_node *key, *value;
    int k, rc;
    size_t mark;

    s->line = n->line;
    s->column = n->col;
    if (n->kind == PB_SCALAR && !pb_is_null(n)) {
        if ((k = step_kind_lookup(c, n, n->str, allowed, where)) < 0)
            return -1;
        s->kind = (enum rg_step_kind)k;
        if (!bare_allowed[k]) {
            pb_error(c, n, "step '%s' needs parameters, as in '- %s'", n->str,
                     k == RG_STEP_VERIFY   ? "verify: [health]"
                     : k == RG_STEP_SETTLE ? "settle: {for: 60s}"
                     : k == RG_STEP_EXEC   ? "exec: {service: app, run: [prog, arg]}"
                                           : "restart: [app]");
            return -1;
        }
        return 0;
    }
    if (n->kind != PB_MAP || n->n != 1) {
        pb_error(c, n, "expected a step such as 'pull' or '{verify: [health]}', got %s",
                 n->kind == PB_MAP ? "a mapping with several keys" : pb_kind_noun(n));
        return -1;
    }
    key = pb_map_key(n, 0);
    value = pb_map_value(n, 0);
    if ((k = step_kind_lookup(c, key, key->str, allowed, where)) < 0)
        return -1;
    s->kind = (enum rg_step_kind)k;
    if (pb_is_null(value) && bare_allowed[k])
        return 0;
    mark = pb_path_push(c, key->str, 0);
    rc = decode_step_value(c, value, s);
    pb_path_pop(c, mark);
    return rc;
}

static int
decode_steps(struct pb_ctx *c, const struct pb_node *n, struct rg_step **out, size_t *count,
             unsigned allowed, const char *where)
{
    int rc = 0;

    if (n->kind != PB_SEQ) {
        pb_error(c, n, "expected a list of steps, got %s", pb_kind_noun(n));
        return -1;
    }
    *out = rg_calloc(n->n + 1, sizeof(**out)); /* + 1: room for an implicit switch */
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = pb_path_push(c, NULL, i);
        if (decode_step(c, n->items[i], &(*out)[(*count)++], allowed, where) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    return rc;
}

int
pb_decode_deploy(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb)
{
    if (n->kind == PB_SEQ && n->n == 0) {
        pb_error(c, n, "deploy needs steps, at least 'pull', 'up' and a 'verify'");
        return -1;
    }
    return decode_steps(c, n, &pb->deploy, &pb->n_deploy, DEPLOY_STEPS, "deploy");
}

/* repair: either the mapping form {exec: {...}, restart: [...]} or a list of steps. */
static int
decode_repair(struct pb_ctx *c, const struct pb_node *v, struct rg_rung *r)
{
    int rc = 0;

    if ((v->kind == PB_SEQ || v->kind == PB_MAP) && v->n == 0) {
        pb_error(c, v, "repair needs at least one step: exec or restart");
        return -1;
    }
    if (v->kind == PB_SEQ)
        return decode_steps(c, v, &r->steps, &r->n_steps, REPAIR_STEPS, "repair");
    if (v->kind != PB_MAP) {
        pb_error(c, v, "expected repair steps such as {exec: {service: app, run: [...]}, "
                       "restart: [app]}, got %s", pb_kind_noun(v));
        return -1;
    }
    r->steps = rg_calloc(v->n, sizeof(*r->steps));
    for (size_t i = 0; i < v->n; i++) {
        const struct pb_node *key = pb_map_key(v, i);
        struct rg_step *s = &r->steps[r->n_steps++];
        int k = step_kind_lookup(c, key, key->str, REPAIR_STEPS, "repair");
        size_t mark;

        s->line = key->line;
        s->column = key->col;
        if (k < 0) {
            rc = -1;
            continue;
        }
        s->kind = (enum rg_step_kind)k;
        mark = pb_path_push(c, key->str, 0);
        if (decode_step_value(c, pb_map_value(v, i), s) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    return rc;
}

static int
decode_rung(struct pb_ctx *c, const struct pb_node *n, struct rg_rung *r)
{
    static const char *const names[RG_RUNG_KIND_COUNT] = {"repair", "rollback", "restore"};
    const struct pb_node *key, *value;
    const char *best;
    int k, rc;
    size_t mark;

    r->line = n->line;
    r->column = n->col;
    if (n->kind != PB_MAP || n->n != 1) {
        pb_error(c, n, "expected a rung such as 'rollback: previous', got %s",
                 n->kind == PB_MAP ? "a mapping with several keys" : pb_kind_noun(n));
        return -1;
    }
    key = pb_map_key(n, 0);
    value = pb_map_value(n, 0);
    for (k = 0; k < RG_RUNG_KIND_COUNT; k++)
        if (strcmp(key->str, names[k]) == 0)
            break;
    if (k == RG_RUNG_KIND_COUNT) {
        if ((best = rg_suggest(key->str, names, RG_RUNG_KIND_COUNT)))
            pb_error(c, key, "unknown recover rung '%s' (did you mean '%s'?)", key->str, best);
        else
            pb_error(c, key, "unknown recover rung '%s' (allowed: repair, rollback, restore)",
                     key->str);
        return -1;
    }
    r->kind = (enum rg_rung_kind)k;
    mark = pb_path_push(c, key->str, 0);
    if (r->kind == RG_RUNG_REPAIR) {
        rc = decode_repair(c, value, r);
    } else {
        r->to = pb_scalar_string(c, value, false,
                                 r->kind == RG_RUNG_ROLLBACK ? "'previous' or a tag"
                                                             : "'before_deploy' or 'latest'");
        rc = r->to ? 0 : -1;
        if (r->to && r->kind == RG_RUNG_RESTORE && strcmp(r->to, "before_deploy") != 0 &&
            strcmp(r->to, "latest") != 0) {
            pb_error(c, value, "unknown restore source '%s' (allowed: before_deploy, latest)",
                     r->to);
            rc = -1;
        }
    }
    pb_path_pop(c, mark);
    return rc;
}

int
pb_decode_recover(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb)
{
    int rc = 0;

    if (n->kind != PB_SEQ) {
        pb_error(c, n, "expected a list of rungs such as [rollback: previous], got %s",
                 pb_kind_noun(n));
        return -1;
    }
    pb->recover = rg_calloc(n->n, sizeof(*pb->recover));
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = pb_path_push(c, NULL, i);
        if (decode_rung(c, n->items[i], &pb->recover[pb->n_recover++]) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    return rc;
}
