/* Private to runtime: the client's state and the request helpers shared by its files. */
#ifndef ROLLGATE_RUNTIME_DOCKER_INTERNAL_H
#define ROLLGATE_RUNTIME_DOCKER_INTERNAL_H

#include <curl/curl.h>

#include "rollgate/runtime.h"

struct rg_docker {
    CURL *curl;
    char *socket;
    char api[16];            /* negotiated, used in every versioned path */
    char ping_api[16];       /* Api-Version header of /_ping */
    char daemon_version[32];
    char errbuf[CURL_ERROR_SIZE];
    const char *request_body; /* JSON sent with the next request, or NULL */
};

/* Where a response body goes: a bounded buffer, through a frame decoder for logs. */
struct docker_sink {
    struct rg_buf *buf;
    struct rg_frame_decoder *decoder;
    bool failed;
    struct rg_err err;
};

int docker_negotiate(struct rg_docker *d, struct rg_err *err);
int docker_request(struct docker_sink *sink, long *status, struct rg_docker *d,
                   const char *method, const char *path, bool versioned, int64_t timeout_ms,
                   struct rg_err *err);
int docker_get(struct rg_buf *body, struct rg_docker *d, const char *path, struct rg_err *err);
void docker_setup_handle(CURL *c, const struct rg_docker *d, char *errbuf);
void docker_error_message(char *out, size_t size, const struct rg_buf *body);
char *docker_escape(const struct rg_docker *d, const char *s);
char *docker_label_filter(const struct rg_docker *d, const char *project, const char *service,
                          const char *extra);

#endif
