/* Private to gates: one ops table per gate kind. A gate answers a probe with PASS, RETRY or
 * FAIL and evidence; retries, intervals and deadlines belong to the poller. */
#ifndef ROLLGATE_GATES_GATE_H
#define ROLLGATE_GATES_GATE_H

#include <curl/curl.h>
#include <stdarg.h>

#include "rollgate/gates.h"

struct rg_gate_ops {
    enum rg_gate_kind kind;
    /* Builds the probe state of one gate; *ctx_out is released with free. */
    int (*prepare)(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
                   struct rg_err *err);
    /* Synchronous probe (NULL for asynchronous kinds). Runs on a worker thread: it must touch
     * only its ctx. Returns 0 with *out filled, or an error when the probe could not be made. */
    int (*probe)(struct rg_verdict *out, void *ctx, struct rg_err *err);
    /* Asynchronous probe: start returns an easy handle for the multi; finish turns the transfer's
     * result into a verdict. */
    CURL *(*start)(void *ctx, struct rg_err *err);
    void (*finish)(struct rg_verdict *out, void *ctx, CURLcode result);
    void (*free)(void *ctx);
};

extern const struct rg_gate_ops rg_gate_http_ops;
extern const struct rg_gate_ops rg_gate_websocket_ops;
extern const struct rg_gate_ops rg_gate_tcp_ops;
extern const struct rg_gate_ops rg_gate_postgres_ops;
extern const struct rg_gate_ops rg_gate_command_ops;
extern const struct rg_gate_ops rg_gate_container_ops;
extern const struct rg_gate_ops rg_gate_logs_ops;
extern const struct rg_gate_ops rg_gate_unit_ops;

const struct rg_gate_ops *rg_gate_ops_find(enum rg_gate_kind kind);

struct rg_unit_state;
/* How many times a unit started between two readings: automatic restarts (NRestarts), or one
 * for a start NRestarts does not count (a manual restart resets it; the main pid and the
 * invocation id change). 0 when mark was never read. */
int64_t gate_unit_restarts(const struct rg_unit_state *mark, const struct rg_unit_state *now);

/* Keeps, of the n containers of list, those env->only_ids names (all when it is NULL),
 * releasing the others; returns how many are left at the front of list. */
size_t gate_keep_only(struct rg_container *list, size_t n, const struct rg_gate_env *env);

/* Fills a verdict's summary and evidence (printf-style; cut to size). */
void gate_verdict(struct rg_verdict *v, enum rg_verdict_kind kind, const char *summary_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gate_evidence(struct rg_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends an excerpt of text (at most max bytes, control characters shown as spaces). */
void gate_evidence_excerpt(struct rg_verdict *v, const char *label, const char *text,
                           size_t len, size_t max);

#endif
