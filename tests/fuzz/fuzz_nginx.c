/* libFuzzer target for diagnose's readers of nginx's output: any bytes as an error-log line, an
 * access-log line and a whole `nginx -T` dump (with the checks diagnose runs on a parsed one),
 * with no crash, leak or undefined behaviour; the line parsers get exactly size bytes, no NUL
 * after them, as the backward reader hands them out. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/nginx_conf.h"
#include "diagnose/nginx_log.h"
#include "rollgate/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_nginx_errline e;
    struct rg_nginx_accline a;
    struct rg_nginx_conf *conf = NULL;
    struct rg_err err;
    char *copy = malloc(size ? size : 1);

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    (void)rg_nginx_errlog_parse(&e, copy, size, NULL);
    (void)rg_nginx_access_parse(&a, copy, size);
    if (rg_nginx_conf_parse(&conf, copy, size, &err) == 0) {
        struct rg_nginx_problems p = {0};
        struct rg_nginx_target *t = NULL;
        size_t n = 0;
        const struct rg_nginx_server *srv = rg_nginx_conf_server(conf, 0, NULL);
        if (srv) {
            (void)rg_nginx_check_websocket(&p, conf, srv, 0, 8072);
            (void)rg_nginx_check_timeouts(&p, conf, srv, NULL, 120000, "limit");
            (void)rg_nginx_check_proxy_headers(&p, conf, srv, NULL);
            (void)rg_nginx_server_location(srv, "/websocket");
        }
        rg_nginx_conf_targets(&t, &n, conf);
        free(t);
        rg_nginx_problems_release(&p);
        rg_nginx_conf_free(conf);
    }
    free(copy);
    return 0;
}
