/* What `rollgate init` reads from a compose file: the services, their images (and the variable
 * that holds a tag), published ports and environment. Read, never run: nothing is resolved
 * against the environment. */
#ifndef ROLLGATE_COMPOSE_FILE_H
#define ROLLGATE_COMPOSE_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "rollgate/err.h"
#include "rollgate/util.h"

struct rg_compose_port {
    char host_ip[64]; /* "" when not given; IPv6 without brackets */
    int host;         /* 0: not published on a fixed host port */
    int container;
    bool udp;
};

struct rg_compose_service {
    char *name;
    char *image;      /* as written, "${VAR}" included; NULL when the service only builds */
    char *repo;       /* image without its tag; NULL when no image */
    char *tag_var;    /* VAR when the whole tag is "${VAR}" or "${VAR:-default}"; NULL otherwise
                         (a fixed tag, a digest, a tag with text around the variable) */
    int line;         /* of the image key (1-based), else of the service */
    struct rg_compose_port *ports;
    size_t n_ports;
    struct rg_strv env; /* "KEY=VALUE" as written (mapping or list form) */
};

struct rg_compose_file {
    struct rg_compose_service *services;
    size_t n_services;
    char *project_name; /* the top-level `name:`, or NULL */
};

/* Reads path. RG_ENOENT when it does not exist, RG_EINVAL when it is not a compose file (with
 * the line), nests deeper than 64 levels or has more than 500 services, RG_EIO when it cannot
 * be read. */
int rg_compose_file_read(struct rg_compose_file *out, const char *path, struct rg_err *err);
/* The same for a document in memory (name is used in messages; the fuzzer). */
int rg_compose_file_parse(struct rg_compose_file *out, const char *name, const char *data,
                          size_t len, struct rg_err *err);
void rg_compose_file_release(struct rg_compose_file *f);
/* The value of KEY in a service's environment, or NULL. */
const char *rg_compose_service_env(const struct rg_compose_service *s, const char *key);

#endif
