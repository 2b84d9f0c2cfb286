/* The daemon's event stream for one compose project: newline-delimited JSON that never ends,
 * read through a curl multi handle so a caller can wait for the next event with a deadline. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker_internal.h"

#define LINE_MAX_BYTES (64 * 1024)
/* What may arrive before it is read: a catch-up answers everything since the mark at once. */
#define PENDING_MAX_BYTES (8 * 1024 * 1024)

struct rg_docker_events {
    CURL *easy;
    CURLM *multi;
    char errbuf[CURL_ERROR_SIZE];
    char *url;
    struct rg_buf pending; /* bytes received, not yet a whole line */
    bool ended;
    bool bounded; /* opened with an end: its end is no break */
    CURLcode result;
};

static size_t
on_events(char *data, size_t size, size_t n, void *arg)
{
    struct rg_docker_events *es = arg;
    size_t len = size * n;

    /* A line longer than the buffer cannot be an event of interest; the parser reports it. */
    rg_buf_add(&es->pending, data, len);
    return len;
}

int
rg_docker_events_open(struct rg_docker_events **out, struct rg_docker *d, const char *project,
                      int64_t since_ms, int64_t until_ms, struct rg_err *err)
{
    struct rg_docker_events *es = rg_calloc(1, sizeof(*es));
    char *filter = docker_label_filter(
        d, project, NULL,
        "{\"type\":[\"container\"],\"event\":[\"die\",\"oom\",\"restart\",\"start\","
        "\"health_status\",\"kill\",\"stop\"]}");
    int rc = 0;

    *out = NULL;
    rg_buf_init(&es->pending, PENDING_MAX_BYTES);
    char since[48] = "", until[48] = "";

    if (since_ms > 0)
        snprintf(since, sizeof(since), "since=%lld.%03lld&", (long long)(since_ms / 1000),
                 (long long)(since_ms % 1000));
    if (until_ms > 0)
        snprintf(until, sizeof(until), "until=%lld.%03lld&", (long long)(until_ms / 1000),
                 (long long)(until_ms % 1000));
    es->bounded = until_ms > 0;
    es->url = rg_asprintf("http://docker/v%s/events?%s%sfilters=%s", d->api, since, until,
                          filter);
    if (!(es->easy = curl_easy_init()) || !(es->multi = curl_multi_init())) {
        rc = rg_err_set(err, RG_EINTERNAL, "cannot create curl handles for docker events");
        goto out;
    }
    docker_setup_handle(es->easy, d, es->errbuf);
    curl_easy_setopt(es->easy, CURLOPT_URL, es->url);
    /* No whole-transfer timeout: the stream is meant to stay open. */
    curl_easy_setopt(es->easy, CURLOPT_WRITEFUNCTION, on_events);
    curl_easy_setopt(es->easy, CURLOPT_WRITEDATA, es);
    curl_multi_add_handle(es->multi, es->easy);
    *out = es;
    es = NULL;
out:
    free(filter);
    rg_docker_events_close(es);
    return rc;
}

/* Takes one whole line out of pending into line (NUL-terminated); false when there is none. */
static bool
take_line(struct rg_docker_events *es, struct rg_buf *line)
{
    char *nl = es->pending.data ? memchr(es->pending.data, '\n', es->pending.len) : NULL;
    size_t n;

    /* A stream that ended may end without a newline: its last bytes are a line too. */
    if (!nl && es->ended && es->pending.len) {
        rg_buf_add(&es->pending, "\n", 1);
        nl = memchr(es->pending.data, '\n', es->pending.len);
    }
    if (!nl)
        return false;
    n = (size_t)(nl - es->pending.data);
    rg_buf_reset(line);
    rg_buf_add(line, es->pending.data, n);
    memmove(es->pending.data, nl + 1, es->pending.len - n - 1);
    es->pending.len -= n + 1;
    es->pending.data[es->pending.len] = '\0';
    es->pending.truncated = false;
    return true;
}

int
rg_docker_events_next(struct rg_docker_event *ev, struct rg_docker_events *es,
                      int64_t timeout_ms, struct rg_err *err)
{
    int64_t deadline = rg_mono_ms() + timeout_ms;
    struct rg_buf line;
    int rc = 0;

    rg_buf_init(&line, LINE_MAX_BYTES);
    for (;;) {
        int running = 0, left;
        CURLMsg *msg;
        int64_t wait;

        while (take_line(es, &line)) {
            if (line.len == 0)
                continue;
            if (line.truncated) {
                rc = rg_err_set(err, RG_ERUNTIME, "docker event longer than %d bytes",
                                LINE_MAX_BYTES);
                goto out;
            }
            rc = rg_docker_parse_event(ev, line.data, line.len, err);
            rc = rc < 0 ? rc : 1;
            goto out;
        }
        if (es->pending.truncated) {
            rc = rg_err_set(err, RG_ERUNTIME, "more than %d bytes of docker events unread",
                            PENDING_MAX_BYTES);
            goto out;
        }
        if (es->ended && es->result == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(es->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status != 200) {
                rc = rg_err_set(err, RG_ERUNTIME, "docker events answered HTTP %ld", status);
                goto out;
            }
        }
        if (es->ended && es->bounded && es->result == CURLE_OK) {
            rc = rg_err_set(err, RG_ENOENT, "no more docker events until the end asked for");
            goto out;
        }
        if (es->ended) {
            rc = rg_err_set(err, RG_ERUNTIME, "docker event stream ended: %s",
                            es->errbuf[0] ? es->errbuf : curl_easy_strerror(es->result));
            goto out;
        }
        curl_multi_perform(es->multi, &running);
        while ((msg = curl_multi_info_read(es->multi, &left))) {
            if (msg->msg == CURLMSG_DONE) {
                es->result = msg->data.result; /* copied before anything touches the handle */
                es->ended = true;
            }
        }
        if (es->ended || (es->pending.data && memchr(es->pending.data, '\n', es->pending.len)))
            continue;
        wait = deadline - rg_mono_ms();
        if (wait <= 0)
            goto out; /* 0: no event in time */
        curl_multi_poll(es->multi, NULL, 0, (int)(wait > 1000 ? 1000 : wait), NULL);
    }
out:
    rg_buf_release(&line);
    return rc;
}

void
rg_docker_events_close(struct rg_docker_events *es)
{
    if (!es)
        return;
    if (es->multi && es->easy)
        curl_multi_remove_handle(es->multi, es->easy);
    if (es->easy)
        curl_easy_cleanup(es->easy);
    if (es->multi)
        curl_multi_cleanup(es->multi);
    rg_buf_release(&es->pending);
    free(es->url);
    free(es);
}
