/* A Docker Engine API client over the daemon's unix socket (libcurl + jansson): version
 * negotiation, container listing and inspection by compose labels, logs, image digests. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "docker_internal.h"

#define BODY_MAX (4 * 1024 * 1024)

static void
curl_global_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
rg_net_init(void)
{
    /* libcurl's global setup is not thread-safe; every user goes through this once. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, curl_global_once);
}

struct header_capture {
    char api_version[16];
};

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
    struct header_capture *h = arg;
    size_t len = size * n;
    static const char name[] = "Api-Version:";

    if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t vl = len - (sizeof(name) - 1);
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof(h->api_version)) {
            memcpy(h->api_version, v, vl);
            h->api_version[vl] = '\0';
        }
    }
    return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
    struct docker_sink *s = arg;
    size_t len = size * n;

    if (s->decoder) {
        if (rg_frame_decoder_feed(s->decoder, s->buf, data, len, &s->err) < 0) {
            s->failed = true;
            return 0; /* aborts the transfer */
        }
        return len;
    }
    rg_buf_add(s->buf, data, len);
    return len;
}

/* Docker's errors come as {"message": "..."}; otherwise the start of the body. */
void
docker_error_message(char *out, size_t size, const struct rg_buf *body)
{
    json_t *j = body->data ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    int k;

    if (m)
        k = snprintf(out, size, "%s", m);
    else
        k = snprintf(out, size, "%.200s", body->data ? body->data : "");
    (void)k;
    json_decref(j);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

void
docker_setup_handle(CURL *c, const struct rg_docker *d, char *errbuf)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    errbuf[0] = '\0';
}

int
docker_request(struct docker_sink *sink, long *status, struct rg_docker *d, const char *method,
               const char *path, bool versioned, int64_t timeout_ms, struct rg_err *err)
{
    struct header_capture hc = {{0}};
    struct curl_slist *headers = NULL;
    char url[2048];
    CURLcode cc;
    int n;

    *status = 0;
    if (versioned)
        n = snprintf(url, sizeof(url), "http://docker/v%s%s", d->api, path);
    else
        n = snprintf(url, sizeof(url), "http://docker%s", path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return rg_err_set(err, RG_EINTERNAL, "docker request path too long");
    docker_setup_handle(d->curl, d, d->errbuf);
    curl_easy_setopt(d->curl, CURLOPT_URL, url);
    curl_easy_setopt(d->curl, CURLOPT_CUSTOMREQUEST, method);
    if (d->request_body) {
        curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, d->request_body);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, headers);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(d->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(d->curl, CURLOPT_HEADERDATA, &hc);
    cc = curl_easy_perform(d->curl);
    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (sink->failed) {
        *err = sink->err;
        return err->code;
    }
    if (cc != CURLE_OK)
        return rg_err_set(err, RG_ERUNTIME, "docker daemon at '%s' did not answer %s %s: %s",
                          d->socket, method, path, d->errbuf[0] ? d->errbuf
                                                                : curl_easy_strerror(cc));
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, status);
    if (hc.api_version[0] && !versioned)
        memcpy(d->ping_api, hc.api_version, sizeof(d->ping_api));
    return 0;
}

/* GET path into body, requiring 200. 404 → RG_ENOENT. */
int
docker_get(struct rg_buf *body, struct rg_docker *d, const char *path, struct rg_err *err)
{
    struct docker_sink sink = {.buf = body};
    char why[300];
    long status;
    int rc;

    if ((rc = docker_request(&sink, &status, d, "GET", path, true, 10000, err)) < 0)
        return rc;
    if (status == 400 && body->data && strstr(body->data, "client version")) {
        /* The daemon was upgraded or downgraded under us: negotiate again, once. */
        rg_buf_reset(body);
        if ((rc = docker_negotiate(d, err)) < 0 ||
            (rc = docker_request(&sink, &status, d, "GET", path, true, 10000, err)) < 0)
            return rc;
    }
    if (status == 200)
        return 0;
    docker_error_message(why, sizeof(why), body);
    return rg_err_set(err, status == 404 ? RG_ENOENT : RG_ERUNTIME,
                      "docker GET %s answered %ld: %s", path, status, why);
}

int
docker_negotiate(struct rg_docker *d, struct rg_err *err)
{
    struct rg_buf body;
    struct docker_sink sink = {.buf = &body};
    json_t *j = NULL;
    const char *api, *version;
    long status;
    int rc;

    rg_buf_init(&body, 64 * 1024);
    d->ping_api[0] = '\0';
    if ((rc = docker_request(&sink, &status, d, "GET", "/_ping", false, 5000, err)) < 0)
        goto out;
    if (status != 200) {
        rc = rg_err_set(err, RG_ERUNTIME, "docker daemon at '%s' answered /_ping with %ld",
                        d->socket, status);
        goto out;
    }
    rg_buf_reset(&body);
    if ((rc = docker_request(&sink, &status, d, "GET", "/version", false, 5000, err)) < 0)
        goto out;
    if (status != 200 || !(j = json_loadb(body.data ? body.data : "", body.len, 0, NULL))) {
        rc = rg_err_set(err, RG_ERUNTIME, "docker daemon at '%s' answered /version with %ld "
                                          "and no version document", d->socket, status);
        goto out;
    }
    api = json_string_value(json_object_get(j, "ApiVersion"));
    version = json_string_value(json_object_get(j, "Version"));
    if (!api)
        api = d->ping_api[0] ? d->ping_api : NULL;
    if (!api || strlen(api) >= sizeof(d->api)) {
        rc = rg_err_set(err, RG_ERUNTIME, "docker daemon at '%s' did not say its API version",
                        d->socket);
        goto out;
    }
    if (rg_docker_version_cmp(api, RG_DOCKER_MIN_API) < 0) {
        rc = rg_err_set(err, RG_ERUNTIME,
                        "docker daemon at '%s' speaks API %s; rollgate needs %s or newer "
                        "(Docker 20.10+)", d->socket, api, RG_DOCKER_MIN_API);
        goto out;
    }
    /* The daemon's newest API: Docker 29 refuses versions older than 1.44. */
    snprintf(d->api, sizeof(d->api), "%s", api);
    snprintf(d->daemon_version, sizeof(d->daemon_version), "%s", version ? version : "?");
out:
    json_decref(j);
    rg_buf_release(&body);
    return rc;
}

static const char *
default_socket(void)
{
    const char *host = getenv("DOCKER_HOST");

    if (host && strncmp(host, "unix://", 7) == 0 && host[7])
        return host + 7;
    return RG_DOCKER_DEFAULT_SOCKET;
}

int
rg_docker_open(struct rg_docker **out, const char *socket_path, struct rg_err *err)
{
    struct rg_docker *d;
    int rc;

    *out = NULL;
    rg_net_init();
    d = rg_calloc(1, sizeof(*d));
    d->socket = rg_strdup(socket_path ? socket_path : default_socket());
    if (!(d->curl = curl_easy_init())) {
        rc = rg_err_set(err, RG_EINTERNAL, "cannot create a curl handle");
        goto out;
    }
    if ((rc = docker_negotiate(d, err)) < 0)
        goto out;
    *out = d;
    d = NULL;
out:
    rg_docker_close(d);
    return rc;
}

void
rg_docker_close(struct rg_docker *d)
{
    if (!d)
        return;
    if (d->curl)
        curl_easy_cleanup(d->curl);
    free(d->socket);
    free(d);
}

char *
docker_escape(const struct rg_docker *d, const char *s)
{
    char *e = curl_easy_escape(d->curl, s, 0);
    char *copy = rg_strdup(e ? e : "");

    curl_free(e);
    return copy;
}

/* The label filter of a compose project (and service) as Docker's filters JSON, URL-escaped. */
char *
docker_label_filter(const struct rg_docker *d, const char *project, const char *service,
                    const char *extra)
{
    json_t *f = json_object(), *labels = json_array();
    char *label, *dumped, *escaped;

    label = rg_asprintf("com.docker.compose.project=%s", project);
    json_array_append_new(labels, json_string(label));
    free(label);
    if (service) {
        label = rg_asprintf("com.docker.compose.service=%s", service);
        json_array_append_new(labels, json_string(label));
        free(label);
    }
    json_object_set_new(f, "label", labels);
    if (extra) {
        json_t *more = json_loads(extra, 0, NULL);
        if (more)
            json_object_update(f, more);
        json_decref(more);
    }
    dumped = json_dumps(f, JSON_COMPACT);
    escaped = docker_escape(d, dumped ? dumped : "{}");
    free(dumped);
    json_decref(f);
    return escaped;
}

int
rg_docker_list(struct rg_container **out, size_t *n, struct rg_docker *d, const char *project,
               const char *service, struct rg_err *err)
{
    struct rg_buf body;
    char *filter = docker_label_filter(d, project, service, NULL);
    char *path = rg_asprintf("/containers/json?all=1&filters=%s", filter);
    int rc;

    *out = NULL;
    *n = 0;
    rg_buf_init(&body, BODY_MAX);
    if ((rc = docker_get(&body, d, path, err)) == 0)
        rc = rg_docker_parse_list(out, n, body.data ? body.data : "", body.len, err);
    rg_buf_release(&body);
    free(path);
    free(filter);
    return rc;
}

int
rg_docker_inspect(struct rg_container *out, struct rg_docker *d, const char *id,
                  struct rg_err *err)
{
    struct rg_buf body;
    char *eid = docker_escape(d, id);
    char *path = rg_asprintf("/containers/%s/json", eid);
    int rc;

    memset(out, 0, sizeof(*out));
    rg_buf_init(&body, BODY_MAX);
    if ((rc = docker_get(&body, d, path, err)) == 0)
        rc = rg_docker_parse_inspect(out, body.data ? body.data : "", body.len, err);
    rg_buf_release(&body);
    free(path);
    free(eid);
    return rc;
}

int
rg_docker_logs(struct rg_buf *out, struct rg_docker *d, const char *id, int64_t since_ms,
               int tail, struct rg_err *err)
{
    struct rg_frame_decoder dec;
    struct docker_sink sink = {.buf = out, .decoder = &dec};
    char why[300], tailarg[32] = "all";
    char *eid = NULL, *path = NULL;
    size_t before = out->len;
    long status;
    int rc;

    /* The stream is framed unless the container has a TTY; the decoder tells which. */
    rg_frame_decoder_init_auto(&dec);
    if (tail > 0)
        snprintf(tailarg, sizeof(tailarg), "%d", tail);
    eid = docker_escape(d, id);
    path = rg_asprintf("/containers/%s/logs?stdout=1&stderr=1&tail=%s&since=%lld.%03lld", eid,
                       tailarg, (long long)(since_ms / 1000), (long long)(since_ms % 1000));
    if ((rc = docker_request(&sink, &status, d, "GET", path, true, 10000, err)) < 0)
        goto out;
    if (status != 200) {
        struct rg_buf copy = {.data = out->data + before, .len = out->len - before};
        docker_error_message(why, sizeof(why), &copy);
        out->len = before;
        if (out->data)
            out->data[before] = '\0';
        rc = rg_err_set(err, status == 404 ? RG_ENOENT : RG_ERUNTIME,
                        "docker logs of '%s' answered %ld: %s", id, status, why);
        goto out;
    }
    rg_frame_decoder_flush(&dec, out);
    if (!rg_frame_decoder_done(&dec))
        rc = rg_err_set(err, RG_ERUNTIME, "docker logs of '%s' ended inside a frame", id);
out:
    free(path);
    free(eid);
    return rc;
}

int
rg_docker_image_digest(char **out, struct rg_docker *d, const char *image, const char *repo,
                       struct rg_err *err)
{
    struct rg_buf body;
    json_t *j = NULL, *digests, *v;
    char *eimg = docker_escape(d, image);
    char *path = rg_asprintf("/images/%s/json", eimg);
    size_t i, rlen = strlen(repo);
    int rc;

    *out = NULL;
    rg_buf_init(&body, BODY_MAX);
    if ((rc = docker_get(&body, d, path, err)) < 0) {
        if (rc == RG_ENOENT)
            rg_err_set(err, RG_ENOENT, "image '%s' is not on this host", image);
        goto out;
    }
    if (!(j = json_loadb(body.data ? body.data : "", body.len, 0, NULL))) {
        rc = rg_err_set(err, RG_ERUNTIME, "image inspect of '%s' is not JSON", image);
        goto out;
    }
    digests = json_object_get(j, "RepoDigests");
    json_array_foreach(digests, i, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, repo, rlen) == 0 && s[rlen] == '@') {
            *out = rg_strdup(s);
            goto out;
        }
    }
    rc = rg_err_set(err, RG_ENOENT, "image '%s' has no digest from '%s' (was it pulled or "
                                    "pushed from there?)", image, repo);
out:
    json_decref(j);
    rg_buf_release(&body);
    free(path);
    free(eimg);
    return rc;
}

int
rg_docker_pull(struct rg_docker *d, const char *repo, const char *tag, int64_t timeout_ms,
               struct rg_err *err)
{
    struct rg_buf body;
    struct docker_sink sink = {.buf = &body};
    char *erepo = docker_escape(d, repo), *etag = docker_escape(d, tag);
    char *path = rg_asprintf("/images/create?fromImage=%s&tag=%s", erepo, etag);
    char why[300];
    long status;
    int rc;

    rg_buf_init(&body, BODY_MAX);
    if ((rc = docker_request(&sink, &status, d, "POST", path, true, timeout_ms, err)) < 0)
        goto out;
    if (status != 200) {
        docker_error_message(why, sizeof(why), &body);
        rc = rg_err_set(err, status == 404 ? RG_ENOENT : RG_ERUNTIME,
                        "pull of '%s:%s' answered %ld: %s", repo, tag, status, why);
        goto out;
    }
    /* A failed pull still answers 200: the failure is a line of the stream. */
    for (const char *p = body.data ? body.data : ""; *p;) {
        size_t len = strcspn(p, "\n");
        json_t *j = json_loadb(p, len, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "error"));
        if (msg) {
            rc = rg_err_set(err, RG_ERUNTIME, "pull of '%s:%s' failed: %s", repo, tag, msg);
            json_decref(j);
            goto out;
        }
        json_decref(j);
        p += len + (p[len] == '\n');
    }
    if (body.truncated)
        rc = rg_err_set(err, RG_ERUNTIME, "pull of '%s:%s' printed more than %d bytes; its "
                                          "result could not be read", repo, tag, BODY_MAX);
out:
    rg_buf_release(&body);
    free(path);
    free(erepo);
    free(etag);
    return rc;
}
