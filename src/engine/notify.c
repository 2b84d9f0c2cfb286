/* Notifications: a JSON POST that Slack's incoming webhooks accept ({"text": …}), with a
 * timeout and retries. A failed notification is reported, never changes the outcome, and the
 * webhook's URL (its secret) is never printed. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run_internal.h"

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static int
post(const char *url, const char *body, int64_t timeout_ms, long *status, char *errbuf)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    CURLcode cc;

    if (!c)
        return -1;
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    errbuf[0] = '\0';
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK && !errbuf[0])
        snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

static char *
message(const struct run *r, enum rg_outcome outcome, const char *error)
{
    json_t *o = json_object();
    char *text, *dumped;

    text = rg_asprintf("rollgate: %s #%lld of '%s' to %s: %s%s%s%s%s", r->kind,
                       (long long)r->deploy_id, r->pb->name, r->tag[0] ? r->tag : "?",
                       rg_outcome_name(outcome), r->res->live_tag[0] ? "; now serving " : "",
                       r->res->live_tag, error ? "\n" : "", error ? error : "");
    json_object_set_new(o, "text", json_string(text));
    json_object_set_new(o, "target", json_string(r->pb->name));
    json_object_set_new(o, "outcome", json_string(rg_outcome_name(outcome)));
    json_object_set_new(o, "tag", json_string(r->tag));
    json_object_set_new(o, "deploy", json_integer(r->deploy_id));
    dumped = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(text);
    return dumped;
}

void
run_notify(struct run *r, enum rg_outcome outcome, const char *error)
{
    char *body = NULL;

    for (size_t i = 0; i < r->pb->n_notify; i++) {
        const struct rg_notify *n = &r->pb->notify[i];
        char errbuf[CURL_ERROR_SIZE], line[RG_ERR_MSG_MAX];
        char *shown;
        long status = 0;
        int attempt;

        if (!n->webhook[0] || !(n->on & (1u << outcome)))
            continue;
        if (!body && !(body = message(r, outcome, error)))
            return;
        rg_net_init();
        for (attempt = 0; attempt <= n->retries; attempt++) {
            if (post(n->webhook, body, n->timeout_ms, &status, errbuf) == 0 && status >= 200 &&
                status < 300)
                break;
            if (attempt < n->retries) {
                struct timespec ts = {.tv_sec = 1 << (attempt < 3 ? attempt : 3)};
                nanosleep(&ts, NULL);
            }
        }
        shown = rg_redact_url(n->webhook);
        if (attempt > n->retries)
            snprintf(line, sizeof(line), "notification to %s failed after %d attempt%s: %s", shown,
                     attempt, attempt == 1 ? "" : "s",
                     errbuf[0] ? errbuf
                     : status  ? "non-2xx answer"
                               : "no answer");
        else
            snprintf(line, sizeof(line), "notified %s (%ld)", shown, status);
        run_report(r, RG_REPORT_NOTE, RG_ST_COUNT, RG_EV_OK, line);
        free(shown);
    }
    free(body);
}
