/* Unit tests of the playbook loader: every example playbook, every class of error with its exact
 * message and position, hostile input, interpolation and defaults. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rollgate/playbook.h"

#define HEAD                                                                                       \
    "version: 1\n"                                                                                 \
    "name: t\n"                                                                                    \
    "runtime: {driver: compose, project_dir: /srv/t, tag_var: TAG, services: [app]}\n"             \
    "release: {image: reg/t, tag_pattern: '^v[0-9]+$'}\n"
#define GATES                                                                                      \
    "gates:\n"                                                                                     \
    "  health: {http: \"http://127.0.0.1:1/health\"}\n"
#define DEPLOY "deploy: [pull, up, {verify: [health]}]\n"

static const char *
test_env(const char *name, void *data)
{
    (void)data;
    if (strcmp(name, "HOOK") == 0)
        return "https://hooks.example.com/T/B/secret";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    if (strcmp(name, "DIR") == 0)
        return "/opt/x";
    return NULL;
}

struct fixture {
    struct rg_diags diags;
    struct rg_playbook *pb;
    struct rg_err err;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    rg_diags_init(&f->diags);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    rg_playbook_free(f->pb);
    rg_diags_release(&f->diags);
    free(f);
    return 0;
}

static int
load(struct fixture *f, const char *yaml, size_t len)
{
    struct rg_load_opts opts = {.getenv = test_env, .base_dir = "/base"};

    rg_playbook_free(f->pb);
    f->pb = NULL;
    rg_diags_release(&f->diags);
    return rg_playbook_load_buffer(&f->pb, &f->diags, "t.yml", yaml, len, &opts, &f->err);
}

static int
load_str(struct fixture *f, const char *yaml)
{
    return load(f, yaml, strlen(yaml));
}

/* Asserts diagnostic i reads exactly want ("file:line:col: path: message"). */
static void
assert_diag(const struct fixture *f, size_t i, const char *want)
{
    char *got;

    if (i >= f->diags.n) {
        for (size_t k = 0; k < f->diags.n; k++) {
            char *s = rg_diag_format(&f->diags.v[k]);
            print_message("diag %zu: %s\n", k, s);
            free(s);
        }
        fail_msg("expected diagnostic %zu, have %zu", i, f->diags.n);
    }
    got = rg_diag_format(&f->diags.v[i]);
    if (strcmp(got, want) != 0)
        print_message("got:  %s\nwant: %s\n", got, want);
    assert_string_equal(got, want);
    free(got);
}

static void
assert_one_diag(struct fixture *f, const char *yaml, const char *want)
{
    assert_int_equal(load_str(f, yaml), RG_EINVAL);
    assert_diag(f, 0, want);
    if (f->diags.n != 1) {
        for (size_t k = 1; k < f->diags.n; k++) {
            char *s = rg_diag_format(&f->diags.v[k]);
            print_message("extra diag: %s\n", s);
            free(s);
        }
    }
    assert_int_equal(f->diags.n, 1);
    assert_null(f->pb);
}

/* ---- valid playbooks ---- */

static void
test_minimal_defaults(void **state)
{
    struct fixture *f = *state;
    const struct rg_gate *g;

    assert_int_equal(load_str(f, HEAD GATES DEPLOY), 0);
    assert_non_null(f->pb);
    assert_string_equal(f->pb->name, "t");
    assert_string_equal(f->pb->state_dir, "/var/lib/rollgate");
    assert_string_equal(f->pb->runtime.env_file, "/srv/t/.env");
    g = rg_playbook_gate(f->pb, "health");
    assert_non_null(g);
    assert_int_equal(g->kind, RG_GATE_HTTP);
    assert_int_equal(g->timing.every_ms, 2000);
    assert_int_equal(g->timing.within_ms, 120000);
    assert_int_equal(g->timing.need, 1);
    assert_int_equal(g->timing.timeout_ms, 5000);
    assert_int_equal(g->n_expect, 1);
    assert_int_equal(g->expect[0], 200);
    assert_true(g->tls_verify);
    /* pull, switch (implicit), up, verify */
    assert_int_equal(f->pb->n_deploy, 4);
    assert_int_equal(f->pb->deploy[1].kind, RG_STEP_SWITCH);
    assert_true(f->pb->deploy[1].implicit);
    assert_int_equal(f->pb->deploy[2].kind, RG_STEP_UP);
}

static void
test_defaults_section_and_override(void **state)
{
    struct fixture *f = *state;
    const struct rg_gate *g;

    assert_int_equal(load_str(f, HEAD "defaults: {every: 500ms, within: 1m30s, need: 2}\n"
                                      "gates:\n"
                                      "  health: {http: \"http://h/\", timeout: 1s}\n"
                                      "  slow: {tcp: \"127.0.0.1:5432\", need: 3}\n" DEPLOY),
                     0);
    g = rg_playbook_gate(f->pb, "health");
    assert_int_equal(g->timing.every_ms, 500);
    assert_int_equal(g->timing.within_ms, 90000);
    assert_int_equal(g->timing.need, 2);
    assert_int_equal(g->timing.timeout_ms, 1000);
    assert_int_equal(rg_playbook_gate(f->pb, "slow")->timing.need, 3);
}

static void
test_interpolation(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_str(f, HEAD GATES DEPLOY "state_dir: ${DIR}/state\n"
                                                   "notify:\n"
                                                   "  - {webhook: '${HOOK}', on: [rolled_back]}\n"
                                                   "  - {webhook: '${NOPE:-}', on: [aborted]}\n"
                                                   "  - {webhook: 'http://h/$$x${EMPTY}', "
                                                   "on: [deployed]}\n"),
                     0);
    assert_string_equal(f->pb->state_dir, "/opt/x/state");
    assert_string_equal(f->pb->notify[0].webhook, "https://hooks.example.com/T/B/secret");
    assert_int_equal(f->pb->notify[0].on, 1u << RG_OUTCOME_ROLLED_BACK);
    assert_string_equal(f->pb->notify[1].webhook, "");
    assert_string_equal(f->pb->notify[2].webhook, "http://h/$x");
}

static void
test_relative_paths(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_str(f, "version: 1\nname: t\n"
                                 "runtime: {driver: compose, project_dir: stack, env_file: "
                                 "conf/app.env, compose_file: c.yml, tag_var: TAG, services: "
                                 "[app]}\n"
                                 "release: {image: reg/t, tag_pattern: '^v[0-9]+$'}\n"
                                 "state_dir: state\n" GATES DEPLOY),
                     0);
    assert_string_equal(f->pb->runtime.project_dir, "/base/stack");
    assert_string_equal(f->pb->runtime.env_file, "/base/stack/conf/app.env");
    assert_string_equal(f->pb->runtime.compose_file, "/base/stack/c.yml");
    assert_string_equal(f->pb->state_dir, "/base/state");
}

static void
test_every_gate_kind(void **state)
{
    struct fixture *f = *state;
    const struct rg_gate *g;

    assert_int_equal(load_str(f, HEAD
                              "gates:\n"
                              "  h: {http: 'https://a:pw@x/', expect: [200, 303], body: 'ok$', "
                              "max_latency: 2s, headers: {Host: x}, tls_verify: false}\n"
                              "  w: {websocket: 'ws://x:8072/websocket'}\n"
                              "  t: {tcp: '[::1]:80'}\n"
                              "  p: {postgres: 'dbname=x', query: 'select true', "
                              "max_connections_used: 80%}\n"
                              "  c: {command: [pg_isready, -q]}\n"
                              "  k: {container: app, state: healthy, max_restarts: 2}\n"
                              "  l: {logs: app, pattern: 'Traceback|OOM'}\n"
                              "deploy: [pull, up, {verify: [h, w, t, p, c, k, l]}]\n"),
                     0);
    g = rg_playbook_gate(f->pb, "h");
    assert_int_equal(g->n_expect, 2);
    assert_int_equal(g->expect[1], 303);
    assert_string_equal(g->body, "ok$");
    assert_int_equal(g->max_latency_ms, 2000);
    assert_int_equal(g->n_headers, 1);
    assert_string_equal(g->headers[0].key, "Host");
    assert_false(g->tls_verify);
    assert_int_equal(g->n_fail_on, 0);
    g = rg_playbook_gate(f->pb, "w");
    assert_int_equal(g->kind, RG_GATE_WEBSOCKET);
    assert_int_equal(g->expect[0], 101);
    assert_int_equal(rg_playbook_gate(f->pb, "t")->kind, RG_GATE_TCP);
    g = rg_playbook_gate(f->pb, "p");
    assert_int_equal(g->max_connections_used, 8000);
    assert_string_equal(g->query, "select true");
    g = rg_playbook_gate(f->pb, "c");
    assert_int_equal(g->argv.n, 2);
    assert_string_equal(g->argv.v[0], "pg_isready");
    g = rg_playbook_gate(f->pb, "k");
    assert_int_equal(g->state, RG_CONTAINER_HEALTHY);
    assert_int_equal(g->max_restarts, 2);
    assert_string_equal(rg_playbook_gate(f->pb, "l")->pattern, "Traceback|OOM");
}

static void
test_recover_and_backup(void **state)
{
    struct fixture *f = *state;
    const struct rg_rung *r;

    assert_int_equal(
        load_str(f, HEAD GATES
                 "deploy: [pull, up, {verify: [health]}, {settle: {for: 60s, gates: [health]}}]\n"
                 "backup: {before_deploy: true, database: 'dbname=x password=p', dir: b}\n"
                 "recover:\n"
                 "  - repair: {exec: {service: app, run: [app, --fix]}, restart: [app]}\n"
                 "  - rollback: previous\n"
                 "  - restore: before_deploy\n"),
        0);
    assert_int_equal(f->pb->n_recover, 3);
    r = &f->pb->recover[0];
    assert_int_equal(r->kind, RG_RUNG_REPAIR);
    assert_int_equal(r->n_steps, 2);
    assert_int_equal(r->steps[0].kind, RG_STEP_EXEC);
    assert_string_equal(r->steps[0].services.v[0], "app");
    assert_int_equal(r->steps[0].timeout_ms, 600000);
    assert_int_equal(r->steps[1].kind, RG_STEP_RESTART);
    assert_string_equal(f->pb->recover[1].to, "previous");
    assert_string_equal(f->pb->recover[2].to, "before_deploy");
    assert_string_equal(f->pb->backup.dir, "/base/b");
    assert_int_equal(f->pb->backup.keep, 7);
    /* settle watches the runtime's services when it names none */
    assert_string_equal(f->pb->deploy[4].watch.v[0], "app");
}

static void
test_example_playbooks(void **state)
{
    static const char *const files[] = {"odoo.yml", "fastapi-nextjs.yml", "gunicorn-systemd.yml",
                                        "demo.yml"};
    struct fixture *f = *state;
    const char *src = getenv("RG_SOURCE_DIR");

    assert_non_null(src);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[4096];
        struct rg_playbook *pb = NULL;
        snprintf(path, sizeof(path), "%s/playbooks/%s", src, files[i]);
        rg_diags_release(&f->diags);
        if (rg_playbook_load(&pb, &f->diags, path, NULL, &f->err) != 0) {
            for (size_t k = 0; k < f->diags.n; k++)
                print_message("%s: %s\n", files[i], f->diags.v[k].msg);
            fail_msg("%s: %s", files[i], f->err.msg);
        }
        assert_true(pb->n_gates > 0);
        assert_true(pb->n_recover > 0);
        rg_playbook_free(pb);
    }
}

static void
test_odoo_playbook_content(void **state)
{
    struct fixture *f = *state;
    char path[4096];
    const struct rg_gate *g;

    snprintf(path, sizeof(path), "%s/playbooks/odoo.yml", getenv("RG_SOURCE_DIR"));
    assert_int_equal(rg_playbook_load(&f->pb, &f->diags, path, NULL, &f->err), 0);
    g = rg_playbook_gate(f->pb, "login");
    assert_int_equal(g->n_expect, 2);
    assert_int_equal(g->expect[0], 200);
    assert_int_equal(g->expect[1], 303);
    assert_int_equal(rg_playbook_gate(f->pb, "db")->max_connections_used, 8000);
    assert_int_equal(rg_playbook_gate(f->pb, "live")->kind, RG_GATE_WEBSOCKET);
    assert_string_equal(f->pb->runtime.tag_var, "APP_IMAGE_VERSION");
    /* Both of Odoo's upstreams switch together; the ladder starts by switching back. */
    assert_int_equal(f->pb->strategy, RG_STRATEGY_SWITCH);
    assert_int_equal(f->pb->proxy.n_upstreams, 2);
    assert_int_equal(rg_playbook_upstream(f->pb, "odoo_lp")->port, 8072);
    assert_int_equal(f->pb->recover[0].kind, RG_RUNG_ROLLBACK);
    assert_int_equal(f->pb->recover[1].kind, RG_RUNG_RESTORE);
    assert_int_equal(f->pb->deploy[f->pb->n_deploy - 1].for_ms, 60000);
}

/* ---- one test per class of error, with the exact message and position ---- */

static void
test_err_unknown_key_suggestion(void **state)
{
    assert_one_diag(*state, HEAD "gates:\n  health: {http: \"http://h/\", expct: [200]}\n" DEPLOY,
                    "t.yml:6:31: gates.health: unknown key 'expct' (did you mean 'expect'?)");
}

static void
test_err_unknown_key_allowed_list(void **state)
{
    assert_one_diag(*state, HEAD GATES DEPLOY "colour: blue\n",
                    "t.yml:8:1: unknown key 'colour' (allowed: version, name, state_dir, runtime, "
                    "strategy, proxy, release, defaults, gates, backup, deploy, recover, notify, diagnose)");
}

static void
test_err_wrong_type(void **state)
{
    assert_one_diag(*state, HEAD "gates:\n  health: {http: \"http://h/\", expect: [ok]}\n" DEPLOY,
                    "t.yml:6:40: gates.health.expect[0]: invalid HTTP status code 'ok' "
                    "(expected 100 to 599)");
    assert_one_diag(*state, HEAD "gates:\n  health: {http: [a]}\n" DEPLOY,
                    "t.yml:6:18: gates.health.http: expected a string, got a list");
    assert_one_diag(*state, HEAD GATES DEPLOY "defaults: {need: many}\n",
                    "t.yml:8:18: defaults.need: 'many' is not a whole number");
    assert_one_diag(*state, HEAD "gates:\n  health: {http: 'http://h/', tls_verify: yes}\n" DEPLOY,
                    "t.yml:6:43: gates.health.tls_verify: expected true or false, got 'yes'");
}

static void
test_err_undefined_gate(void **state)
{
    assert_one_diag(*state, HEAD GATES "deploy: [pull, up, {verify: [helth]}]\n",
                    "t.yml:7:20: deploy[2]: unknown gate 'helth' (did you mean 'health'?)");
    assert_one_diag(*state,
                    HEAD GATES DEPLOY "recover: [{repair: [{restart: [app]}]}]\n"
                                      "backup: {database: x, dir: /b}\n"
                                      "notify: [{webhook: '', on: [rolled_bak]}]\n",
                    "t.yml:10:29: notify[0].on: unknown outcome 'rolled_bak' "
                    "(did you mean 'rolled_back'?)");
}

static void
test_err_shell_string(void **state)
{
    assert_one_diag(*state, HEAD "gates:\n  health: {command: \"pg_isready -h db\"}\n" DEPLOY,
                    "t.yml:6:21: gates.health.command: expected an argv array, got the string "
                    "'pg_isready -h db': commands never run through a shell, write it as "
                    "[pg_isready, -h, db]");
    assert_one_diag(*state,
                    HEAD GATES DEPLOY "recover:\n  - repair: {exec: {service: app, run: 'a b'}}\n",
                    "t.yml:9:40: recover[0].repair.exec.run: expected an argv array, got the "
                    "string 'a b': commands never run through a shell, write it as [a, b]");
}

/* Every suggested argv, pasted back into the playbook, means what the string meant to a shell:
 * the suggestion is read back through the loader and compared word by word. */
static void
test_err_shell_string_round_trip(void **state)
{
    static const struct {
        const char *yaml; /* the string as written in the playbook (a YAML scalar) */
        const char *words[10];
    } cases[] = {
        {"\"odoo -d odoo -u base,web --stop-after-init\"",
         {"odoo", "-d", "odoo", "-u", "base,web", "--stop-after-init"}},
        {"\"psql -c 'select 1' -d \\\"my db\\\"\"", {"psql", "-c", "select 1", "-d", "my db"}},
        {"'echo a:b c: x#y -v {y} - a,b'", {"echo", "a:b", "c:", "x#y", "-v", "{y}", "-", "a,b"}},
        {"'check null true NULL off'", {"check", "null", "true", "NULL", "off"}},
        {"'run --opt=a\\ b ''%d'' @at !bang'", {"run", "--opt=a b", "%d", "@at", "!bang"}},
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *yaml = rg_asprintf(HEAD "gates:\n  c: {command: %s}\n" DEPLOY, cases[i].yaml);
        /* DEPLOY names the gate health: define it in the read-back playbook. */
        const char *msg, *open;
        char *argv;
        size_t n = 0;

        assert_int_equal(load_str(f, yaml), RG_EINVAL);
        free(yaml);
        msg = f->diags.v[0].msg;
        open = strstr(msg, "write it as [");
        if (!open)
            fail_msg("case %zu: no suggestion in: %s", i, msg);
        argv = rg_strdup(open + strlen("write it as "));
        yaml = rg_asprintf(HEAD "gates:\n  health: {http: \"http://h/\"}\n  c: {command: %s}\n" DEPLOY,
                           argv);
        if (load_str(f, yaml) != 0)
            fail_msg("case %zu: the suggestion %s does not load: %s", i, argv,
                     f->diags.n ? f->diags.v[0].msg : f->err.msg);
        const struct rg_gate *g = rg_playbook_gate(f->pb, "c");
        while (n < 10 && cases[i].words[n])
            n++;
        if (g->argv.n != n)
            fail_msg("case %zu: %s reads back as %zu words, want %zu", i, argv, g->argv.n, n);
        for (size_t k = 0; k < n; k++)
            assert_string_equal(g->argv.v[k], cases[i].words[k]);
        free(argv);
        free(yaml);
    }
}

/* Perl's \d is the letter d to POSIX: refused with the POSIX form, which loads and matches
 * what the writer meant; glibc's \w \s \b outside brackets work and are accepted. */
static void
test_err_perl_regex(void **state)
{
    struct fixture *f = *state;
    regex_t rx;

    assert_one_diag(f,
                    "version: 1\nname: t\n"
                    "runtime: {driver: compose, project_dir: /srv/t, tag_var: TAG, services: [app]}\n"
                    "release: {image: reg/t, tag_pattern: '^v(\\d+\\.){2}\\d+$'}\n" GATES DEPLOY,
                    "t.yml:4:38: release.tag_pattern: '\\d' is Perl regex syntax; rollgate's "
                    "regular expressions are POSIX extended, where it means the letter 'd': "
                    "write '^v([0-9]+\\.){2}[0-9]+$'");
    assert_one_diag(f,
                    HEAD "gates:\n  health: {http: \"http://h/\", body: '[\\d\\s]+ok'}\n" DEPLOY,
                    "t.yml:6:37: gates.health.body: '\\d' is Perl regex syntax; rollgate's regular "
                    "expressions are POSIX extended, where inside brackets it means a backslash "
                    "or the letter 'd': write '[0-9[:space:]]+ok'");
    assert_one_diag(f, HEAD "gates:\n  health: {http: \"http://h/\", body: '[^\\D]'}\n" DEPLOY,
                    "t.yml:6:37: gates.health.body: '\\D' is Perl regex syntax; rollgate's regular "
                    "expressions are POSIX extended, where inside brackets it means a backslash "
                    "or the letter 'D': inside brackets use [:digit:], [:alnum:] or [:space:], and "
                    "for a negation a [^...] of its own");
    /* The suggested pattern, pasted back, matches a real tag and not a wrong one. */
    assert_int_equal(load_str(f, "version: 1\nname: t\n"
                                 "runtime: {driver: compose, project_dir: /srv/t, tag_var: TAG, "
                                 "services: [app]}\n"
                                 "release: {image: reg/t, tag_pattern: '^v([0-9]+\\.){2}[0-9]+$'}\n"
                                 GATES DEPLOY),
                     0);
    assert_int_equal(rg_playbook_check_tag(f->pb, "v1.22.3", &f->err), 0);
    assert_int_equal(rg_playbook_check_tag(f->pb, "vd.d.d", &f->err), RG_EINVAL);
    /* "[\\\\d]" is a backslash or a 'd' in Perl and POSIX alike: accepted. */
    assert_int_equal(load_str(f, HEAD "gates:\n  health: {http: \"http://h/\", "
                                      "body: '[\\\\d]'}\n" DEPLOY),
                     0);
    /* glibc's own \s and \b outside brackets mean what they mean in Perl: accepted. */
    assert_int_equal(load_str(f, HEAD "gates:\n  health: {http: \"http://h/\", "
                                      "body: '\\bok\\s'}\n" DEPLOY),
                     0);
    assert_int_equal(regcomp(&rx, "\\bok\\s", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&rx, "all ok now", 0, NULL, 0), 0);
    assert_int_not_equal(regexec(&rx, "bookkeeping", 0, NULL, 0), 0);
    regfree(&rx);
}

/* libyaml's words explained, and the usual slips of a first playbook said once, with the fix. */
static void
test_err_first_hour_messages(void **state)
{
    struct fixture *f = *state;

    assert_one_diag(f, "version: 1\nname: t\nruntime:\n\tdriver: compose\n",
                    "t.yml:4:1: invalid YAML: found character that cannot start any token while "
                    "scanning for the next token: a tab; YAML indents with spaces only");
    assert_one_diag(f, "version: 1\nname: t\nrelease: {image: r/x, tag_pattern: \"^v\\d+$\"}\n",
                    "t.yml:3:39: invalid YAML: found unknown escape character while parsing a "
                    "quoted scalar: inside double quotes a backslash starts an escape; write a "
                    "value with backslashes (a regular expression, a path) in single quotes, "
                    "where a backslash is just a backslash");
    assert_one_diag(f,
                    HEAD "gates:\n  running: {container: app}\n  health: {http: \"http://h/\"}\n"
                         "deploy:\n  - pull\n  - up\n  - verify: running, health\n",
                    "t.yml:11:5: deploy[2]: unknown gate 'running, health': a list of gates is "
                    "written [running, health]");
    assert_one_diag(f, HEAD GATES DEPLOY "recover:\n  - rollback: prev\n",
                    "t.yml:9:5: recover[0]: rollback target 'prev' is neither 'previous' nor a "
                    "release tag (did you mean 'previous'?)");
    /* A misspelled required key: one problem, not a second "missing" one. */
    assert_one_diag(f,
                    "version: 1\nname: t\n"
                    "runtime: {driver: compose, project_dir: /srv/t, tag_vr: TAG, services: [app]}\n"
                    "release: {image: reg/t, tag_pattern: '^v[0-9]+$'}\n" GATES DEPLOY,
                    "t.yml:3:49: runtime: unknown key 'tag_vr' (did you mean 'tag_var'?)");
}

/* A command that needs a shell is not split into words that would mean something else. */
static void
test_err_shell_string_needs_a_shell(void **state)
{
    /* A glob, a comment, a second line: only a shell gives them their meaning. */
    assert_one_diag(*state,
                    HEAD "gates:\n  health: {http: \"http://h/\"}\n"
                         "  c: {command: \"ls *.log\"}\n" DEPLOY,
                    "t.yml:7:16: gates.c.command: expected an argv array, got the string "
                    "'ls *.log': commands never run through a shell, and this one needs one "
                    "('*'): put it in a script and run that, or write [sh, -c, 'ls *.log'] if a "
                    "shell is what you mean");
    assert_one_diag(*state,
                    HEAD "gates:\n  health: {http: \"http://h/\"}\n"
                         "  c: {command: \"pg_dump x | gzip > /b.gz\"}\n" DEPLOY,
                    "t.yml:7:16: gates.c.command: expected an argv array, got the string "
                    "'pg_dump x | gzip > /b.gz': commands never run through a shell, and this "
                    "one needs one ('|'): put it in a script and run that, or write [sh, -c, "
                    "'pg_dump x | gzip > /b.gz'] if a shell is what you mean");
}

static void
test_err_four_at_once(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_str(f, HEAD "gates:\n"
                                      "  health: {http: \"http://h/\", expct: [200]}\n"
                                      "  c: {command: \"true\", need: lots}\n"
                                      "deploy: [pull, up, {verify: [helth, c]}]\n"),
                     RG_EINVAL);
    assert_diag(f, 0, "t.yml:6:31: gates.health: unknown key 'expct' (did you mean 'expect'?)");
    assert_diag(f, 1,
                "t.yml:7:16: gates.c.command: expected an argv array, got the string "
                "'true': commands never run through a shell, write it as [true]");
    assert_diag(f, 2, "t.yml:7:30: gates.c.need: 'lots' is not a whole number");
    assert_diag(f, 3, "t.yml:8:20: deploy[2]: unknown gate 'helth' (did you mean 'health'?)");
    assert_int_equal(f->diags.n, 4);
    assert_string_equal(f->err.msg, "playbook 't.yml' has 4 problems");
}

static void
test_err_duplicate_key(void **state)
{
    assert_one_diag(*state, HEAD GATES DEPLOY "name: again\n",
                    "t.yml:8:1: duplicate key 'name' (first defined at line 2)");
}

static void
test_err_durations(void **state)
{
    assert_one_diag(*state, HEAD GATES DEPLOY "defaults: {every: 5}\n",
                    "t.yml:8:19: defaults.every: duration '5' has no unit (write 5ms, 5s, 5m or "
                    "5h)");
    assert_one_diag(*state, HEAD GATES DEPLOY "defaults: {within: 2 minutes}\n",
                    "t.yml:8:20: defaults.within: invalid duration '2 minutes' (units are ms, s, "
                    "m and h, as in 1m30s)");
    assert_one_diag(*state, HEAD GATES DEPLOY "defaults: {every: 0s}\n",
                    "t.yml:8:11: defaults: every, within and timeout must be longer than 0");
}

static void
test_err_bad_regex(void **state)
{
    assert_one_diag(*state,
                    "version: 1\nname: t\n"
                    "runtime: {driver: compose, project_dir: /s, tag_var: TAG, services: [a]}\n"
                    "release: {image: reg/t, tag_pattern: '^v([0-9]+$'}\n" GATES DEPLOY,
                    "t.yml:4:38: release.tag_pattern: invalid regular expression '^v([0-9]+$': "
                    "Unmatched ( or \\(");
}

static void
test_err_missing_required(void **state)
{
    assert_one_diag(*state,
                    "version: 1\nname: t\n"
                    "runtime: {driver: compose, project_dir: /s, services: [a]}\n"
                    "release: {image: reg/t, tag_pattern: '^v$'}\n" GATES DEPLOY,
                    "t.yml:3:10: runtime: missing required key 'tag_var'");
    struct fixture *f = *state;
    assert_int_equal(load_str(f, "version: 1\n"), RG_EINVAL);
    assert_diag(f, 0, "t.yml:1:1: missing required key 'name'");
    assert_diag(f, 1, "t.yml:1:1: missing required key 'runtime'");
    assert_diag(f, 2, "t.yml:1:1: missing required key 'release'");
    assert_diag(f, 3, "t.yml:1:1: missing required key 'gates'");
    assert_diag(f, 4, "t.yml:1:1: missing required key 'deploy'");
    assert_int_equal(f->diags.n, 5);
}

static void
test_err_env_unset(void **state)
{
    assert_one_diag(*state,
                    HEAD GATES DEPLOY "notify: [{webhook: '${SLACK_URL}', on: [aborted]}]\n",
                    "t.yml:8:20: notify[0].webhook: environment variable 'SLACK_URL' is not set "
                    "(set it, or write ${SLACK_URL:-default})");
    assert_one_diag(*state, HEAD GATES DEPLOY "state_dir: '${1X}'\n",
                    "t.yml:8:12: state_dir: invalid variable reference '${1X}' (write ${NAME} or "
                    "${NAME:-default}, NAME of letters, digits and _)");
    assert_one_diag(*state, HEAD GATES DEPLOY "state_dir: '${DIR'\n",
                    "t.yml:8:12: state_dir: unterminated '${' (write ${NAME} or $$ for a $)");
}

static void
test_err_version(void **state)
{
    assert_one_diag(*state,
                    "version: 2\nname: t\n"
                    "runtime: {driver: compose, project_dir: /s, tag_var: T, services: [a]}\n"
                    "release: {image: reg/t, tag_pattern: '^v$'}\n" GATES DEPLOY,
                    "t.yml:1:10: version: unsupported playbook version '2' (this rollgate reads "
                    "version 1)");
}

static void
test_err_gate_kinds(void **state)
{
    assert_one_diag(*state, HEAD "gates:\n  health: {htp: 'http://h/'}\n" DEPLOY,
                    "t.yml:6:11: gates.health: gate has no kind (did you mean 'http'?); give one "
                    "of http, websocket, tcp, postgres, command, container, logs, unit");
    assert_one_diag(*state, HEAD "gates:\n  health: {http: 'http://h/', tcp: 'h:1'}\n" DEPLOY,
                    "t.yml:6:31: gates.health: a gate has one kind, found both 'http' and 'tcp'");
    assert_one_diag(*state, HEAD "gates:\n  health: {http: 'ftp://h/'}\n" DEPLOY,
                    "t.yml:6:18: gates.health.http: invalid URL 'ftp://h/' (expected a URL "
                    "starting with http:// or https://)");
    assert_one_diag(
        *state, HEAD "gates:\n  health: {tcp: 'localhost'}\n" DEPLOY,
        "t.yml:6:17: gates.health.tcp: invalid address 'localhost' (expected host:port, "
        "port 1-65535, as in 127.0.0.1:5432 or [::1]:80)");
}

static void
test_err_deploy_order(void **state)
{
    assert_one_diag(*state, HEAD GATES "deploy: [up, pull, {verify: [health]}]\n",
                    "t.yml:7:14: deploy: 'pull' must come before 'switch' and 'up': nothing may "
                    "change before the release is pulled");
    assert_one_diag(*state, HEAD GATES "deploy: [pull, up]\n",
                    "t.yml:7:9: deploy: deploy has no 'verify' step: a release no gate checks "
                    "cannot fail, so it could never be rolled back");
    assert_one_diag(*state, HEAD GATES "deploy: [up, {verify: [health]}]\n",
                    "t.yml:7:9: deploy: deploy has no 'pull' step: the compose driver pulls the "
                    "release before changing anything");
    assert_one_diag(*state, HEAD GATES "deploy: [pull, up, verify]\n",
                    "t.yml:7:20: deploy[2]: step 'verify' needs parameters, as in '- verify: "
                    "[health]'");
    assert_one_diag(*state, HEAD GATES "deploy: [pull, upp, {verify: [health]}]\n",
                    "t.yml:7:16: deploy[1]: unknown deploy step 'upp' (did you mean 'up'?)");
}

static void
test_err_recover(void **state)
{
    assert_one_diag(*state, HEAD GATES DEPLOY "recover: [{restore: before_deploy}]\n",
                    "t.yml:8:11: recover[0]: restore needs a 'backup' section (database and dir) "
                    "to restore from");
    assert_one_diag(*state, HEAD GATES DEPLOY "recover: [{rollback: 'x y'}]\n",
                    "t.yml:8:11: recover[0]: rollback target: invalid tag 'x y': a tag is "
                    "letters, digits, '_', '.' and '-', not starting with '.' or '-'");
    assert_one_diag(*state, HEAD GATES DEPLOY "recover: [{rolback: previous}]\n",
                    "t.yml:8:12: recover[0]: unknown recover rung 'rolback' (did you mean "
                    "'rollback'?)");
    assert_one_diag(*state,
                    HEAD GATES DEPLOY "backup: {database: x, dir: /b}\n"
                                      "recover: [{restore: before_deploy}]\n",
                    "t.yml:9:11: recover[0]: restore: before_deploy needs 'backup.before_deploy: "
                    "true' so that a backup is taken before each deploy");
}

static void
test_fail_on(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        load_str(f, HEAD "gates:\n  health: {http: 'http://h/', fail_on: [500, 502]}\n" DEPLOY), 0);
    assert_int_equal(rg_playbook_gate(f->pb, "health")->n_fail_on, 2);
    assert_int_equal(rg_playbook_gate(f->pb, "health")->fail_on[1], 502);
    assert_one_diag(f, HEAD "gates:\n  health: {http: 'http://h/', fail_on: [200]}\n" DEPLOY,
                    "t.yml:6:40: gates.health: status 200 is both expected and in fail_on");
    assert_one_diag(f, HEAD "gates:\n  health: {http: 'http://h/', fail_on: [600]}\n" DEPLOY,
                    "t.yml:6:41: gates.health.fail_on[0]: invalid HTTP status code '600' "
                    "(expected 100 to 599)");
}

static void
test_err_image_with_tag(void **state)
{
    assert_one_diag(*state,
                    "version: 1\nname: t\n"
                    "runtime: {driver: compose, project_dir: /s, tag_var: TAG, services: [a]}\n"
                    "release: {image: 'reg:5000/t:v1', tag_pattern: '^v$'}\n" GATES DEPLOY,
                    "t.yml:4:18: release.image: image 'reg:5000/t:v1' includes a tag; give the "
                    "repository only (each deploy names its tag)");
}

static void
test_err_empty_and_zero(void **state)
{
    assert_one_diag(*state, HEAD GATES DEPLOY "recover: [{repair: []}]\n",
                    "t.yml:8:20: recover[0].repair: repair needs at least one step: exec or "
                    "restart");
    assert_one_diag(*state, HEAD GATES DEPLOY "notify: [{webhook: '', on: []}]\n",
                    "t.yml:8:28: notify[0].on: a notification needs at least one outcome "
                    "(deployed, repaired, rolled_back, restored, unrecovered, aborted, backed_up)");
    assert_one_diag(*state,
                    HEAD GATES "deploy: [pull, up, {verify: [health]}, {settle: {for: 0s}}]\n",
                    "t.yml:7:49: deploy[3].settle: settle needs a window longer than 0 (for: 60s)");
    assert_one_diag(*state, HEAD "gates:\n  health: {tcp: '::1:80'}\n" DEPLOY,
                    "t.yml:6:17: gates.health.tcp: invalid address '::1:80' (expected host:port, "
                    "port 1-65535, as in 127.0.0.1:5432 or [::1]:80)");
    assert_one_diag(*state, HEAD GATES DEPLOY "state_dir: ~/state\n",
                    "t.yml:8:12: state_dir: '~/state': '~' is not expanded; write the absolute "
                    "path");
}

static void
test_err_service_outside_runtime(void **state)
{
    assert_one_diag(*state, HEAD GATES "deploy: [pull, {up: [app, worker]}, {verify: [health]}]\n",
                    "t.yml:7:16: deploy[1]: service 'worker' is not in runtime.services; 'up' "
                    "works on the services the release switches");
}

static void
test_paths_normalised(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_str(f,
                              "version: 1\nname: t\n"
                              "runtime: {driver: compose, project_dir: ./a/../stack/., env_file: "
                              "../x//.env, tag_var: TAG, services: [app]}\n"
                              "release: {image: reg/t, tag_pattern: '^v[0-9]+$'}\n"
                              "state_dir: /var/../../srv/state/\n" GATES DEPLOY),
                     0);
    assert_string_equal(f->pb->runtime.project_dir, "/base/stack");
    assert_string_equal(f->pb->runtime.env_file, "/base/x/.env");
    assert_string_equal(f->pb->state_dir, "/srv/state");
}

static void
test_diags_in_file_order(void **state)
{
    struct fixture *f = *state;

    /* The unknown gate (found by the cross-check) comes before the later decode problem. */
    assert_int_equal(load_str(f, HEAD GATES "deploy: [pull, up, {verify: [nope]}]\n"
                                            "defaults: {every: 5}\n"),
                     RG_EINVAL);
    assert_diag(f, 0, "t.yml:7:20: deploy[2]: unknown gate 'nope' (define it under 'gates')");
    assert_diag(f, 1,
                "t.yml:8:19: defaults.every: duration '5' has no unit (write 5ms, 5s, 5m "
                "or 5h)");
}

static void
test_error_cap(void **state)
{
    struct fixture *f = *state;
    struct rg_buf b;

    rg_buf_init(&b, 1 << 20);
    rg_buf_adds(&b, HEAD GATES DEPLOY);
    for (int i = 0; i < 30; i++)
        rg_buf_addf(&b, "bad%d: 1\n", i);
    assert_int_equal(load(f, b.data, b.len), RG_EINVAL);
    assert_int_equal(f->diags.n, RG_PLAYBOOK_MAX_ERRORS);
    assert_int_equal(f->diags.dropped, 10);
    assert_string_equal(f->err.msg, "playbook 't.yml' has 30 problems");
    rg_buf_release(&b);
}

/* ---- hostile input: bounded time, a clear error, never a crash ---- */

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_hostile_billion_laughs(void **state)
{
    double t0 = now();

    assert_one_diag(*state,
                    "a: &a [x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
                    "t.yml:2:8: alias '*a' is not allowed in a playbook (write the value out)");
    assert_true(now() - t0 < 1.0);
}

static void
test_hostile_self_alias(void **state)
{
    assert_one_diag(*state, "&a [*a]\n",
                    "t.yml:1:5: alias '*a' is not allowed in a playbook (write the value out)");
}

static void
test_hostile_deep_nesting(void **state)
{
    struct fixture *f = *state;
    char *doc = malloc(10001);
    double t0 = now();

    memset(doc, '[', 5000);
    memset(doc + 5000, ']', 5000);
    doc[10000] = '\0';
    assert_int_equal(load_str(f, doc), RG_EINVAL);
    assert_diag(f, 0, "t.yml:1:33: nesting deeper than 32 levels");
    assert_true(now() - t0 < 1.0);
    free(doc);
}

static void
test_hostile_empty(void **state)
{
    assert_one_diag(*state, "",
                    "t.yml: file is empty: a playbook needs at least 'version' and 'name'");
    assert_one_diag(*state, "# only a comment\n",
                    "t.yml: file is empty: a playbook needs at least 'version' and 'name'");
}

static void
test_hostile_random_bytes(void **state)
{
    struct fixture *f = *state;
    unsigned char buf[4096];
    unsigned seed = 12345;

    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)(round * 20) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (unsigned char)(seed >> 16);
        }
        /* Whatever the bytes, the loader answers with a verdict and never crashes. */
        int rc = load(f, (const char *)buf, len);
        assert_true(rc == 0 || rc == RG_EINVAL);
        if (rc)
            assert_true(f->diags.n > 0);
    }
    assert_one_diag(f, "\x01\x02\x03",
                    "t.yml: not a text file: control characters are not allowed at byte 0");
}

static void
test_hostile_too_large(void **state)
{
    struct fixture *f = *state;
    size_t len = RG_PLAYBOOK_MAX_BYTES + 1;
    char *doc = malloc(len);

    memset(doc, '#', len);
    assert_int_equal(load(f, doc, len), RG_EINVAL);
    assert_diag(f, 0, "t.yml: file is larger than the 1048576-byte limit for a playbook");
    free(doc);
}

static void
test_hostile_not_a_mapping(void **state)
{
    assert_one_diag(*state, "- a\n- b\n",
                    "t.yml:1:1: expected a mapping of keys to values, got a list");
    assert_one_diag(*state, "---\na: 1\n---\nb: 2\n",
                    "t.yml:3:1: a playbook file holds one YAML document, found a second");
    assert_one_diag(*state, "a: [1, 2\n",
                    "t.yml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a "
                    "flow sequence");
    assert_one_diag(*state, "? [a]\n: b\n",
                    "t.yml:1:3: a mapping key must be a plain string, not a list");
}

static void
test_load_missing_file(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(rg_playbook_load(&f->pb, &f->diags, "/nonexistent/x.yml", NULL, &f->err),
                     RG_ENOENT);
    assert_string_equal(f->err.msg,
                        "cannot open playbook '/nonexistent/x.yml': No such file or directory");
    assert_int_equal(rg_playbook_load(&f->pb, &f->diags, "/", NULL, &f->err), RG_EINVAL);
    assert_string_equal(f->err.msg, "playbook '/' is not a regular file");
}

/* ---- tags from outside ---- */

static void
test_check_tag(void **state)
{
    struct fixture *f = *state;
    struct rg_err err;

    assert_int_equal(load_str(f, HEAD GATES DEPLOY), 0);
    assert_int_equal(rg_playbook_check_tag(f->pb, "v12", &err), 0);
    assert_int_equal(rg_playbook_check_tag(f->pb, "v1.2", &err), RG_EINVAL);
    assert_string_equal(err.msg,
                        "tag 'v1.2' does not match the playbook's tag_pattern '^v[0-9]+$'");
    assert_int_equal(rg_playbook_check_tag(f->pb, "v1;rm", &err), RG_EINVAL);
    assert_string_equal(err.msg, "invalid tag 'v1;rm': a tag is letters, digits, '_', '.' and "
                                 "'-', not starting with '.' or '-'");
    assert_int_equal(rg_playbook_check_tag(f->pb, "-v1", &err), RG_EINVAL);
    assert_int_equal(rg_playbook_check_tag(f->pb, "../v1", &err), RG_EINVAL);
    assert_int_equal(rg_playbook_check_tag(f->pb, "", &err), RG_EINVAL);
    assert_string_equal(err.msg, "empty tag");
    char longtag[200];
    memset(longtag, 'v', sizeof(longtag) - 1);
    longtag[sizeof(longtag) - 1] = '\0';
    assert_int_equal(rg_playbook_check_tag(f->pb, longtag, &err), RG_EINVAL);
    assert_string_equal(err.msg, "tag is 199 characters long, more than 128");
}

/* ---- what the playbook's driver can do ---- */

/* A driver table as the runtime's registry would answer it: compose can pull, restart and has
 * containers but cannot exec; systemd is not implemented. */
static unsigned
some_caps(enum rg_runtime_driver kind)
{
    return kind == RG_DRIVER_COMPOSE ? RG_DRIVER_IMPLEMENTED | RG_DRIVER_CAN_PULL |
                                           RG_DRIVER_CAN_RESTART | RG_DRIVER_CONTAINERS
                                     : 0;
}

static int
load_caps(struct fixture *f, const char *yaml, unsigned (*caps)(enum rg_runtime_driver))
{
    struct rg_load_opts opts = {.getenv = test_env, .base_dir = "/base", .driver_caps = caps};

    rg_playbook_free(f->pb);
    f->pb = NULL;
    rg_diags_release(&f->diags);
    return rg_playbook_load_buffer(&f->pb, &f->diags, "t.yml", yaml, strlen(yaml), &opts, &f->err);
}

static void
test_driver_caps(void **state)
{
    struct fixture *f = *state;

    /* Without a table the loader knows no driver and refuses nothing for it. */
    assert_int_equal(load_str(f, HEAD GATES
                              "deploy: [pull, up, {verify: [health]}]\n"
                              "recover: [{repair: {exec: {service: app, run: [fix]}}}]\n"),
                     0);
    /* An exec the driver cannot run, where it is written. */
    assert_int_equal(load_caps(f,
                               HEAD GATES
                               "deploy: [pull, up, {verify: [health]}]\n"
                               "recover: [{repair: {exec: {service: app, run: [fix]}}}]\n",
                               some_caps),
                     RG_EINVAL);
    assert_diag(f, 0, "t.yml:8:21: recover[0]: the compose driver cannot run 'exec'");
    assert_int_equal(f->diags.n, 1);
    /* What it can do passes. */
    assert_int_equal(load_caps(f, HEAD GATES DEPLOY, some_caps), 0);
    /* A driver that is not implemented: refused at its name. */
    assert_int_equal(load_caps(f,
                               "version: 1\nname: t\n"
                               "runtime: {driver: systemd, unit: t.service, env_file: /t.env, "
                               "tag_var: TAG}\n"
                               "release: {tag_pattern: '^v[0-9]+$'}\n" GATES
                               "deploy: [up, {verify: [health]}]\n",
                               some_caps),
                     RG_EINVAL);
    assert_diag(f, 0,
                "t.yml:3:19: runtime.driver: the systemd driver is not implemented: nothing "
                "would run this playbook");
}

static unsigned
no_containers(enum rg_runtime_driver kind)
{
    (void)kind;
    return RG_DRIVER_IMPLEMENTED | RG_DRIVER_CAN_PULL;
}

static void
test_driver_caps_containers(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_caps(f,
                               HEAD "gates:\n"
                                    "  health: {http: \"http://127.0.0.1:1/health\"}\n"
                                    "  running: {container: app, state: running}\n" DEPLOY,
                               no_containers),
                     RG_EINVAL);
    assert_diag(f, 0,
                "t.yml:7:3: gates.running: the compose driver has no containers for a "
                "container gate");
    assert_int_equal(f->diags.n, 1);
}

/* ---- the switch strategy's proxy section ---- */

static void
test_proxy_section(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_str(f, HEAD GATES DEPLOY
                             "strategy: switch\n"
                             "proxy:\n"
                             "  upstream_file: conf.d/app-upstreams.conf\n"
                             "  upstreams: {app: {service: app, port: 8069}, "
                             "app_chat: {service: app, port: 8072}}\n"),
                     0);
    assert_int_equal(f->pb->strategy, RG_STRATEGY_SWITCH);
    assert_string_equal(f->pb->proxy.upstream_file, "/base/conf.d/app-upstreams.conf");
    assert_int_equal(f->pb->proxy.n_upstreams, 2);
    assert_string_equal(f->pb->proxy.upstreams[1].name, "app_chat");
    assert_int_equal(f->pb->proxy.upstreams[1].port, 8072);
    assert_string_equal(f->pb->proxy.test.v[0], "nginx");
    assert_string_equal(f->pb->proxy.reload.v[2], "reload");
    assert_int_equal(f->pb->proxy.drain_ms, 2000);
    assert_non_null(rg_playbook_upstream(f->pb, "app"));
    assert_string_equal(rg_strategy_name(f->pb->strategy), "switch");

    assert_one_diag(f, HEAD GATES DEPLOY "strategy: switch\n",
                    "t.yml:8:11: strategy: strategy 'switch' needs a 'proxy' section: the nginx "
                    "upstream file rollgate rewrites to move traffic to the new release");
    assert_one_diag(f, HEAD GATES DEPLOY
                    "proxy: {upstream_file: /u.conf, upstreams: {web: {service: web, port: 80}}}\n",
                    "t.yml:8:45: proxy.upstreams.web: service 'web' is not one the deploy "
                    "switches (runtime.services)");
    assert_one_diag(f, HEAD GATES DEPLOY
                    "proxy: {upstream_file: /u.conf, upstreams: {9x: {service: app, port: 80}}}\n",
                    "t.yml:8:45: proxy.upstreams.9x: invalid upstream name '9x' (1-64 letters, "
                    "digits or '_', not starting with a digit: nginx takes it as written)");
    assert_one_diag(f, HEAD GATES DEPLOY "proxy: {upstream_file: /u.conf}\n",
                    "t.yml:8:8: proxy: missing required key 'upstreams' (the nginx upstreams "
                    "rollgate writes: {NAME: {service: S, port: P}})");
    /* A driver that cannot start a release beside the serving one is refused for switch. */
    assert_int_equal(load_caps(f, HEAD GATES DEPLOY
                               "strategy: switch\n"
                               "proxy: {upstream_file: /u.conf, upstreams: {app: {service: app, "
                               "port: 80}}}\n",
                               some_caps),
                     RG_EINVAL);
    assert_diag(f, 0, "t.yml:8:11: strategy: the compose driver cannot start a release beside "
                      "the serving one, which strategy 'switch' needs");
    /* What would act on both releases at once is refused, with what to do instead. */
#define SWITCHED                                                                                   \
    "strategy: switch\n"                                                                           \
    "proxy: {upstream_file: /u.conf, upstreams: {app: {service: app, port: 80}}}\n"
    assert_one_diag(f, HEAD GATES SWITCHED
                    "deploy: [pull, up, {verify: [health]}, {restart: [app]}]\n",
                    "t.yml:9:40: deploy[3]: 'restart' cannot run in a switched deploy: it would "
                    "act on the serving release and the candidate alike (it can with strategy "
                    "'replace')");
    assert_one_diag(f, HEAD GATES SWITCHED DEPLOY
                    "recover: [{repair: {restart: [app]}}]\n",
                    "t.yml:10:11: recover[0]: a repair rung cannot run under strategy 'switch': a "
                    "release that fails before the switch is removed unseen, and after it "
                    "'rollback' switches back in one reload (docs/switch.md); repair in place "
                    "needs strategy 'replace'");
    assert_one_diag(f, HEAD GATES SWITCHED "deploy: [pull, {verify: [health]}, up]\n",
                    "t.yml:9:9: deploy: strategy 'switch' needs a 'verify' after 'up': it judges "
                    "the candidate before it gets traffic");
#undef SWITCHED
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_minimal_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_section_and_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interpolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_gate_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_and_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_playbooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odoo_playbook_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_unknown_key_suggestion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_unknown_key_allowed_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_undefined_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_shell_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_shell_string_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_shell_string_needs_a_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_perl_regex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_first_hour_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_four_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_durations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_bad_regex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_missing_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_env_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_gate_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_deploy_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_image_with_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_empty_and_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_service_outside_runtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diags_in_file_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_billion_laughs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_self_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_not_a_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_caps_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_section, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
