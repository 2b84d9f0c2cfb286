/* Making a container again from its inspect document, and the lifecycle calls around it: what a
 * rollback needs to bring back the containers that served before a deploy without running
 * compose (whose start-up alone costs more than the whole switch). The labels stay the same, so
 * compose still sees the containers as its own and up to date. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "docker_internal.h"

#define BODY_MAX (4 * 1024 * 1024)
#define CHANGE_TIMEOUT_MS 30000

static int
load_inspect(json_t **out, const char *json, struct rg_err *err)
{
    json_error_t je;

    *out = json_loads(json, 0, &je);
    if (!*out || !json_is_object(*out))
        return rg_err_set(err, RG_ERUNTIME, "container inspect is not a JSON object: %s",
                          *out ? "not an object" : je.text);
    return 0;
}

/* Network aliases without the old container's short id: Docker adds the new one's itself. */
static json_t *
aliases_without(json_t *aliases, const char *short_id)
{
    json_t *out = json_array(), *a;
    size_t i;

    json_array_foreach(aliases, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), short_id) != 0)
            json_array_append(out, a);
    }
    return out;
}

int
rg_docker_create_body(char **body_out, char **name_out, const char *inspect_json,
                      struct rg_err *err)
{
    json_t *root = NULL, *body = NULL, *config, *host, *networks, *endpoints, *ep;
    const char *id, *name, *net;
    char short_id[13];
    int rc;

    *body_out = NULL;
    *name_out = NULL;
    if ((rc = load_inspect(&root, inspect_json, err)) < 0)
        goto out;
    id = json_string_value(json_object_get(root, "Id"));
    name = json_string_value(json_object_get(root, "Name"));
    config = json_object_get(root, "Config");
    host = json_object_get(root, "HostConfig");
    networks = json_object_get(json_object_get(root, "NetworkSettings"), "Networks");
    if (!id || strlen(id) < 12 || !name || !name[0] || !json_is_object(config) ||
        !json_is_object(host)) {
        rc = rg_err_set(err, RG_ERUNTIME, "container inspect lacks 'Id', 'Name', 'Config' or "
                                          "'HostConfig'");
        goto out;
    }
    if (json_is_object(networks) && json_object_size(networks) > 1) {
        /* The create call takes one endpoint; more need connect calls compose would make. */
        rc = rg_err_set(err, RG_ERUNTIME, "container '%s' is on %zu networks; only a container "
                                          "on one network is made again directly",
                        name[0] == '/' ? name + 1 : name, json_object_size(networks));
        goto out;
    }
    snprintf(short_id, sizeof(short_id), "%.12s", id);
    body = json_deep_copy(config);
    /* Docker sets Hostname to the container's short id unless one was asked for. */
    if (json_is_string(json_object_get(body, "Hostname")) &&
        strcmp(json_string_value(json_object_get(body, "Hostname")), short_id) == 0)
        json_object_del(body, "Hostname");
    json_object_set_new(body, "HostConfig", json_deep_copy(host));
    endpoints = json_object();
    json_object_foreach(networks, net, ep) {
        json_t *e = json_object();
        if (json_is_object(json_object_get(ep, "IPAMConfig")))
            json_object_set(e, "IPAMConfig", json_object_get(ep, "IPAMConfig"));
        if (json_is_array(json_object_get(ep, "Links")))
            json_object_set(e, "Links", json_object_get(ep, "Links"));
        if (json_is_array(json_object_get(ep, "Aliases")))
            json_object_set_new(e, "Aliases",
                                aliases_without(json_object_get(ep, "Aliases"), short_id));
        if (json_is_object(json_object_get(ep, "DriverOpts")))
            json_object_set(e, "DriverOpts", json_object_get(ep, "DriverOpts"));
        json_object_set_new(endpoints, net, e);
    }
    json_object_set_new(body, "NetworkingConfig",
                        json_pack("{s:o}", "EndpointsConfig", endpoints));
    {
        char *dumped = json_dumps(body, JSON_COMPACT);
        *body_out = rg_strdup(dumped ? dumped : "{}");
        free(dumped);
    }
    *name_out = rg_strdup(name[0] == '/' ? name + 1 : name);
    rc = 0;
out:
    json_decref(body);
    json_decref(root);
    return rc;
}

/* A request whose answer must be one of the given statuses; the daemon's message otherwise. */
static int
change(struct rg_buf *answer, struct rg_docker *d, const char *method, const char *path,
       const char *json, long ok1, long ok2, const char *what, struct rg_err *err)
{
    struct docker_sink sink = {.buf = answer};
    char why[300];
    long status;
    int rc;

    d->request_body = json;
    rc = docker_request(&sink, &status, d, method, path, true, CHANGE_TIMEOUT_MS, err);
    d->request_body = NULL;
    if (rc < 0)
        return rc;
    if (status == ok1 || status == ok2)
        return 0;
    docker_error_message(why, sizeof(why), answer);
    return rg_err_set(err, status == 404 ? RG_ENOENT : RG_ERUNTIME, "cannot %s: docker answered "
                      "%ld: %s", what, status, why);
}

/* The image the container ran must still be what its reference names: a tag pushed again since
 * would make "the same container" a different release. */
static int
same_image(struct rg_docker *d, json_t *root, struct rg_err *err)
{
    const char *ref = json_string_value(json_object_get(json_object_get(root, "Config"), "Image"));
    const char *had = json_string_value(json_object_get(root, "Image"));
    struct rg_buf body;
    json_t *img = NULL;
    char *eref = NULL, *path = NULL;
    int rc;

    if (!ref || !had)
        return rg_err_set(err, RG_ERUNTIME, "container inspect lacks 'Image'");
    rg_buf_init(&body, BODY_MAX);
    eref = docker_escape(d, ref);
    path = rg_asprintf("/images/%s/json", eref);
    if ((rc = docker_get(&body, d, path, err)) < 0)
        goto out;
    img = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    if (!json_is_string(json_object_get(img, "Id")) ||
        strcmp(json_string_value(json_object_get(img, "Id")), had) != 0)
        rc = rg_err_set(err, RG_ERUNTIME, "image '%s' is no longer the image %.19s the container "
                        "ran", ref, had);
out:
    json_decref(img);
    free(path);
    free(eref);
    rg_buf_release(&body);
    return rc;
}

int
rg_docker_create_like(char **id_out, struct rg_docker *d, const char *inspect_json,
                      struct rg_err *err)
{
    struct rg_buf answer;
    json_t *root = NULL, *created = NULL;
    char *body = NULL, *name = NULL, *ename = NULL, *path = NULL;
    int rc;

    *id_out = NULL;
    rg_buf_init(&answer, BODY_MAX);
    if ((rc = load_inspect(&root, inspect_json, err)) < 0 ||
        (rc = same_image(d, root, err)) < 0 ||
        (rc = rg_docker_create_body(&body, &name, inspect_json, err)) < 0)
        goto out;
    ename = docker_escape(d, name);
    path = rg_asprintf("/containers/create?name=%s", ename);
    if ((rc = change(&answer, d, "POST", path, body, 201, 201, "create the container", err)) < 0)
        goto out;
    created = json_loadb(answer.data ? answer.data : "", answer.len, 0, NULL);
    if (!json_is_string(json_object_get(created, "Id"))) {
        rc = rg_err_set(err, RG_ERUNTIME, "container create answered without an 'Id'");
        goto out;
    }
    *id_out = rg_strdup(json_string_value(json_object_get(created, "Id")));
out:
    if (rc < 0)
        rg_err_prefix(err, "container '%s': ", name ? name : "?");
    json_decref(created);
    json_decref(root);
    free(path);
    free(ename);
    free(name);
    free(body);
    rg_buf_release(&answer);
    return rc;
}

int
rg_docker_start(struct rg_docker *d, const char *id, struct rg_err *err)
{
    struct rg_buf answer;
    char *eid = docker_escape(d, id);
    char *path = rg_asprintf("/containers/%s/start", eid);
    int rc;

    rg_buf_init(&answer, BODY_MAX);
    /* 304: it was running already. */
    rc = change(&answer, d, "POST", path, NULL, 204, 304, "start the container", err);
    rg_buf_release(&answer);
    free(path);
    free(eid);
    return rc;
}

int
rg_docker_remove(struct rg_docker *d, const char *id, struct rg_err *err)
{
    struct rg_buf answer;
    char *eid = docker_escape(d, id);
    char *path = rg_asprintf("/containers/%s?force=1&v=0", eid);
    int rc;

    rg_buf_init(&answer, BODY_MAX);
    rc = change(&answer, d, "DELETE", path, NULL, 204, 204, "remove the container", err);
    if (rc == RG_ENOENT)
        rc = 0;
    rg_buf_release(&answer);
    free(path);
    free(eid);
    return rc;
}

int
rg_docker_inspect_raw(char **out, struct rg_docker *d, const char *id, struct rg_err *err)
{
    struct rg_buf body;
    char *eid = docker_escape(d, id);
    char *path = rg_asprintf("/containers/%s/json", eid);
    int rc;

    *out = NULL;
    rg_buf_init(&body, BODY_MAX);
    if ((rc = docker_get(&body, d, path, err)) == 0) {
        if (body.truncated)
            rc = rg_err_set(err, RG_ERUNTIME, "inspect of container '%s' is larger than %d "
                            "bytes", id, BODY_MAX);
        else
            *out = rg_strdup(body.data ? body.data : "{}");
    }
    rg_buf_release(&body);
    free(path);
    free(eid);
    return rc;
}
