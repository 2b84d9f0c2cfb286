/* The http and websocket gates: one GET through the poller's curl multi handle. HTTP checks the
 * status, an optional body pattern and the latency; WebSocket checks that the upgrade is
 * answered 101 and then drops the connection (Debian's libcurl has no WebSocket support). */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"

#define BODY_KEEP (64 * 1024)
#define EXCERPT 300

struct http_ctx {
    const struct rg_gate *spec;
    char *url_shown;           /* redacted, for evidence */
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    struct rg_buf body;
    regex_t body_rx;
    bool has_rx;
    bool websocket;
    long status;               /* from the status line, so an aborted upgrade still has it */
    bool headers_done;
    struct curl_slist *resolve; /* a service name pinned to the instances being judged */
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
    struct http_ctx *h = arg;

    rg_buf_add(&h->body, data, size * n);
    return size * n;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
    struct http_ctx *h = arg;
    size_t len = size * n;

    if (len > 12 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', len);
        h->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        h->headers_done = false;
    } else if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        h->headers_done = true;
        /* A 101 keeps the connection open for frames: stop here, the answer is known. */
        if (h->websocket && h->status == 101)
            return 0;
    }
    return len;
}

static void
http_free(void *ctx)
{
    struct http_ctx *h = ctx;

    if (!h)
        return;
    if (h->easy)
        curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->headers);
    curl_slist_free_all(h->resolve);
    rg_buf_release(&h->body);
    if (h->has_rx)
        regfree(&h->body_rx);
    free(h->url_shown);
    free(h);
}

static char *
websocket_url(const char *url)
{
    /* libcurl 7.88 speaks neither ws:// nor wss://: the upgrade request is plain HTTP(S). */
    if (strncmp(url, "ws://", 5) == 0)
        return rg_asprintf("http://%s", url + 5);
    if (strncmp(url, "wss://", 6) == 0)
        return rg_asprintf("https://%s", url + 6);
    return rg_strdup(url);
}

/* A URL whose host is a service name of env->hosts reaches that service's instances: curl is
 * told their addresses for the URL's host and port. */
static void
pin_service_host(struct http_ctx *h, const struct rg_gate_env *env)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, addrs[1024];

    if (!env || !env->hosts || !u || curl_url_set(u, CURLUPART_URL, h->spec->target, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
        goto out;
    if (rg_gate_env_lookup(addrs, sizeof(addrs), env, host)) {
        char *entry = rg_asprintf("%s:%s:%s", host, port, addrs);
        h->resolve = curl_slist_append(h->resolve, entry);
        free(entry);
    }
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static int
prepare_common(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
               bool websocket, struct rg_err *err)
{
    struct http_ctx *h = rg_calloc(1, sizeof(*h));
    int rc = 0;

    *ctx_out = NULL;
    h->spec = spec;
    h->websocket = websocket;
    h->url_shown = rg_redact_userinfo(spec->target);
    rg_buf_init(&h->body, BODY_KEEP);
    pin_service_host(h, env);
    if (spec->body) {
        if ((rc = rg_regex_compile(&h->body_rx, spec->body, REG_EXTENDED | REG_NOSUB, err)) < 0)
            goto out;
        h->has_rx = true;
    }
    h->headers = curl_slist_append(h->headers, "Cache-Control: no-cache");
    h->headers = curl_slist_append(h->headers, "Pragma: no-cache");
    if (websocket) {
        h->headers = curl_slist_append(h->headers, "Connection: Upgrade");
        h->headers = curl_slist_append(h->headers, "Upgrade: websocket");
        h->headers = curl_slist_append(h->headers, "Sec-WebSocket-Version: 13");
        /* Any 16 bytes, base64: the server only has to echo a hash of it. */
        h->headers = curl_slist_append(h->headers, "Sec-WebSocket-Key: cm9sbGdhdGUgcHJvYmUgIQ==");
    }
    for (size_t i = 0; i < spec->n_headers; i++) {
        char *line = rg_asprintf("%s: %s", spec->headers[i].key, spec->headers[i].value);
        h->headers = curl_slist_append(h->headers, line);
        rg_wipe(line, strlen(line));
        free(line);
    }
    *ctx_out = h;
    h = NULL;
out:
    http_free(h);
    return rc;
}

static int
http_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
             struct rg_err *err)
{
    return prepare_common(ctx_out, spec, env, false, err);
}

static int
websocket_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
                  struct rg_err *err)
{
    return prepare_common(ctx_out, spec, env, true, err);
}

static CURL *
http_start(void *ctx, struct rg_err *err)
{
    struct http_ctx *h = ctx;
    const struct rg_gate *g = h->spec;
    char *url = h->websocket ? websocket_url(g->target) : rg_strdup(g->target);
    long timeout = (long)g->timing.timeout_ms;

    if (!h->easy && !(h->easy = curl_easy_init())) {
        free(url);
        rg_err_set(err, RG_EINTERNAL, "cannot create a curl handle");
        return NULL;
    }
    curl_easy_reset(h->easy);
    rg_buf_reset(&h->body);
    h->status = 0;
    h->headers_done = false;
    h->errbuf[0] = '\0';
    curl_easy_setopt(h->easy, CURLOPT_URL, url);
    curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->easy, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(h->easy, CURLOPT_SSL_VERIFYPEER, g->tls_verify ? 1L : 0L);
    curl_easy_setopt(h->easy, CURLOPT_SSL_VERIFYHOST, g->tls_verify ? 2L : 0L);
    curl_easy_setopt(h->easy, CURLOPT_FOLLOWLOCATION, 0L); /* a 303 is an answer to judge */
    curl_easy_setopt(h->easy, CURLOPT_FORBID_REUSE, 1L);   /* each probe is a new connection */
    curl_easy_setopt(h->easy, CURLOPT_USERAGENT, "rollgate-gate/1");
    if (h->resolve)
        curl_easy_setopt(h->easy, CURLOPT_RESOLVE, h->resolve);
    free(url);
    return h->easy;
}

static bool
status_expected(const struct rg_gate *g, long status)
{
    for (size_t i = 0; i < g->n_expect; i++)
        if (g->expect[i] == status)
            return true;
    return false;
}

static void
expected_list(char *out, size_t size, const struct rg_gate *g)
{
    size_t off = 0;

    out[0] = '\0';
    for (size_t i = 0; i < g->n_expect && off < size; i++) {
        int n = snprintf(out + off, size - off, "%s%d", i ? "|" : "", g->expect[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

static void
http_finish(struct rg_verdict *out, void *ctx, CURLcode result)
{
    struct http_ctx *h = ctx;
    const struct rg_gate *g = h->spec;
    curl_off_t total_us = 0;
    char want[64];

    memset(out, 0, sizeof(*out));
    curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME_T, &total_us); /* microseconds */
    out->latency_ms = (int64_t)(total_us / 1000);
    expected_list(want, sizeof(want), g);
    /* The websocket probe aborts itself after a 101: curl reports a write error then. */
    if (h->websocket && h->status == 101 && h->headers_done) {
        gate_verdict(out, RG_VERDICT_PASS, "101 upgrade in %lldms", (long long)out->latency_ms);
        return;
    }
    if (result != CURLE_OK) {
        gate_verdict(out, RG_VERDICT_RETRY, "%s", h->errbuf[0] ? h->errbuf
                                                                : curl_easy_strerror(result));
        gate_evidence(out, "GET %s: %s", h->url_shown,
                      h->errbuf[0] ? h->errbuf : curl_easy_strerror(result));
        return;
    }
    if (!status_expected(g, h->status)) {
        bool fatal = false;
        for (size_t i = 0; i < g->n_fail_on; i++)
            fatal = fatal || g->fail_on[i] == h->status;
        /* fail_on: the playbook says this answer will not get better by waiting. */
        gate_verdict(out, fatal ? RG_VERDICT_FAIL : RG_VERDICT_RETRY,
                     "%ld in %lldms, expected %s%s", h->status, (long long)out->latency_ms, want,
                     fatal ? " (fail_on)" : "");
        gate_evidence(out, "GET %s answered %ld (expected %s)", h->url_shown, h->status, want);
        gate_evidence_excerpt(out, "body", h->body.data ? h->body.data : "", h->body.len,
                              EXCERPT);
        return;
    }
    if (h->has_rx && regexec(&h->body_rx, h->body.data ? h->body.data : "", 0, NULL, 0) != 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "%ld in %lldms, body does not match /%s/", h->status,
                     (long long)out->latency_ms, g->body);
        gate_evidence_excerpt(out, "body", h->body.data ? h->body.data : "", h->body.len,
                              EXCERPT);
        return;
    }
    if (g->max_latency_ms && out->latency_ms > g->max_latency_ms) {
        gate_verdict(out, RG_VERDICT_RETRY, "%ld in %lldms, slower than %lldms", h->status,
                     (long long)out->latency_ms, (long long)g->max_latency_ms);
        return;
    }
    gate_verdict(out, RG_VERDICT_PASS, "%ld in %lldms", h->status, (long long)out->latency_ms);
}

const struct rg_gate_ops rg_gate_http_ops = {
    .kind = RG_GATE_HTTP,
    .prepare = http_prepare,
    .start = http_start,
    .finish = http_finish,
    .free = http_free,
};

const struct rg_gate_ops rg_gate_websocket_ops = {
    .kind = RG_GATE_WEBSOCKET,
    .prepare = websocket_prepare,
    .start = http_start,
    .finish = http_finish,
    .free = http_free,
};
