/* The tcp gate: a connection to host:port accepted within the timeout. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gate.h"

struct tcp_ctx {
    const struct rg_gate *spec;
    char host[256];
    char port[8];
};

static int
tcp_prepare(void **ctx_out, const struct rg_gate *spec, const struct rg_gate_env *env,
            struct rg_err *err)
{
    struct tcp_ctx *t = rg_calloc(1, sizeof(*t));
    const char *colon = strrchr(spec->target, ':');
    const char *host = spec->target;
    size_t hlen;

    *ctx_out = NULL;
    if (!colon) {
        free(t);
        return rg_err_set(err, RG_EINVAL, "tcp gate '%s': address '%s' has no port", spec->name,
                          spec->target);
    }
    hlen = (size_t)(colon - host);
    if (host[0] == '[' && hlen >= 2) { /* [::1]:80 */
        host++;
        hlen -= 2;
    }
    snprintf(t->host, sizeof(t->host), "%.*s", (int)hlen, host);
    snprintf(t->port, sizeof(t->port), "%s", colon + 1);
    /* A service name reaches the instances being judged (the first of them). */
    char addrs[1024];
    if (rg_gate_env_lookup(addrs, sizeof(addrs), env, t->host)) {
        addrs[strcspn(addrs, ",")] = '\0';
        snprintf(t->host, sizeof(t->host), "%.*s", (int)sizeof(t->host) - 1, addrs);
    }
    t->spec = spec;
    *ctx_out = t;
    return 0;
}

/* Connects to one address within the time left; returns 0 or an errno. */
static int
try_connect(const struct addrinfo *ai, int64_t timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    int e = 0;

    if (fd < 0)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            e = errno;
        } else {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r;
            do {
                r = poll(&p, 1, (int)timeout_ms);
            } while (r < 0 && errno == EINTR);
            if (r == 0) {
                e = ETIMEDOUT;
            } else {
                socklen_t len = sizeof(e);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                    e = errno;
            }
        }
    }
    close(fd);
    return e;
}

static int
tcp_probe(struct rg_verdict *out, void *ctx, struct rg_err *err)
{
    struct tcp_ctx *t = ctx;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int64_t start = rg_mono_ms(), left;
    int gai, e = ETIMEDOUT;

    (void)err;
    memset(out, 0, sizeof(*out));
    if ((gai = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
        gate_verdict(out, RG_VERDICT_RETRY, "cannot resolve '%s': %s", t->host,
                     gai_strerror(gai));
        return 0;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        left = t->spec->timing.timeout_ms - (rg_mono_ms() - start);
        if (left <= 0)
            break;
        if ((e = try_connect(ai, left)) == 0)
            break;
    }
    freeaddrinfo(res);
    out->latency_ms = rg_mono_ms() - start;
    if (e == 0) {
        gate_verdict(out, RG_VERDICT_PASS, "connected in %lldms", (long long)out->latency_ms);
        return 0;
    }
    gate_verdict(out, RG_VERDICT_RETRY, "connect to %s: %s", t->spec->target,
                 e == ETIMEDOUT ? "timed out" : strerror(e));
    gate_evidence(out, "connect to %s failed after %lldms: %s", t->spec->target,
                  (long long)out->latency_ms, strerror(e));
    return 0;
}

const struct rg_gate_ops rg_gate_tcp_ops = {
    .kind = RG_GATE_TCP,
    .prepare = tcp_prepare,
    .probe = tcp_probe,
    .free = free,
};
