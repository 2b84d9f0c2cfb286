/* Health gates: probes of a running release (HTTP, WebSocket, TCP, PostgreSQL, commands,
 * container state, logs) and the poller that runs a step's gates concurrently until each has
 * passed `need` times in a row or its deadline has passed. */
#ifndef ROLLGATE_GATES_H
#define ROLLGATE_GATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/playbook.h"
#include "rollgate/runtime.h"

#define RG_EVIDENCE_MAX 2048

enum rg_verdict_kind {
    RG_VERDICT_PASS,  /* this probe passed */
    RG_VERDICT_RETRY, /* not yet: probe again until the deadline */
    RG_VERDICT_FAIL,  /* failed for good: no later probe can pass (OOM-killed, too many
                         restarts, an error line in the logs) */
};

struct rg_verdict {
    enum rg_verdict_kind kind;
    int64_t latency_ms;
    char summary[160];              /* one line: "200 in 12ms", "connection refused" */
    char evidence[RG_EVIDENCE_MAX]; /* what a person needs to see: body excerpt, health log,
                                       matching log lines; secrets redacted */
};

/* What the gates probe besides their own targets. */
struct rg_gate_env {
    const char *docker_socket; /* NULL: DOCKER_HOST or the default socket */
    const char *project;       /* compose project of container and logs gates */
    /* A target of systemd units: the command prefix that reaches systemctl and journalctl
     * for unit and logs gates (empty: this host); NULL when it has none. */
    const struct rg_strv *units;
    int64_t mark_ms;           /* Unix ms the step began: restarts and log lines are counted
                                  from here; 0: since each container started */
    /* Service names gates may use as hosts ("app=172.18.0.3", one entry per address): a URL or
     * address naming a service reaches exactly these instances (the candidate of a switch
     * before it gets traffic, the serving release after). NULL: names resolve as usual. */
    const struct rg_strv *hosts;
    /* Container and logs gates look only at these container ids; NULL: every container of
     * the service. */
    const struct rg_strv *only_ids;
};

/* The outcome of one gate in a poll. */
struct rg_gate_result {
    const struct rg_gate *gate;   /* borrowed */
    enum rg_verdict_kind outcome; /* PASS or FAIL; RETRY when the poll stopped before this gate
                                     was decided (another gate failed, a watch fired, cancel) */
    bool timed_out;               /* FAIL because `within` passed without `need` passes */
    int probes;
    int64_t elapsed_ms;     /* from the start of the poll to the outcome */
    struct rg_verdict last; /* the last probe's verdict */
};

/* Tells the poller to stop every gate at once: set *why and return true (a container died). */
typedef bool (*rg_gate_watch_fn)(char *why, size_t size, void *data);

struct rg_poll_opts {
    bool once;              /* one probe per gate, no retries (rollgate check without --wait) */
    bool stop_on_fail;      /* end the poll when any gate has failed (a deploy step) */
    int64_t settle_ms;      /* > 0: a stability window: every probe must pass until it ends
                               (need is ignored); the first probe that does not fails */
    rg_gate_watch_fn watch; /* called between probes; NULL: none */
    void *watch_data;
    int cancel_fd; /* readable: stop; -1: none */
    /* Called after every probe, from the polling thread. NULL: none. */
    void (*progress)(const struct rg_gate_result *r, void *data);
    void *progress_data;
};

/* Polls n gates concurrently: HTTP and WebSocket probes share one libcurl multi handle, the
 * others run on threads. results[i] is filled for gates[i]. Returns 0 when every gate passed,
 * RG_EGATE when any failed (results say which and why), RG_ETIMEOUT never (a deadline is a FAIL
 * of its gate), or another code when the poll itself could not run. err names the first failed
 * gate. */
int rg_gates_poll(struct rg_gate_result *results, const struct rg_gate *const *gates, size_t n,
                  const struct rg_gate_env *env, const struct rg_poll_opts *opts,
                  struct rg_err *err);

/* Probes one gate once, synchronously. */
int rg_gate_probe_once(struct rg_verdict *out, const struct rg_gate *gate,
                       const struct rg_gate_env *env, struct rg_err *err);

const char *rg_verdict_name(enum rg_verdict_kind kind);

/* Whether a gate can judge the instances env->hosts and env->only_ids name: container and logs
 * gates (limited to those instances), and address gates whose host is one of the names. An
 * http gate through a proxy cannot: it reaches whatever the proxy serves. */
bool rg_gate_reaches(const struct rg_gate *g, const struct rg_gate_env *env);

/* The addresses env->hosts gives host, comma-separated into out (size bytes); false when it
 * names none. */
bool rg_gate_env_lookup(char *out, size_t size, const struct rg_gate_env *env, const char *host);

/* A watch on the project's Docker events since env->mark_ms: rg_container_watch_check (an
 * rg_gate_watch_fn) fires when a container of one of services (all when empty) dies or is
 * OOM-killed — only containers of release tag when tag is given, so that the release being
 * replaced dying on its way out does not count against the one being checked. */
struct rg_container_watch;
int rg_container_watch_open(struct rg_container_watch **out, const struct rg_gate_env *env,
                            const struct rg_strv *services, const char *tag, struct rg_err *err);
bool rg_container_watch_check(char *why, size_t size, void *watch);
/* The event that fired the watch, or NULL. Borrowed. */
const struct rg_docker_event *rg_container_watch_event(const struct rg_container_watch *w);
void rg_container_watch_close(struct rg_container_watch *w);

/* The same for systemd units (env->units): rg_unit_watch_check fires when one of units failed
 * or restarted since the watch opened (NRestarts, main pid and invocation id against that
 * reading). Reads the units at most every 500 ms. */
struct rg_unit_watch;
int rg_unit_watch_open(struct rg_unit_watch **out, const struct rg_gate_env *env,
                       const struct rg_strv *units, struct rg_err *err);
bool rg_unit_watch_check(char *why, size_t size, void *watch);
void rg_unit_watch_close(struct rg_unit_watch *w);

/* ---- stability ---- */
struct rg_settle_opts {
    int64_t window_ms; /* how long everything must stay up */
    int64_t every_ms;  /* how often containers are inspected; 0: 1s */
    const char *tag;   /* the release judged: only its containers' events count */
    int cancel_fd;
    void (*progress)(const struct rg_gate_result *r, void *data);
    void *progress_data;
};

struct rg_settle_result {
    struct rg_gate_result *results; /* the listed gates, then one "stable:SERVICE" per service */
    size_t n;
    struct rg_gate *synthetic; /* the per-service checks (owned) */
    size_t n_synthetic;
    bool fired;                   /* a die or OOM event ended the window */
    struct rg_docker_event event; /* that event */
};

/* Runs a stability window: the gates keep passing and every watched service's containers keep
 * running without a restart; a die or OOM event of a watched service fails it at once. 0 when
 * stable, RG_EGATE with err naming what broke. out is released with rg_settle_result_release. */
int rg_gates_settle(struct rg_settle_result *out, const struct rg_gate *const *gates, size_t n,
                    const struct rg_strv *watch, const struct rg_gate_env *env,
                    const struct rg_settle_opts *opts, struct rg_err *err);
void rg_settle_result_release(struct rg_settle_result *r);

/* Appends to out, for every container of the project's services (all when services is empty):
 * state, exit code, restart count, OOM flag, health log and the last `lines` log lines.
 * Used as the evidence of a failed step. */
int rg_gates_container_evidence(struct rg_buf *out, const struct rg_gate_env *env,
                                const struct rg_strv *services, int lines, struct rg_err *err);

/* The same for systemd units (services are unit names): state, restarts, the last run's exit,
 * and the journal's lines since env->mark_ms (the last `lines` when there is no mark). */
int rg_gates_unit_evidence(struct rg_buf *out, const struct rg_gate_env *env,
                           const struct rg_strv *services, int lines, struct rg_err *err);

/* Whichever of the two the target has (nothing for a target with neither). */
int rg_gates_evidence(struct rg_buf *out, const struct rg_gate_env *env,
                      const struct rg_strv *services, int lines, struct rg_err *err);

#endif
