/* The playbook schema as data: one field table per section and per gate kind. Adding a key is
 * adding a row; type errors, unknown keys and "did you mean" come from the decoder. */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(offsetof(struct rg_gate, n_headers) ==
                   offsetof(struct rg_gate, headers) + sizeof(struct rg_kv *),
               "PB_T_KVMAP expects the count right after the array");

/* ---- value checks ---- */

/* A password written into the playbook (not taken from ${VAR}) ends up in every copy of it:
 * warned, with the way to leave it out. The value itself is never repeated. */
static int
check_dsn(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    const char *raw = n->str, *scheme = strstr(raw, "://");

    (void)v;
    if (!scheme) {
        /* keyword=value pairs, spaces allowed around '=' (libpq's grammar) */
        for (const char *p = strstr(raw, "password"); p; p = strstr(p + 8, "password")) {
            const char *q = p + 8;
            if (p > raw && p[-1] != ' ' && p[-1] != '\t')
                continue; /* sslpassword, a value containing the word */
            while (*q == ' ')
                q++;
            if (*q != '=')
                continue;
            for (q++; *q == ' '; q++)
                ;
            if (*q == '\'')
                q++;
            if (*q && *q != ' ' && strncmp(q, "${", 2) != 0) {
                pb_warn(c, n, "the connection string holds a literal password: leave it out "
                              "(libpq reads PGPASSWORD and ~/.pgpass) so that the playbook can "
                              "be shared and committed");
                return 0;
            }
        }
        return 0;
    }
    /* postgresql://user:password@host/db?... : userinfo ends at the first '@' before the path */
    const char *start = scheme + 3, *end = start + strcspn(start, "/?#");
    const char *at = memchr(start, '@', (size_t)(end - start));
    const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (colon && colon + 1 < at && strncmp(colon + 1, "${", 2) != 0)
        pb_warn(c, n, "the connection URL holds a literal password: leave it out "
                      "(postgresql://user@host/db; libpq reads PGPASSWORD and ~/.pgpass) so "
                      "that the playbook can be shared and committed");
    return 0;
}

/* ---- backup.database: a SQLite file or a PostgreSQL connection string ----
 * "sqlite://" and a clean absolute path (one form, so that SQLAlchemy's relative
 * "sqlite:///data/app.db" is never read as a path from the root without a word). The backup
 * module reads the same form (rg_backup_sqlite_path). */
static int
check_backup_database(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    const char *p = v + strlen("sqlite://");

    if (v[0] == '/') {
        pb_error(c, n, "'%s' is neither a PostgreSQL connection string nor a SQLite URL: write "
                       "'sqlite://%s' for a SQLite database", v, v);
        return -1;
    }
    if (strncmp(v, "sqlite:", 7) != 0)
        return check_dsn(c, n, v);
    if (strncmp(v, "sqlite://", 9) != 0 || p[0] != '/' || !p[1] || p[strlen(p) - 1] == '/') {
        pb_error(c, n, "backup database '%s' is not 'sqlite://' followed by an absolute path "
                       "(like 'sqlite:///srv/app/data/app.db')", v);
        return -1;
    }
    for (const char *q = p; *q;) {
        size_t len = strcspn(++q, "/");
        if (len == 0 || (len == 1 && q[0] == '.') || (len == 2 && strncmp(q, "..", 2) == 0)) {
            pb_error(c, n, "SQLite database path '%s' is not clean (an empty, '.' or '..' "
                           "component)", p);
            return -1;
        }
        q += len;
    }
    return 0;
}

static int
check_name(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    size_t len = strlen(v);

    if (len == 0 || len > 64 || !isalnum((unsigned char)v[0]))
        goto bad;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
            goto bad;
    return 0;
bad:
    pb_error(c, n,
             "invalid name '%s' (1-64 letters, digits, '.', '-' or '_', starting with a letter "
             "or digit)",
             v);
    return -1;
}

/* A systemd service unit name as it goes into systemctl's argv: never an option, never a
 * pattern, always a .service (rollgate restarts it). */
static int
check_unit(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    size_t len = strlen(v);
    const char *suffix = ".service";

    if (len <= strlen(suffix) || len > 255 || !isalnum((unsigned char)v[0]) ||
        strcmp(v + len - strlen(suffix), suffix) != 0)
        goto bad;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr(":_.@-", v[i]))
            goto bad;
    return 0;
bad:
    pb_error(c, n,
             "invalid unit '%s' (a service unit such as 'app.service': letters, digits, ':', "
             "'_', '.', '@' or '-', starting with a letter or digit, ending in '.service')",
             v);
    return -1;
}

static int
check_env_name(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    bool ok = v[0] && (isalpha((unsigned char)v[0]) || v[0] == '_');

    for (size_t i = 1; ok && v[i]; i++)
        ok = isalnum((unsigned char)v[i]) || v[i] == '_';
    if (!ok) {
        pb_error(c, n, "invalid variable name '%s' (letters, digits and _, not starting with "
                       "a digit)", v);
        return -1;
    }
    return 0;
}

static int
check_image(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    if (!v[0] || strlen(v) > 255)
        goto bad;
    for (const char *p = v; *p; p++)
        if (!(isalnum((unsigned char)*p) && !isupper((unsigned char)*p)) && !strchr("._-/:", *p))
            goto bad;
    if (strchr(v, '@'))
        goto bad;
    /* A colon after the last slash is a tag: the tag comes from the deploy, not from here. */
    if (strchr(strrchr(v, '/') ? strrchr(v, '/') : v, ':')) {
        pb_error(c, n, "image '%s' includes a tag; give the repository only (each deploy names "
                       "its tag)", v);
        return -1;
    }
    return 0;
bad:
    pb_error(c, n,
             "invalid image repository '%s' (lowercase letters, digits, '.', '_', '-', '/' and "
             "a registry host:port)",
             v);
    return -1;
}

static int
check_url_scheme(struct pb_ctx *c, const struct pb_node *n, const char *v,
                 const char *const *schemes, const char *what)
{
    for (size_t i = 0; schemes[i]; i++) {
        size_t l = strlen(schemes[i]);
        if (strncmp(v, schemes[i], l) == 0 && v[l] && v[l] != '/')
            return 0;
    }
    pb_error(c, n, "invalid URL '%s' (expected %s)", v, what);
    return -1;
}

static int
check_http_url(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    static const char *const s[] = {"http://", "https://", NULL};
    return check_url_scheme(c, n, v, s, "a URL starting with http:// or https://");
}

static int
check_ws_url(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    static const char *const s[] = {"ws://", "wss://", "http://", "https://", NULL};
    return check_url_scheme(c, n, v, s, "a URL starting with ws://, wss://, http:// or https://");
}

static int
check_webhook(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    /* Empty turns notifications off, so `${HOOK_URL:-}` works where no hook is configured. */
    if (!v[0])
        return 0;
    return check_http_url(c, n, v);
}

static int
check_host_port(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    const char *colon = strrchr(v, ':');
    long long port;
    struct rg_err err;
    bool bracketed = v[0] == '[';

    if (!colon || colon == v || (bracketed && colon[-1] != ']') ||
        (!bracketed && strchr(v, ':') != colon) ||
        rg_int_parse(&port, colon + 1, 1, 65535, &err) < 0) {
        pb_error(c, n, "invalid address '%s' (expected host:port, port 1-65535, as in "
                       "127.0.0.1:5432 or [::1]:80)", v);
        return -1;
    }
    return 0;
}

static int
decode_version(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    char *s = pb_scalar_string(c, n, true, "a version number");
    int rc = 0;

    if (!s)
        return -1;
    if (strcmp(s, "1") != 0) {
        pb_error(c, n, "unsupported playbook version '%s' (this rollgate reads version %d)", s,
                 RG_PLAYBOOK_VERSION);
        rc = -1;
    } else {
        *(int *)field = 1;
    }
    free(s);
    return rc;
}

/* Decodes a scalar that must be one of names[]; stores its index. */
static int
decode_enum(struct pb_ctx *c, const struct pb_node *n, int *field, const char *const *names,
            size_t count)
{
    char *s = pb_scalar_string(c, n, true, "a name");
    struct rg_buf allowed;
    const char *best;

    if (!s)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(s, names[i]) == 0) {
            *field = (int)i;
            free(s);
            return 0;
        }
    }
    rg_buf_init(&allowed, 200);
    for (size_t i = 0; i < count; i++)
        rg_buf_addf(&allowed, "%s%s", i ? ", " : "", names[i]);
    if ((best = rg_suggest(s, names, count)))
        pb_error(c, n, "unknown value '%s' (did you mean '%s'? allowed: %s)", s, best,
                 allowed.data);
    else
        pb_error(c, n, "unknown value '%s' (allowed: %s)", s, allowed.data);
    rg_buf_release(&allowed);
    free(s);
    return -1;
}

static int
decode_driver(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    static const char *const names[] = {"compose", "systemd"};
    int v;

    if (decode_enum(c, n, &v, names, 2) < 0)
        return -1;
    *(enum rg_runtime_driver *)field = (enum rg_runtime_driver)v;
    return 0;
}

static int
decode_strategy(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    static const char *const names[] = {"replace", "switch"};
    int v;

    if (decode_enum(c, n, &v, names, 2) < 0)
        return -1;
    *(enum rg_strategy *)field = (enum rg_strategy)v;
    return 0;
}

static int
decode_container_state(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    static const char *const names[] = {"running", "healthy"};
    int v;

    if (decode_enum(c, n, &v, names, 2) < 0)
        return -1;
    *(enum rg_container_state *)field = (enum rg_container_state)v;
    return 0;
}

/* A status code or a list of them, 100 to 599, into *codes (replacing what was there). */
static int
decode_statuses(struct pb_ctx *c, const struct pb_node *n, int **codes, size_t *count_out)
{
    size_t count = 1;
    int rc = 0;

    if (n->kind == PB_SEQ) {
        count = n->n;
        if (!count) {
            pb_error(c, n, "expected at least one HTTP status code");
            return -1;
        }
    } else if (n->kind != PB_SCALAR) {
        pb_error(c, n, "expected a list of HTTP status codes such as [200, 303], got %s",
                 pb_kind_noun(n));
        return -1;
    }
    free(*codes);
    *codes = rg_calloc(count, sizeof(**codes));
    *count_out = 0;
    for (size_t i = 0; i < count; i++) {
        const struct pb_node *one = n->kind == PB_SEQ ? n->items[i] : n;
        size_t mark = n->kind == PB_SEQ ? pb_path_push(c, NULL, i) : c->path_len;
        struct rg_err err;
        long long code;
        char *s = pb_scalar_string(c, one, true, "an HTTP status code");

        if (s && rg_int_parse(&code, s, 100, 599, &err) == 0) {
            (*codes)[(*count_out)++] = (int)code;
        } else {
            if (s)
                pb_error(c, one, "invalid HTTP status code '%s' (expected 100 to 599)", s);
            rc = -1;
        }
        free(s);
        pb_path_pop(c, mark);
    }
    return rc;
}

static int
decode_expect(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    struct rg_gate *g = field; /* off = 0: the gate itself */

    return decode_statuses(c, n, &g->expect, &g->n_expect);
}

static int
decode_fail_on(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    struct rg_gate *g = field;

    return decode_statuses(c, n, &g->fail_on, &g->n_fail_on);
}

/* ---- section tables ---- */

#define GATE_TIMING_FIELDS                                                                     \
    {.key = "every", .type = PB_T_DURATION, .off = offsetof(struct rg_gate, timing.every_ms)}, \
    {.key = "within", .type = PB_T_DURATION,                                                   \
     .off = offsetof(struct rg_gate, timing.within_ms)},                                       \
    {.key = "need", .type = PB_T_INT, .off = offsetof(struct rg_gate, timing.need),            \
     .min = 1, .max = 100},                                                                    \
    {.key = "timeout", .type = PB_T_DURATION,                                                  \
     .off = offsetof(struct rg_gate, timing.timeout_ms)}

static const struct pb_field http_fields[] = {
    GATE_TIMING_FIELDS,
    {.key = "expect", .type = PB_T_CUSTOM, .off = 0, .decode = decode_expect},
    {.key = "fail_on", .type = PB_T_CUSTOM, .off = 0, .decode = decode_fail_on},
    {.key = "body", .type = PB_T_REGEX, .off = offsetof(struct rg_gate, body),
     .flags = PB_NOINTERP},
    {.key = "max_latency", .type = PB_T_DURATION,
     .off = offsetof(struct rg_gate, max_latency_ms)},
    {.key = "headers", .type = PB_T_KVMAP, .off = offsetof(struct rg_gate, headers)},
    {.key = "tls_verify", .type = PB_T_BOOL, .off = offsetof(struct rg_gate, tls_verify)},
    {0},
};

static const struct pb_field websocket_fields[] = {
    GATE_TIMING_FIELDS,
    {.key = "headers", .type = PB_T_KVMAP, .off = offsetof(struct rg_gate, headers)},
    {.key = "tls_verify", .type = PB_T_BOOL, .off = offsetof(struct rg_gate, tls_verify)},
    {0},
};

static const struct pb_field tcp_fields[] = {GATE_TIMING_FIELDS, {0}};

static const struct pb_field postgres_fields[] = {
    GATE_TIMING_FIELDS,
    {.key = "query", .type = PB_T_STR, .off = offsetof(struct rg_gate, query)},
    {.key = "max_connections_used", .type = PB_T_PERCENT,
     .off = offsetof(struct rg_gate, max_connections_used)},
    {0},
};

static const struct pb_field command_fields[] = {GATE_TIMING_FIELDS, {0}};

static const struct pb_field container_fields[] = {
    GATE_TIMING_FIELDS,
    {.key = "state", .type = PB_T_CUSTOM, .off = offsetof(struct rg_gate, state),
     .decode = decode_container_state},
    {.key = "max_restarts", .type = PB_T_INT, .off = offsetof(struct rg_gate, max_restarts),
     .min = 0, .max = 1000},
    {0},
};

static const struct pb_field logs_fields[] = {
    GATE_TIMING_FIELDS,
    {.key = "pattern", .type = PB_T_REGEX, .off = offsetof(struct rg_gate, pattern),
     .flags = PB_REQUIRED | PB_NOINTERP},
    {.key = "file", .type = PB_T_PATH, .off = offsetof(struct rg_gate, file)},
    {0},
};

static const struct pb_field unit_fields[] = {
    GATE_TIMING_FIELDS,
    {.key = "max_restarts", .type = PB_T_INT, .off = offsetof(struct rg_gate, max_restarts),
     .min = 0, .max = 1000},
    {0},
};

/* The kind key's own value: what the gate probes. */
static const struct {
    const struct pb_field target;
    const struct pb_field *fields;
} gate_kinds[RG_GATE_KIND_COUNT] = {
    [RG_GATE_HTTP] = {{.key = "http", .type = PB_T_STR, .off = offsetof(struct rg_gate, target),
                       .flags = PB_REQUIRED, .check = check_http_url},
                      http_fields},
    [RG_GATE_WEBSOCKET] = {{.key = "websocket", .type = PB_T_STR,
                            .off = offsetof(struct rg_gate, target), .flags = PB_REQUIRED,
                            .check = check_ws_url},
                           websocket_fields},
    [RG_GATE_TCP] = {{.key = "tcp", .type = PB_T_STR, .off = offsetof(struct rg_gate, target),
                      .flags = PB_REQUIRED, .check = check_host_port},
                     tcp_fields},
    [RG_GATE_POSTGRES] = {{.key = "postgres", .type = PB_T_STR,
                           .off = offsetof(struct rg_gate, target), .flags = PB_REQUIRED,
                           .check = check_dsn},
                          postgres_fields},
    [RG_GATE_COMMAND] = {{.key = "command", .type = PB_T_ARGV,
                          .off = offsetof(struct rg_gate, argv)},
                         command_fields},
    [RG_GATE_CONTAINER] = {{.key = "container", .type = PB_T_STR,
                            .off = offsetof(struct rg_gate, target), .flags = PB_REQUIRED,
                            .check = check_name},
                           container_fields},
    [RG_GATE_LOGS] = {{.key = "logs", .type = PB_T_STR, .off = offsetof(struct rg_gate, target),
                       .flags = PB_REQUIRED, .check = check_name},
                      logs_fields},
    [RG_GATE_UNIT] = {{.key = "unit", .type = PB_T_STR, .off = offsetof(struct rg_gate, target),
                       .flags = PB_REQUIRED, .check = check_unit},
                      unit_fields},
};

static void
gate_init(struct rg_gate *g)
{
    memset(g, 0, sizeof(*g));
    g->timing.every_ms = g->timing.within_ms = g->timing.timeout_ms = -1;
    g->timing.need = -1;
    g->tls_verify = true;
    g->max_connections_used = -1;
    g->max_latency_ms = 0;
}

static int
decode_gate(struct pb_ctx *c, const struct pb_node *n, struct rg_gate *g)
{
    const char *kinds[RG_GATE_KIND_COUNT];
    const struct pb_node *kind_key = NULL;
    int kind = -1;

    for (int k = 0; k < RG_GATE_KIND_COUNT; k++)
        kinds[k] = gate_kinds[k].target.key;
    if (n->kind != PB_MAP) {
        pb_error(c, n, "expected a mapping such as {http: URL, expect: [200]}, got %s",
                 pb_kind_noun(n));
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct pb_node *key = pb_map_key(n, i);
        for (int k = 0; k < RG_GATE_KIND_COUNT; k++) {
            if (strcmp(key->str, kinds[k]) != 0)
                continue;
            if (kind >= 0) {
                pb_error(c, key, "a gate has one kind, found both '%s' and '%s'", kinds[kind],
                         kinds[k]);
                return -1;
            }
            kind = k;
            kind_key = key;
        }
    }
    if (kind < 0) {
        const char *best = NULL;
        for (size_t i = 0; i < n->n && !best; i++)
            best = rg_suggest(pb_map_key(n, i)->str, kinds, RG_GATE_KIND_COUNT);
        if (best)
            pb_error(c, n, "gate has no kind (did you mean '%s'?); give one of http, websocket, "
                           "tcp, postgres, command, container, logs, unit", best);
        else
            pb_error(c, n, "gate has no kind; give one of http, websocket, tcp, postgres, "
                           "command, container, logs, unit");
        return -1;
    }
    g->kind = (enum rg_gate_kind)kind;
    if (g->kind == RG_GATE_WEBSOCKET) {
        g->expect = rg_calloc(1, sizeof(*g->expect));
        g->expect[0] = 101;
        g->n_expect = 1;
    }
    int rc = 0;
    size_t mark = pb_path_push(c, kind_key->str, 0);
    if (pb_decode_field(c, pb_map_get(n, kind_key->str), &gate_kinds[kind].target, g) < 0)
        rc = -1;
    pb_path_pop(c, mark);
    if (pb_decode_map(c, n, gate_kinds[kind].fields, g, kind_key->str) < 0)
        rc = -1;
    if (g->kind == RG_GATE_HTTP && !g->n_expect) {
        free(g->expect); /* an expect list whose every code was invalid */
        g->expect = rg_calloc(1, sizeof(*g->expect));
        g->expect[0] = 200;
        g->n_expect = 1;
    }
    for (size_t i = 0; i < g->n_fail_on; i++) {
        for (size_t k = 0; k < g->n_expect; k++) {
            if (g->fail_on[i] == g->expect[k]) {
                pb_error(c, pb_map_get(n, "fail_on"), "status %d is both expected and in "
                                                      "fail_on", g->fail_on[i]);
                rc = -1;
            }
        }
    }
    return rc;
}

int
pb_decode_gates(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb)
{
    int rc = 0;

    if (n->kind != PB_MAP) {
        pb_error(c, n, "expected a mapping of gate names to gates, got %s", pb_kind_noun(n));
        return -1;
    }
    pb->gates = rg_calloc(n->n, sizeof(*pb->gates));
    for (size_t i = 0; i < n->n; i++) {
        const struct pb_node *key = pb_map_key(n, i);
        struct rg_gate *g = &pb->gates[pb->n_gates++];
        size_t mark = pb_path_push(c, key->str, 0);

        gate_init(g);
        g->name = rg_strdup(key->str);
        g->line = key->line;
        g->column = key->col;
        if (check_name(c, key, key->str) < 0)
            rc = -1;
        if (decode_gate(c, pb_map_value(n, i), g) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    return rc;
}

static int
decode_outcomes(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    const char *names[RG_OUTCOME_COUNT];
    struct rg_strv sv = {0};
    unsigned *bits = field;
    int rc = 0;
    struct pb_field as_list = {.type = PB_T_STRLIST, .flags = PB_NOINTERP};

    for (int i = 0; i < RG_OUTCOME_COUNT; i++)
        names[i] = rg_outcome_name((enum rg_outcome)i);
    if (pb_decode_field(c, n, &as_list, &sv) < 0) {
        rg_strv_release(&sv);
        return -1;
    }
    if (!sv.n) {
        pb_error(c, n, "a notification needs at least one outcome (deployed, repaired, "
                       "rolled_back, restored, unrecovered, aborted, backed_up)");
        return -1;
    }
    for (size_t i = 0; i < sv.n; i++) {
        const struct pb_node *at = n->kind == PB_SEQ ? n->items[i] : n;
        int k;
        for (k = 0; k < RG_OUTCOME_COUNT; k++)
            if (strcmp(sv.v[i], names[k]) == 0)
                break;
        if (k < RG_OUTCOME_COUNT) {
            *bits |= 1u << k;
            continue;
        }
        const char *best = rg_suggest(sv.v[i], names, RG_OUTCOME_COUNT);
        if (best)
            pb_error(c, at, "unknown outcome '%s' (did you mean '%s'?)", sv.v[i], best);
        else
            pb_error(c, at, "unknown outcome '%s' (allowed: deployed, repaired, rolled_back, "
                            "restored, unrecovered, aborted, backed_up)", sv.v[i]);
        rc = -1;
    }
    rg_strv_release(&sv);
    return rc;
}

static const struct pb_field notify_fields[] = {
    {.key = "webhook", .type = PB_T_STR, .off = offsetof(struct rg_notify, webhook),
     .flags = PB_REQUIRED, .check = check_webhook},
    {.key = "on", .type = PB_T_CUSTOM, .off = offsetof(struct rg_notify, on),
     .flags = PB_REQUIRED, .decode = decode_outcomes},
    {.key = "timeout", .type = PB_T_DURATION, .off = offsetof(struct rg_notify, timeout_ms)},
    {.key = "retries", .type = PB_T_INT, .off = offsetof(struct rg_notify, retries), .min = 0,
     .max = 10},
    {0},
};

int
pb_decode_notify(struct pb_ctx *c, const struct pb_node *n, struct rg_playbook *pb)
{
    int rc = 0;

    if (n->kind != PB_SEQ) {
        pb_error(c, n, "expected a list of notifications such as [{webhook: URL, on: "
                       "[unrecovered]}], got %s", pb_kind_noun(n));
        return -1;
    }
    pb->notify = rg_calloc(n->n, sizeof(*pb->notify));
    for (size_t i = 0; i < n->n; i++) {
        struct rg_notify *nt = &pb->notify[pb->n_notify++];
        size_t mark = pb_path_push(c, NULL, i);

        nt->timeout_ms = 5000;
        nt->retries = 3;
        if (pb_decode_map(c, n->items[i], notify_fields, nt, NULL) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    return rc;
}

static const struct pb_field runtime_fields[] = {
    {.key = "driver", .type = PB_T_CUSTOM, .off = offsetof(struct rg_runtime, driver),
     .flags = PB_REQUIRED, .decode = decode_driver},
    {.key = "project_dir", .type = PB_T_PATH, .off = offsetof(struct rg_runtime, project_dir)},
    {.key = "compose_file", .type = PB_T_STR,
     .off = offsetof(struct rg_runtime, compose_file)},
    {.key = "project_name", .type = PB_T_STR, .off = offsetof(struct rg_runtime, project_name),
     .check = check_name},
    {.key = "env_file", .type = PB_T_STR, .off = offsetof(struct rg_runtime, env_file)},
    {.key = "tag_var", .type = PB_T_STR, .off = offsetof(struct rg_runtime, tag_var),
     .check = check_env_name},
    {.key = "services", .type = PB_T_STRLIST, .off = offsetof(struct rg_runtime, services)},
    {.key = "unit", .type = PB_T_STR, .off = offsetof(struct rg_runtime, unit),
     .check = check_unit},
    {.key = "root", .type = PB_T_PATH, .off = offsetof(struct rg_runtime, root)},
    {.key = "keep", .type = PB_T_INT, .off = offsetof(struct rg_runtime, keep), .min = 2,
     .max = 1000},
    {.key = "command_prefix", .type = PB_T_ARGV,
     .off = offsetof(struct rg_runtime, command_prefix)},
    {0},
};

static const struct pb_field release_fields[] = {
    {.key = "image", .type = PB_T_STR, .off = offsetof(struct rg_release, image),
     .check = check_image},
    {.key = "tag_pattern", .type = PB_T_REGEX, .off = offsetof(struct rg_release, tag_pattern),
     .flags = PB_REQUIRED | PB_NOINTERP},
    {.key = "git", .type = PB_T_PATH, .off = offsetof(struct rg_release, git)},
    {.key = "uploads", .type = PB_T_PATH, .off = offsetof(struct rg_release, uploads)},
    {0},
};

static const struct pb_field defaults_fields[] = {
    {.key = "every", .type = PB_T_DURATION, .off = offsetof(struct rg_timing, every_ms)},
    {.key = "within", .type = PB_T_DURATION, .off = offsetof(struct rg_timing, within_ms)},
    {.key = "need", .type = PB_T_INT, .off = offsetof(struct rg_timing, need), .min = 1,
     .max = 100},
    {.key = "timeout", .type = PB_T_DURATION, .off = offsetof(struct rg_timing, timeout_ms)},
    {0},
};

static const struct pb_field backup_fields[] = {
    {.key = "before_deploy", .type = PB_T_BOOL,
     .off = offsetof(struct rg_backup, before_deploy)},
    {.key = "database", .type = PB_T_STR, .off = offsetof(struct rg_backup, database),
     .flags = PB_REQUIRED, .check = check_backup_database},
    {.key = "filestore", .type = PB_T_PATH, .off = offsetof(struct rg_backup, filestore)},
    {.key = "dir", .type = PB_T_PATH, .off = offsetof(struct rg_backup, dir),
     .flags = PB_REQUIRED},
    {.key = "keep", .type = PB_T_INT, .off = offsetof(struct rg_backup, keep), .min = 1,
     .max = 1000},
    {.key = "verify_query", .type = PB_T_STR, .off = offsetof(struct rg_backup, verify_query)},
    {0},
};

/* An nginx upstream name: letters, digits and '_' (what nginx takes unquoted). */
static int
check_upstream_name(struct pb_ctx *c, const struct pb_node *n, const char *v)
{
    size_t len = strlen(v);

    if (len == 0 || len > 64 || !(isalpha((unsigned char)v[0]) || v[0] == '_'))
        goto bad;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '_')
            goto bad;
    return 0;
bad:
    pb_error(c, n, "invalid upstream name '%s' (1-64 letters, digits or '_', not starting "
                   "with a digit: nginx takes it as written)", v);
    return -1;
}

static const struct pb_field upstream_fields[] = {
    {.key = "service", .type = PB_T_STR, .off = offsetof(struct rg_upstream, service),
     .flags = PB_REQUIRED, .check = check_name},
    {.key = "port", .type = PB_T_INT, .off = offsetof(struct rg_upstream, port),
     .flags = PB_REQUIRED, .min = 1, .max = 65535},
    {0},
};

static int
decode_upstreams(struct pb_ctx *c, const struct pb_node *n, struct rg_proxy *p)
{
    int rc = 0;

    if (n->kind != PB_MAP || !n->n) {
        pb_error(c, n, "expected a mapping of upstream names to {service: S, port: P}, got %s",
                 n->kind == PB_MAP ? "an empty mapping" : pb_kind_noun(n));
        return -1;
    }
    p->upstreams = rg_calloc(n->n, sizeof(*p->upstreams));
    for (size_t i = 0; i < n->n; i++) {
        const struct pb_node *key = pb_map_key(n, i);
        struct rg_upstream *u = &p->upstreams[p->n_upstreams++];
        size_t mark = pb_path_push(c, key->str, 0);

        u->name = rg_strdup(key->str);
        u->line = key->line;
        u->column = key->col;
        if (check_upstream_name(c, key, key->str) < 0 ||
            pb_decode_map(c, pb_map_value(n, i), upstream_fields, u, NULL) < 0)
            rc = -1;
        pb_path_pop(c, mark);
    }
    return rc;
}

static const struct pb_field proxy_fields[] = {
    {.key = "upstream_file", .type = PB_T_PATH, .off = offsetof(struct rg_proxy, upstream_file),
     .flags = PB_REQUIRED},
    {.key = "test", .type = PB_T_ARGV, .off = offsetof(struct rg_proxy, test)},
    {.key = "reload", .type = PB_T_ARGV, .off = offsetof(struct rg_proxy, reload)},
    {.key = "drain", .type = PB_T_DURATION, .off = offsetof(struct rg_proxy, drain_ms)},
    {0},
};

static int
decode_proxy_field(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    struct rg_proxy *p = field;
    const struct pb_node *ups;
    int rc;

    p->enabled = true;
    p->drain_ms = 2000;
    rc = pb_decode_map(c, n, proxy_fields, p, "upstreams");
    if (n->kind != PB_MAP)
        return -1;
    if (!(ups = pb_map_get(n, "upstreams"))) {
        pb_error(c, n, "missing required key 'upstreams' (the nginx upstreams rollgate "
                       "writes: {NAME: {service: S, port: P}})");
        return -1;
    }
    size_t mark = pb_path_push(c, "upstreams", 0);
    if (decode_upstreams(c, ups, p) < 0)
        rc = -1;
    pb_path_pop(c, mark);
    return rc;
}

static int
decode_gates_field(struct pb_ctx *c, const struct pb_node *n, void *pb)
{
    return pb_decode_gates(c, n, pb);
}

static int
decode_deploy_field(struct pb_ctx *c, const struct pb_node *n, void *pb)
{
    return pb_decode_deploy(c, n, pb);
}

static int
decode_recover_field(struct pb_ctx *c, const struct pb_node *n, void *pb)
{
    return pb_decode_recover(c, n, pb);
}

static int
decode_notify_field(struct pb_ctx *c, const struct pb_node *n, void *pb)
{
    return pb_decode_notify(c, n, pb);
}

static int
decode_backup_field(struct pb_ctx *c, const struct pb_node *n, void *field)
{
    struct rg_backup *b = field;

    b->enabled = true;
    return pb_decode_map(c, n, backup_fields, b, NULL);
}

static const struct pb_field diagnose_fields[] = {
    {.key = "nginx_config", .type = PB_T_ARGV, .off = offsetof(struct rg_diagnose_cfg, nginx_config)},
    {.key = "error_log", .type = PB_T_PATH, .off = offsetof(struct rg_diagnose_cfg, error_log)},
    {.key = "access_log", .type = PB_T_PATH, .off = offsetof(struct rg_diagnose_cfg, access_log)},
    {.key = "app_log", .type = PB_T_PATH, .off = offsetof(struct rg_diagnose_cfg, app_log)},
    {.key = "database", .type = PB_T_STR, .off = offsetof(struct rg_diagnose_cfg, database),
     .check = check_dsn},
    {.key = "disks", .type = PB_T_STRLIST, .off = offsetof(struct rg_diagnose_cfg, disks)},
    {.key = "app_timeout", .type = PB_T_DURATION,
     .off = offsetof(struct rg_diagnose_cfg, app_timeout_ms)},
    {0},
};

/* Custom decoders of whole sections receive the playbook itself (off = 0). */
const struct pb_field pb_top_fields[] = {
    {.key = "version", .type = PB_T_CUSTOM, .off = offsetof(struct rg_playbook, version),
     .flags = PB_REQUIRED, .decode = decode_version},
    {.key = "name", .type = PB_T_STR, .off = offsetof(struct rg_playbook, name),
     .flags = PB_REQUIRED, .check = check_name},
    {.key = "state_dir", .type = PB_T_PATH, .off = offsetof(struct rg_playbook, state_dir)},
    {.key = "runtime", .type = PB_T_MAP, .off = offsetof(struct rg_playbook, runtime),
     .flags = PB_REQUIRED, .sub = runtime_fields},
    {.key = "strategy", .type = PB_T_CUSTOM, .off = offsetof(struct rg_playbook, strategy),
     .decode = decode_strategy},
    {.key = "proxy", .type = PB_T_CUSTOM, .off = offsetof(struct rg_playbook, proxy),
     .decode = decode_proxy_field},
    {.key = "release", .type = PB_T_MAP, .off = offsetof(struct rg_playbook, release),
     .flags = PB_REQUIRED, .sub = release_fields},
    {.key = "defaults", .type = PB_T_MAP, .off = offsetof(struct rg_playbook, defaults),
     .sub = defaults_fields},
    {.key = "gates", .type = PB_T_CUSTOM, .flags = PB_REQUIRED, .decode = decode_gates_field},
    {.key = "backup", .type = PB_T_CUSTOM, .off = offsetof(struct rg_playbook, backup),
     .decode = decode_backup_field},
    {.key = "deploy", .type = PB_T_CUSTOM, .flags = PB_REQUIRED,
     .decode = decode_deploy_field},
    {.key = "recover", .type = PB_T_CUSTOM, .decode = decode_recover_field},
    {.key = "notify", .type = PB_T_CUSTOM, .decode = decode_notify_field},
    {.key = "diagnose", .type = PB_T_MAP, .off = offsetof(struct rg_playbook, diagnose),
     .sub = diagnose_fields},
    {0},
};
