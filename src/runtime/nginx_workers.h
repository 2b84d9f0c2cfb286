/* Private to runtime: whether an nginx reload is in force (nginx_workers.c). */
#ifndef ROLLGATE_RUNTIME_NGINX_WORKERS_H
#define ROLLGATE_RUNTIME_NGINX_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

struct rg_nginx_workers;

/* The nginx workers taking connections now, before a reload (NULL when out of memory). */
struct rg_nginx_workers *rg_nginx_workers_before(void);
/* Waits up to wait_ms until a master has forked new workers and none of its workers from
 * before still takes connections. false when that was not seen in time. */
bool rg_nginx_reload_in_force(const struct rg_nginx_workers *before, int64_t wait_ms);

#endif
