/* Decoders of the Docker daemon's JSON answers. A missing or mistyped field is either a default
 * (for fields Docker omits, such as State.Health) or an error naming the field; never a crash. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/runtime.h"

#define PROJECT_LABEL "com.docker.compose.project"
#define SERVICE_LABEL "com.docker.compose.service"

static char *
dup_string(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? rg_strdup(json_string_value(v)) : NULL;
}

void
rg_container_release(struct rg_container *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->name);
    free(c->project);
    free(c->service);
    free(c->image);
    free(c->image_id);
    free(c->status);
    free(c->health);
    free(c->health_output);
    free(c->ip);
    free(c->mac);
    free(c->ports);
    memset(c, 0, sizeof(*c));
}

void
rg_containers_free(struct rg_container *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_container_release(&v[i]);
    free(v);
}

static int
days_from_civil(int y, int m, int d)
{
    /* Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's method). */
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool
digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int
rg_docker_parse_time(int64_t *ms_out, const char *s, struct rg_err *err)
{
    int y, mo, d, h, mi, sec, ms = 0;
    const char *p;
    int64_t t;

    *ms_out = 0;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec) ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return rg_err_set(err, RG_EINVAL, "invalid time '%.40s'", s);
    if (y <= 1)
        return 0; /* Go's zero time: never happened */
    p = s + 19;
    if (*p == '.') {
        int scale = 100;
        for (p++; isdigit((unsigned char)*p); p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    t = (int64_t)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return rg_err_set(err, RG_EINVAL, "invalid time offset in '%.40s'", s);
        t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
        p += 6;
    } else {
        return rg_err_set(err, RG_EINVAL, "invalid time '%.40s' (no zone)", s);
    }
    if (*p)
        return rg_err_set(err, RG_EINVAL, "invalid time '%.40s'", s);
    *ms_out = t * 1000 + ms;
    return 0;
}

static int
parse_time_field(int64_t *out, json_t *o, const char *key, struct rg_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return rg_err_set(err, RG_EINVAL, "field '%s' is not a string", key);
    if (rg_docker_parse_time(out, json_string_value(v), err) < 0)
        return rg_err_prefix(err, "field '%s': ", key);
    return 0;
}

static void
labels_into(struct rg_container *c, json_t *labels)
{
    if (!json_is_object(labels))
        return;
    free(c->project);
    free(c->service);
    c->project = dup_string(labels, PROJECT_LABEL);
    c->service = dup_string(labels, SERVICE_LABEL);
}

static int
load_json(json_t **out, const char *json, size_t len, const char *what, struct rg_err *err)
{
    json_error_t je;

    *out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!*out)
        return rg_err_set(err, RG_ERUNTIME, "invalid JSON in %s: %s at line %d column %d", what,
                          je.text, je.line, je.column);
    return 0;
}

static int
bool_field(bool *out, json_t *o, const char *key, struct rg_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = false;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return rg_err_set(err, RG_ERUNTIME, "field '%s' is not true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int
int_field(int *out, json_t *o, const char *key, struct rg_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < -2147483647 - 1 ||
        json_integer_value(v) > 2147483647)
        return rg_err_set(err, RG_ERUNTIME, "field '%s' is not a whole number", key);
    *out = (int)json_integer_value(v);
    return 0;
}

static void
health_into(struct rg_container *c, json_t *health)
{
    json_t *log, *last;
    size_t n;

    if (!json_is_object(health))
        return;
    c->health = dup_string(health, "Status");
    log = json_object_get(health, "Log");
    if (json_is_array(log) && (n = json_array_size(log)) > 0) {
        last = json_array_get(log, n - 1);
        c->health_output = json_is_object(last) ? dup_string(last, "Output") : NULL;
    }
}

/* The first network endpoint with an IPv4 address: what the host's neighbour entry is for. */
static void
address_into(struct rg_container *c, json_t *networks)
{
    const char *key;
    json_t *ep;

    json_object_foreach(networks, key, ep) {
        const char *ip = json_string_value(json_object_get(ep, "IPAddress"));
        const char *mac = json_string_value(json_object_get(ep, "MacAddress"));
        if (ip && ip[0] && mac && mac[0]) {
            c->ip = rg_strdup(ip);
            c->mac = rg_strdup(mac);
            return;
        }
    }
}

int
rg_docker_parse_inspect(struct rg_container *out, const char *json, size_t len,
                        struct rg_err *err)
{
    json_t *root = NULL, *state, *config;
    struct rg_container c = {0};
    const char *name;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = load_json(&root, json, len, "container inspect", err)) < 0)
        return rc;
    state = json_object_get(root, "State");
    config = json_object_get(root, "Config");
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "Id")) ||
        !json_is_object(state)) {
        rc = rg_err_set(err, RG_ERUNTIME, "container inspect lacks 'Id' or 'State'");
        goto out;
    }
    c.id = dup_string(root, "Id");
    name = json_string_value(json_object_get(root, "Name"));
    c.name = rg_strdup(name ? (name[0] == '/' ? name + 1 : name) : "");
    c.image_id = dup_string(root, "Image");
    c.status = dup_string(state, "Status");
    if (!c.status) {
        rc = rg_err_set(err, RG_ERUNTIME, "container inspect lacks 'State.Status'");
        goto out;
    }
    /* RestartCount is top-level, not under State. */
    if ((rc = int_field(&c.restart_count, root, "RestartCount", err)) < 0 ||
        (rc = bool_field(&c.running, state, "Running", err)) < 0 ||
        (rc = bool_field(&c.restarting, state, "Restarting", err)) < 0 ||
        (rc = bool_field(&c.oom_killed, state, "OOMKilled", err)) < 0 ||
        (rc = int_field(&c.exit_code, state, "ExitCode", err)) < 0 ||
        (rc = parse_time_field(&c.started_at_ms, state, "StartedAt", err)) < 0 ||
        (rc = parse_time_field(&c.finished_at_ms, state, "FinishedAt", err)) < 0)
        goto out;
    if (c.finished_at_ms < c.started_at_ms)
        c.finished_at_ms = 0; /* Docker keeps the previous run's finish time while running */
    health_into(&c, json_object_get(state, "Health"));
    address_into(&c, json_object_get(json_object_get(root, "NetworkSettings"), "Networks"));
    if (json_is_object(config)) {
        c.image = dup_string(config, "Image");
        if ((rc = bool_field(&c.tty, config, "Tty", err)) < 0)
            goto out;
        labels_into(&c, json_object_get(config, "Labels"));
    }
    *out = c;
    memset(&c, 0, sizeof(c));
out:
    if (rc < 0)
        rg_err_prefix(err, "cannot read container inspect: ");
    rg_container_release(&c);
    json_decref(root);
    return rc;
}

/* "Ports": [{"IP":"127.0.0.1","PrivatePort":8069,"PublicPort":18069,"Type":"tcp"}, ...]: TCP
 * only; a port published on IPv4 and IPv6 is listed twice by Docker and kept once. */
static void
ports_into(struct rg_container *c, const json_t *ports)
{
    size_t i;
    json_t *p;

    if (!json_is_array(ports) || json_array_size(ports) == 0)
        return;
    c->ports = rg_calloc(json_array_size(ports), sizeof(*c->ports));
    json_array_foreach(ports, i, p) {
        const char *type = json_string_value(json_object_get(p, "Type"));
        const char *ip = json_string_value(json_object_get(p, "IP"));
        json_int_t priv = json_integer_value(json_object_get(p, "PrivatePort"));
        json_int_t pub = json_integer_value(json_object_get(p, "PublicPort"));
        bool seen = false;
        if ((type && strcmp(type, "tcp") != 0) || priv <= 0 || priv > 65535 || pub < 0 ||
            pub > 65535)
            continue;
        for (size_t k = 0; k < c->n_ports && !seen; k++)
            seen = c->ports[k].private_port == (int)priv && c->ports[k].public_port == (int)pub;
        if (seen || (ip && strchr(ip, ':')))
            continue;
        c->ports[c->n_ports].private_port = (int)priv;
        c->ports[c->n_ports].public_port = (int)pub;
        snprintf(c->ports[c->n_ports].ip, sizeof(c->ports[c->n_ports].ip), "%s", ip ? ip : "");
        c->n_ports++;
    }
}

int
rg_docker_parse_list(struct rg_container **out, size_t *n, const char *json, size_t len,
                     struct rg_err *err)
{
    struct rg_container *v = NULL;
    json_t *root = NULL, *item;
    size_t i, count = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = load_json(&root, json, len, "container list", err)) < 0)
        return rc;
    if (!json_is_array(root)) {
        rc = rg_err_set(err, RG_ERUNTIME, "container list is not a JSON array");
        goto out;
    }
    v = rg_calloc(json_array_size(root) + 1, sizeof(*v));
    json_array_foreach(root, i, item) {
        struct rg_container *c = &v[count];
        json_t *names;
        if (!json_is_object(item) || !json_is_string(json_object_get(item, "Id"))) {
            rc = rg_err_set(err, RG_ERUNTIME, "container list entry %zu lacks 'Id'", i);
            goto out;
        }
        count++;
        c->id = dup_string(item, "Id");
        names = json_object_get(item, "Names");
        if (json_is_array(names) && json_is_string(json_array_get(names, 0))) {
            const char *nm = json_string_value(json_array_get(names, 0));
            c->name = rg_strdup(nm[0] == '/' ? nm + 1 : nm);
        } else {
            c->name = rg_strdup("");
        }
        c->image = dup_string(item, "Image");
        c->image_id = dup_string(item, "ImageID");
        c->status = dup_string(item, "State");
        c->running = c->status && strcmp(c->status, "running") == 0;
        c->restarting = c->status && strcmp(c->status, "restarting") == 0;
        labels_into(c, json_object_get(item, "Labels"));
        address_into(c, json_object_get(json_object_get(item, "NetworkSettings"), "Networks"));
        ports_into(c, json_object_get(item, "Ports"));
    }
    *out = v;
    *n = count;
    v = NULL;
out:
    rg_containers_free(v, count);
    json_decref(root);
    return rc;
}

static enum rg_docker_event_kind
event_kind(const char *action)
{
    if (strcmp(action, "die") == 0)
        return RG_DOCKER_EV_DIE;
    if (strcmp(action, "oom") == 0)
        return RG_DOCKER_EV_OOM;
    if (strcmp(action, "restart") == 0)
        return RG_DOCKER_EV_RESTART;
    if (strcmp(action, "start") == 0)
        return RG_DOCKER_EV_START;
    if (strncmp(action, "health_status", 13) == 0)
        return RG_DOCKER_EV_HEALTH;
    if (strcmp(action, "kill") == 0 || strcmp(action, "stop") == 0)
        return RG_DOCKER_EV_KILL;
    return RG_DOCKER_EV_OTHER;
}

static void
copy_into(char *dst, size_t size, const char *src)
{
    int n = snprintf(dst, size, "%s", src ? src : "");
    (void)n; /* truncation is fine: these are labels for evidence */
}

int
rg_docker_parse_event(struct rg_docker_event *out, const char *json, size_t len,
                      struct rg_err *err)
{
    json_t *root = NULL, *actor, *attrs, *tn;
    const char *action, *code;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->exit_code = -1;
    if ((rc = load_json(&root, json, len, "event", err)) < 0)
        return rc;
    action = json_string_value(json_object_get(root, "Action"));
    if (!action)
        action = json_string_value(json_object_get(root, "status"));
    actor = json_object_get(root, "Actor");
    if (!json_is_object(root) || !action || !json_is_object(actor)) {
        rc = rg_err_set(err, RG_ERUNTIME, "event lacks 'Action' or 'Actor'");
        goto out;
    }
    attrs = json_object_get(actor, "Attributes");
    copy_into(out->action, sizeof(out->action), action);
    out->kind = event_kind(action);
    copy_into(out->id, sizeof(out->id), json_string_value(json_object_get(actor, "ID")));
    if (json_is_object(attrs)) {
        copy_into(out->service, sizeof(out->service),
                  json_string_value(json_object_get(attrs, SERVICE_LABEL)));
        copy_into(out->name, sizeof(out->name), json_string_value(json_object_get(attrs, "name")));
        copy_into(out->image, sizeof(out->image),
                  json_string_value(json_object_get(attrs, "image")));
        if ((code = json_string_value(json_object_get(attrs, "exitCode")))) {
            long long v;
            struct rg_err ignored;
            if (rg_int_parse(&v, code, -1, 255, &ignored) == 0)
                out->exit_code = (int)v;
        }
    }
    tn = json_object_get(root, "timeNano");
    /* A time that cannot be a Unix time in ms (negative, or overflowing) is left at 0. */
    if (json_is_integer(tn) && json_integer_value(tn) > 0) {
        out->time_ms = json_integer_value(tn) / 1000000;
    } else if (json_is_integer(json_object_get(root, "time"))) {
        json_int_t t = json_integer_value(json_object_get(root, "time"));
        if (t > 0 && t < INT64_MAX / 1000)
            out->time_ms = t * 1000;
    }
out:
    json_decref(root);
    return rc;
}

/* Reads up to max dot-separated numbers; returns where the numbers end (a suffix such as
 * "-beta" or ""). Missing numbers are 0, so "1.41" equals "1.41.0". */
static const char *
version_numbers(const char *v, long *nums, size_t max)
{
    size_t i = 0;

    memset(nums, 0, max * sizeof(*nums));
    while (isdigit((unsigned char)*v)) {
        long n = 0;
        while (isdigit((unsigned char)*v)) {
            if (n < 100000000)
                n = n * 10 + (*v - '0');
            v++;
        }
        if (i < max)
            nums[i++] = n;
        if (*v != '.' || !isdigit((unsigned char)v[1]))
            break;
        v++;
    }
    return v;
}

int
rg_docker_version_cmp(const char *a, const char *b)
{
    long x[8], y[8];
    const char *sa = version_numbers(a, x, 8), *sb = version_numbers(b, y, 8);
    int c;

    for (size_t i = 0; i < 8; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    /* Equal numbers: a suffix marks a pre-release, older than the plain version. */
    if (!*sa || !*sb)
        return *sa ? -1 : *sb ? 1 : 0;
    c = strcmp(sa, sb);
    return c < 0 ? -1 : c > 0;
}
