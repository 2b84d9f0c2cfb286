/* The CI reports of a run: which ones a job asked for (or its CI's variables imply), what the
 * engine's reports become (test cases, a timeline), the live part while the run goes (GitHub
 * groups, GitLab sections), and the files written at its end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ci_report.h"
#include "rollgate/util.h"

struct rg_ci_report {
    struct rg_ci_run run;
    char *junit_path;
    bool github, gitlab;
    FILE *live; /* workflow commands and sections */
    FILE *errout;
    const struct rg_playbook *pb;
    bool group_open;
    /* While the run's lines print, workflow commands are off (::stop-commands::): a line a
     * service printed into the evidence cannot act as one. "" when they are on. */
    char stop_token[48];
    char section[48]; /* the open GitLab section's name, "" when none */
    int n_sections;
};

static bool
env_is(const char *name, const char *value)
{
    const char *v = getenv(name);

    return v && strcmp(v, value) == 0;
}

int
rg_ci_report_open(struct rg_ci_report **out_rep, const char *const *specs, size_t n,
                  const char *command, const struct rg_playbook *pb, FILE *out, FILE *errout,
                  bool json, struct rg_err *err)
{
    bool none = false, github = false, gitlab = false;
    const char *junit = NULL;
    struct rg_ci_report *c;

    *out_rep = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = specs[i];
        if (strcmp(s, "none") == 0)
            none = true;
        else if (strcmp(s, "github") == 0)
            github = true;
        else if (strcmp(s, "gitlab") == 0)
            gitlab = true;
        else if (strncmp(s, "junit=", 6) == 0 && s[6])
            junit = s + 6;
        else if (strcmp(s, "junit") == 0 || strcmp(s, "junit=") == 0)
            return rg_err_set(err, RG_EINVAL, "--report junit needs a file: junit=PATH");
        else
            return rg_err_set(err, RG_EINVAL, "--report '%s' is not a report: junit=PATH, "
                              "github, gitlab or none", s);
    }
    if (none && (github || gitlab || junit))
        return rg_err_set(err, RG_EINVAL, "--report none cannot go with another report");
    if (!none) {
        github = github || env_is("GITHUB_ACTIONS", "true");
        gitlab = gitlab || env_is("GITLAB_CI", "true");
    }
    if (!github && !gitlab && !junit)
        return 0;
    c = rg_calloc(1, sizeof(*c));
    c->github = github;
    c->gitlab = gitlab;
    c->junit_path = junit ? rg_strdup(junit) : NULL;
    c->live = json ? errout : out;
    c->errout = errout;
    c->pb = pb;
    c->run.command = command;
    c->run.target = pb->name;
    c->run.playbook = pb->path;
    c->run.started_unix_ms = rg_wall_ms();
    c->run.cur_state = RG_ST_COUNT;
    *out_rep = c;
    return 0;
}

static struct rg_ci_case *
add_case(struct rg_ci_run *run)
{
    if (run->n_cases == run->cap_cases) {
        run->cap_cases = run->cap_cases ? run->cap_cases * 2 : 16;
        run->cases = rg_realloc(run->cases, run->cap_cases * sizeof(*run->cases));
    }
    memset(&run->cases[run->n_cases], 0, sizeof(run->cases[0]));
    return &run->cases[run->n_cases++];
}

static void
add_step(struct rg_ci_run *run, int64_t at_ms, char *what)
{
    if (run->n_steps == run->cap_steps) {
        run->cap_steps = run->cap_steps ? run->cap_steps * 2 : 16;
        run->steps = rg_realloc(run->steps, run->cap_steps * sizeof(*run->steps));
    }
    run->steps[run->n_steps].at_ms = at_ms;
    run->steps[run->n_steps++].what = what;
}

static char *
classname(const struct rg_ci_run *run, int rung, const char *rung_kind, enum rg_state st)
{
    if (rung)
        return rg_asprintf("%s/rung %d %s/%s", run->target, rung, rung_kind ? rung_kind : "?",
                           rg_state_name(st));
    return rg_asprintf("%s/%s", run->target, rg_state_name(st));
}

static char *
first_line(const char *s)
{
    return s ? rg_strndup(s, strcspn(s, "\n")) : NULL;
}

static void
commands_on(struct rg_ci_report *c)
{
    if (c->stop_token[0]) {
        fprintf(c->live, "::%s::\n", c->stop_token);
        c->stop_token[0] = '\0';
    }
}

static void
commands_off(struct rg_ci_report *c)
{
    rg_ci_random_token(c->stop_token, sizeof(c->stop_token), "rollgate-");
    fprintf(c->live, "::stop-commands::%s\n", c->stop_token);
}

static void
close_live(struct rg_ci_report *c)
{
    commands_on(c);
    if (c->group_open) {
        fputs("::endgroup::\n", c->live);
        c->group_open = false;
    }
    if (c->section[0]) {
        fprintf(c->live, "\033[0Ksection_end:%lld:%s\r\033[0K\n", (long long)(rg_wall_ms() / 1000),
                c->section);
        c->section[0] = '\0';
    }
}

static void
open_live(struct rg_ci_report *c, const struct rg_report *r)
{
    char title[96];

    close_live(c);
    if (r->rung)
        snprintf(title, sizeof(title), "%s (rung %d, %s)", rg_state_name(r->state), r->rung,
                 r->rung_kind ? r->rung_kind : "?");
    else
        snprintf(title, sizeof(title), "%s", rg_state_name(r->state));
    if (c->github) {
        fputs("::group::", c->live);
        rg_ci_gh_data(c->live, title);
        fputc('\n', c->live);
        c->group_open = true;
        commands_off(c);
    }
    if (c->gitlab) {
        /* Names are letters, digits and _ ; numbered, so that a state run twice is two. */
        snprintf(c->section, sizeof(c->section), "rollgate_%d_%s", ++c->n_sections,
                 rg_state_name(r->state));
        for (char *p = c->section; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        fprintf(c->live, "\033[0Ksection_start:%lld:%s\r\033[0K%s\n",
                (long long)(rg_wall_ms() / 1000), c->section, title);
    }
    fflush(c->live);
}

/* A gate's verdict replaces the one before it in the same stage: settle decides each gate
 * many times, a JUnit reader wants one case per gate and stage. */
static void
gate_case(struct rg_ci_run *run, char *cls, const struct rg_gate_result *g)
{
    struct rg_ci_case *k = NULL;

    for (size_t i = 0; i < run->n_cases && !k; i++)
        if (run->cases[i].gate == g->gate && strcmp(run->cases[i].classname, cls) == 0)
            k = &run->cases[i];
    if (k) {
        free(k->classname);
        free(k->name);
        free(k->message);
        free(k->text);
    } else {
        k = add_case(run);
    }
    k->gate = g->gate;
    k->line = g->gate->line;
    k->column = g->gate->column;
    k->classname = cls;
    k->name = rg_strdup(g->gate->name);
    k->time_ms = g->elapsed_ms;
    k->kind = g->outcome == RG_VERDICT_PASS ? RG_CI_PASS : RG_CI_FAILURE;
    k->message = k->kind == RG_CI_PASS
                     ? NULL
                     : rg_asprintf("gate %s failed%s: %s", g->gate->name,
                                   g->timed_out ? " (timed out)" : "", g->last.summary);
    k->text = k->kind == RG_CI_PASS || !g->last.evidence[0] ? NULL : rg_strdup(g->last.evidence);
}

void
rg_ci_report_gate(struct rg_ci_report *c, const struct rg_gate_result *g)
{
    if (c && g->outcome != RG_VERDICT_RETRY)
        gate_case(&c->run, rg_asprintf("%s/check", c->run.target), g);
}

static void
stage_result(struct rg_ci_run *run, const struct rg_report *r)
{
    char *cls = classname(run, r->rung, r->rung_kind, r->state);
    bool gate_failed = false;
    struct rg_ci_case *k;

    for (size_t i = 0; i < run->n_cases; i++)
        gate_failed |= run->cases[i].gate && run->cases[i].kind == RG_CI_FAILURE &&
                       strcmp(run->cases[i].classname, cls) == 0;
    /* The release failed its judgement (a gate, or the watch of its containers): a failure;
     * any other stage failing is a tool's or rollgate's fault: an error. */
    gate_failed |= r->state == RG_ST_VERIFY || r->state == RG_ST_SETTLE ||
                   r->state == RG_ST_PROBE;
    k = add_case(run);
    k->classname = cls;
    if (r->step) {
        k->line = r->step->line;
        k->column = r->step->column;
    }
    k->name = rg_strdup(rg_state_name(r->state));
    k->time_ms = r->elapsed_ms - run->cur_started_ms;
    if (r->event == RG_EV_OK) {
        k->kind = RG_CI_PASS;
    } else {
        k->kind = gate_failed ? RG_CI_FAILURE : RG_CI_ERROR;
        k->message = r->message ? first_line(r->message)
                                : rg_strdup(r->event == RG_EV_CANCEL ? "interrupted" : "failed");
        k->text = r->message ? rg_strdup(r->message) : NULL;
    }
    add_step(run, r->elapsed_ms,
             rg_asprintf("%s%s %s", rg_state_name(r->state), r->rung ? " (recover)" : "",
                         r->event == RG_EV_OK        ? "ok"
                         : r->event == RG_EV_TIMEOUT ? "timed out"
                         : r->event == RG_EV_CANCEL  ? "interrupted"
                                                     : "failed"));
}

static void
run_forget(struct rg_ci_run *run)
{
    for (size_t i = 0; i < run->n_cases; i++) {
        free(run->cases[i].classname);
        free(run->cases[i].name);
        free(run->cases[i].message);
        free(run->cases[i].text);
    }
    for (size_t i = 0; i < run->n_steps; i++)
        free(run->steps[i].what);
    run->n_cases = run->n_steps = 0;
    run->max_rung = 0;
    run->rolled_back_to[0] = '\0';
}

void
rg_ci_report_event(struct rg_ci_report *c, const struct rg_report *r)
{
    struct rg_ci_run *run = c ? &c->run : NULL;

    if (!c)
        return;
    if (r->deploy_id)
        run->deploy_id = r->deploy_id;
    switch (r->kind) {
    case RG_REPORT_START:
        /* A deploy that first finished a run a crash left in flight reports its own from
         * here: that run's stages are its own outcome's, not this one's. */
        run_forget(run);
        if (r->tag)
            snprintf(run->tag, sizeof(run->tag), "%s", r->tag);
        break;
    case RG_REPORT_STATE:
        run->cur_state = r->state;
        run->cur_rung = r->rung;
        run->cur_started_ms = r->elapsed_ms;
        if (r->rung && r->rung_kind && strcmp(r->rung_kind, "rollback") == 0 && r->tag &&
            strcmp(r->tag, run->tag) != 0)
            snprintf(run->rolled_back_to, sizeof(run->rolled_back_to), "%s", r->tag);
        open_live(c, r);
        break;
    case RG_REPORT_GATE:
        if (r->gate->outcome != RG_VERDICT_RETRY)
            gate_case(run, classname(run, r->rung, r->rung_kind, r->state), r->gate);
        break;
    case RG_REPORT_RESULT: stage_result(run, r); break;
    case RG_REPORT_RUNG:
        if (r->rung > run->max_rung)
            run->max_rung = r->rung;
        add_step(run, r->elapsed_ms,
                 rg_asprintf("recover: rung %d, %s", r->rung, r->message ? r->message : "?"));
        break;
    case RG_REPORT_OUTCOME:
        close_live(c);
        snprintf(run->outcome, sizeof(run->outcome), "%s", rg_outcome_name(r->outcome));
        add_step(run, r->elapsed_ms, rg_asprintf("outcome: %s", rg_outcome_name(r->outcome)));
        break;
    case RG_REPORT_NOTE: break;
    }
    run->elapsed_ms = r->elapsed_ms;
    fflush(c->live);
}

/* The rungs after the last one climbed, as skipped cases: a reader sees the whole ladder. */
static void
skipped_rungs(struct rg_ci_report *c)
{
    struct rg_ci_run *run = &c->run;

    if (strcmp(run->command, "deploy") != 0 && strcmp(run->command, "resume") != 0)
        return;
    for (size_t i = (size_t)run->max_rung; i < c->pb->n_recover; i++) {
        struct rg_ci_case *k = add_case(run);
        k->kind = RG_CI_SKIPPED;
        k->classname = rg_asprintf("%s/recover", run->target);
        k->name = rg_asprintf("rung %zu %s", i + 1, rg_rung_kind_name(c->pb->recover[i].kind));
        k->message = rg_strdup(run->max_rung ? "not reached: an earlier rung recovered the "
                                               "service, or the run stopped first"
                                             : "not needed: the ladder was not climbed");
    }
}

/* Written whole under a temporary name, then renamed: a reader never sees half a report. */
static int
write_junit(struct rg_ci_report *c)
{
    char *tmp = rg_asprintf("%s.tmp-%d", c->junit_path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = 0;

    if (!f) {
        fprintf(c->errout, "rollgate: --report junit: cannot write '%s': %s\n", tmp,
                strerror(errno));
        free(tmp);
        return -1;
    }
    rg_ci_write_junit(f, &c->run);
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
        fprintf(c->errout, "rollgate: --report junit: cannot write '%s': %s\n", tmp,
                strerror(errno));
        rc = -1;
    }
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, c->junit_path) < 0) {
        fprintf(c->errout, "rollgate: --report junit: cannot rename '%s' to '%s': %s\n", tmp,
                c->junit_path, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT are appended to: other steps' lines stay. */
static FILE *
open_github_file(struct rg_ci_report *c, const char *var)
{
    const char *path = getenv(var);
    FILE *f;

    if (!path || !*path) {
        fprintf(c->errout, "rollgate: --report github: $%s is not set: not written\n", var);
        return NULL;
    }
    if (!(f = fopen(path, "a")))
        fprintf(c->errout, "rollgate: --report github: cannot append to $%s ('%s'): %s\n", var,
                path, strerror(errno));
    return f;
}

static int
close_github_file(struct rg_ci_report *c, FILE *f, const char *var)
{
    int rc = 0;

    if (!f)
        return -1;
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(c->errout, "rollgate: --report github: cannot write $%s: %s\n", var,
                strerror(errno));
        rc = -1;
    }
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static int
write_github(struct rg_ci_report *c)
{
    const struct rg_ci_run *run = &c->run;
    char *file = rg_ci_workspace_path(run->playbook, getenv("GITHUB_WORKSPACE"));
    char id[32];
    FILE *f;
    int rc = 0;

    /* GitHub shows 10 error annotations of a step: the tenth says how many more there are. */
    rg_ci_write_annotations(c->live, run, file, 10);
    fflush(c->live);
    free(file);
    if ((f = open_github_file(c, "GITHUB_STEP_SUMMARY")))
        rg_ci_write_summary(f, run);
    rc |= close_github_file(c, f, "GITHUB_STEP_SUMMARY");
    if ((f = open_github_file(c, "GITHUB_OUTPUT"))) {
        snprintf(id, sizeof(id), "%lld", (long long)run->deploy_id);
        rg_ci_write_output(f, "deploy_id", run->deploy_id ? id : "");
        rg_ci_write_output(f, "outcome", run->outcome);
        rg_ci_write_output(f, "tag", run->tag);
        rg_ci_write_output(f, "serving", run->serving);
        rg_ci_write_output(f, "rolled_back_to", run->rolled_back_to);
        snprintf(id, sizeof(id), "%d", run->exit_code);
        rg_ci_write_output(f, "exit_code", id);
    }
    rc |= close_github_file(c, f, "GITHUB_OUTPUT");
    return rc;
}

int
rg_ci_report_finish(struct rg_ci_report *c, int64_t deploy_id, const char *tag,
                    const char *serving, const char *outcome, int exit_code, const char *note)
{
    struct rg_ci_run *run = c ? &c->run : NULL;
    int rc = 0;

    if (!c)
        return 0;
    close_live(c);
    if (deploy_id)
        run->deploy_id = deploy_id;
    if (tag && *tag)
        snprintf(run->tag, sizeof(run->tag), "%s", tag);
    snprintf(run->serving, sizeof(run->serving), "%s", serving ? serving : "");
    if (outcome)
        snprintf(run->outcome, sizeof(run->outcome), "%s", outcome);
    if (strcmp(run->outcome, "rolled_back") != 0)
        run->rolled_back_to[0] = '\0';
    run->exit_code = exit_code;
    free(run->note);
    run->note = note ? rg_strdup(note) : NULL;
    if (run->elapsed_ms == 0)
        run->elapsed_ms = rg_wall_ms() - run->started_unix_ms;
    skipped_rungs(c);
    if (c->junit_path && write_junit(c) < 0)
        rc = -1;
    if (c->github && write_github(c) < 0)
        rc = -1;
    return rc;
}

void
rg_ci_report_free(struct rg_ci_report *c)
{
    if (!c)
        return;
    run_forget(&c->run);
    free(c->run.cases);
    free(c->run.steps);
    free(c->run.note);
    free(c->junit_path);
    free(c);
}
