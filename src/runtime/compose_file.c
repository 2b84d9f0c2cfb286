/* Reading a compose file for `rollgate init`, with libyaml's document API: services, images,
 * the tag variable, published ports ("8069", "127.0.0.1:8069:8069", "8069:8069/tcp", the long
 * form) and environment (mapping or list). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rollgate/compose_file.h"
#include "rollgate/util.h"

#define COMPOSE_MAX_BYTES (1024 * 1024)

static yaml_node_t *
map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *
scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* repo[:tag][@digest]: the repository, and VAR when the tag is exactly ${VAR} or
 * ${VAR:-default}. The tag is after the last ':' that follows the last '/' (a registry may have
 * a port); a variable elsewhere (the registry's) is not the release's. */
static void
split_image(struct rg_compose_service *s)
{
    const char *img = s->image, *at = strchr(img, '@');
    size_t end = at ? (size_t)(at - img) : strlen(img);
    const char *slash = NULL, *colon = NULL;

    for (const char *p = img; p < img + end; p++) {
        if (*p == '/')
            slash = p;
    }
    /* ':' after the last '/', not inside a ${...} of the tag itself. */
    for (const char *p = slash ? slash : img; p < img + end; p++) {
        if (*p == '$' && p[1] == '{')
            break;
        if (*p == ':')
            colon = p;
    }
    if (!colon) {
        const char *d = slash ? strstr(slash, ":${") : strstr(img, ":${");
        if (d && d < img + end)
            colon = d;
    }
    s->repo = rg_strndup(img, colon ? (size_t)(colon - img) : end);
    if (colon && !at && strncmp(colon + 1, "${", 2) == 0 && img[end - 1] == '}' &&
        !memchr(colon + 2, '}', (size_t)(img + end - 1 - (colon + 2)))) {
        const char *name = colon + 3;
        size_t n = strcspn(name, ":-}?");
        if (n)
            s->tag_var = rg_strndup(name, n);
    }
}

/* A port number, or 0 when it is not one (a range, a variable: not init's business). */
static int
port_num(const char *text)
{
    long long v;
    struct rg_err err;

    return text && rg_int_parse(&v, text, 1, 65535, &err) == 0 ? (int)v : 0;
}

static void
add_port(struct rg_compose_service *s, const char *host_ip, size_t ip_len, int host,
         int container, bool udp)
{
    s->ports = rg_realloc(s->ports, (s->n_ports + 1) * sizeof(*s->ports));
    struct rg_compose_port *p = &s->ports[s->n_ports++];
    snprintf(p->host_ip, sizeof(p->host_ip), "%.*s", host_ip ? (int)ip_len : 0,
             host_ip ? host_ip : "");
    p->host = host;
    p->container = container;
    p->udp = udp;
}

/* The short form: [[IP:]HOST:]CONTAINER[/PROTO], IP possibly "[v6]"; ranges are not init's
 * business (they parse as no port). */
static void
short_port(struct rg_compose_service *s, const char *spec)
{
    char buf[128], *parts[3];
    const char *ip = NULL;
    size_t ip_len = 0;
    bool udp = strstr(spec, "/udp") != NULL;
    int n = 0;

    if (spec[0] == '[') { /* [::1]:8080:80 */
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return;
        ip = spec + 1;
        ip_len = (size_t)(close - spec - 1);
        spec = close + 2;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    buf[strcspn(buf, "/")] = '\0';
    for (char *save = NULL, *t = strtok_r(buf, ":", &save); t && n < 3;
         t = strtok_r(NULL, ":", &save))
        parts[n++] = t;
    if (ip && n == 2)
        add_port(s, ip, ip_len, port_num(parts[0]), port_num(parts[1]), udp);
    else if (n == 1 && !ip)
        add_port(s, NULL, 0, 0, port_num(parts[0]), udp);
    else if (n == 2 && !ip)
        add_port(s, NULL, 0, port_num(parts[0]), port_num(parts[1]), udp);
    else if (n == 3 && !ip)
        add_port(s, parts[0], strlen(parts[0]), port_num(parts[1]), port_num(parts[2]), udp);
}

static void
read_service(struct rg_compose_service *s, yaml_document_t *d, yaml_node_t *key, yaml_node_t *v)
{
    yaml_node_t *n;

    s->name = rg_strdup((char *)key->data.scalar.value);
    s->line = (int)key->start_mark.line + 1;
    if ((n = map_get(d, v, "image")) && scalar(n)) {
        s->image = rg_strdup(scalar(n));
        s->line = (int)n->start_mark.line + 1;
        split_image(s);
    }
    if ((n = map_get(d, v, "ports")) && n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            yaml_node_t *item = yaml_document_get_node(d, *i);
            if (scalar(item)) {
                short_port(s, scalar(item));
            } else if (item && item->type == YAML_MAPPING_NODE) {
                const char *t = scalar(map_get(d, item, "target"));
                const char *p = scalar(map_get(d, item, "published"));
                const char *ip = scalar(map_get(d, item, "host_ip"));
                const char *proto = scalar(map_get(d, item, "protocol"));
                if (t)
                    add_port(s, ip, ip ? strlen(ip) : 0, port_num(p), port_num(t),
                             proto && strcmp(proto, "udp") == 0);
            }
        }
    }
    if ((n = map_get(d, v, "environment"))) {
        if (n->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
                 p++) {
                const char *k = scalar(yaml_document_get_node(d, p->key));
                const char *val = scalar(yaml_document_get_node(d, p->value));
                if (k) {
                    char *kv = rg_asprintf("%s=%s", k, val ? val : "");
                    rg_strv_push(&s->env, kv);
                    free(kv);
                }
            }
        } else if (n->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *i = n->data.sequence.items.start;
                 i < n->data.sequence.items.top; i++)
                if (scalar(yaml_document_get_node(d, *i)))
                    rg_strv_push(&s->env, scalar(yaml_document_get_node(d, *i)));
        }
    }
}

int
rg_compose_file_read(struct rg_compose_file *out, const char *path, struct rg_err *err)
{
    struct rg_buf text;
    int rc;

    memset(out, 0, sizeof(*out));
    rg_buf_init(&text, COMPOSE_MAX_BYTES);
    if ((rc = rg_fs_read_file(&text, path, err)) < 0) {
        rg_buf_release(&text);
        return rc;
    }
    if (text.truncated)
        rc = rg_err_set(err, RG_EINVAL, "'%s' is larger than %d bytes: not a compose file",
                        path, COMPOSE_MAX_BYTES);
    else
        rc = rg_compose_file_parse(out, path, text.data ? text.data : "", text.len, err);
    rg_buf_release(&text);
    return rc;
}

#define COMPOSE_MAX_DEPTH 64
#define COMPOSE_MAX_SERVICES 500

/* libyaml's document loader takes time quadratic in the nesting depth: a compose file is
 * shallow, so a deep one is refused from its events before it is loaded. */
static int
check_depth(const char *name, const char *data, size_t len, struct rg_err *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int depth = 0, rc = 0;
    bool done = false;

    if (!yaml_parser_initialize(&parser))
        rg_malloc((size_t)-1);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &ev))
            break; /* the loader reports syntax errors with their place */
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > COMPOSE_MAX_DEPTH)
                rc = rg_err_set(err, RG_EINVAL, "%s:%zu: nested deeper than %d levels: not a "
                                                "compose file",
                                name, ev.start_mark.line + 1, COMPOSE_MAX_DEPTH);
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int
rg_compose_file_parse(struct rg_compose_file *out, const char *name, const char *data,
                      size_t len, struct rg_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root, *services;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len > COMPOSE_MAX_BYTES)
        return rg_err_set(err, RG_EINVAL, "'%s' is larger than %d bytes: not a compose file",
                          name, COMPOSE_MAX_BYTES);
    if ((rc = check_depth(name, data, len, err)) < 0)
        return rc;
    if (!yaml_parser_initialize(&parser))
        rg_malloc((size_t)-1); /* libyaml fails only when out of memory */
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = rg_err_set(err, RG_EINVAL, "%s:%zu:%zu: invalid YAML: %s", name,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return rc;
    }
    root = yaml_document_get_root_node(&doc);
    services = map_get(&doc, root, "services");
    if (!services || services->type != YAML_MAPPING_NODE ||
        services->data.mapping.pairs.top == services->data.mapping.pairs.start) {
        rc = rg_err_set(err, RG_EINVAL, "'%s' has no 'services' mapping: not a compose file "
                                        "rollgate can read (compose file format 2 or later)",
                        name);
        goto out;
    }
    if (services->data.mapping.pairs.top - services->data.mapping.pairs.start >
        COMPOSE_MAX_SERVICES) {
        rc = rg_err_set(err, RG_EINVAL, "'%s' has more than %d services: not a stack init can "
                                        "draft a playbook for",
                        name, COMPOSE_MAX_SERVICES);
        goto out;
    }
    if (scalar(map_get(&doc, root, "name")))
        out->project_name = rg_strdup(scalar(map_get(&doc, root, "name")));
    for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
         p < services->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (!scalar(k) || !v || v->type != YAML_MAPPING_NODE)
            continue;
        out->services = rg_realloc(out->services, (out->n_services + 1) * sizeof(*out->services));
        memset(&out->services[out->n_services], 0, sizeof(*out->services));
        read_service(&out->services[out->n_services++], &doc, k, v);
    }
    rc = 0;
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc < 0)
        rg_compose_file_release(out);
    return rc;
}

void
rg_compose_file_release(struct rg_compose_file *f)
{
    for (size_t i = 0; i < f->n_services; i++) {
        struct rg_compose_service *s = &f->services[i];
        free(s->name);
        free(s->image);
        free(s->repo);
        free(s->tag_var);
        free(s->ports);
        rg_strv_release(&s->env);
    }
    free(f->services);
    free(f->project_name);
    memset(f, 0, sizeof(*f));
}

const char *
rg_compose_service_env(const struct rg_compose_service *s, const char *key)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i < s->env.n; i++)
        if (strncmp(s->env.v[i], key, kl) == 0 && s->env.v[i][kl] == '=')
            return s->env.v[i] + kl + 1;
    return NULL;
}
