/* The throwaway compose project of the integration tests; see live.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "live.h"

static const char compose_file[] =
    "version: \"2.4\"\n"
    "services:\n"
    "  app:\n"
    "    image: 127.0.0.1:5000/rollgate/demo-app:${DEMO_APP_TAG}\n"
    "    ports: [\"127.0.0.1:${APP_PORT}:8080\"]\n"
    "    restart: unless-stopped\n"
    "    mem_limit: 64m\n"
    "    stop_grace_period: 1s\n"
    "    healthcheck:\n"
    "      test: [\"CMD\", \"/app\", \"--probe\"]\n"
    "      interval: 1s\n"
    "      timeout: 2s\n"
    "      retries: 3\n"
    "      start_period: 5s\n";

int64_t
live_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
live_open(struct live *l, const char *name, int port)
{
    struct rg_compose_spec spec = {0};
    const char *pg = getenv("ROLLGATE_PG_PORT");
    struct rg_err err;
    char port_s[16];
    FILE *fp;

    memset(l, 0, sizeof(*l));
    if (!pg)
        fail_msg("ROLLGATE_PG_PORT is not set: run the integration tests through "
                 "scripts/test.sh, or after eval \"$(scripts/stack.sh up)\"");
    l->pg_port = (int)strtol(pg, NULL, 10);
    if (rg_docker_open(&l->docker, NULL, &err) < 0)
        fail_msg("the local Docker engine is not reachable (%s); start the stack with "
                 "scripts/stack.sh up", err.msg);
    l->port = port;
    snprintf(l->project, sizeof(l->project), "rgit-%s-%d", name, (int)getpid());
    snprintf(l->dir, sizeof(l->dir), "/tmp/%s", l->project);
    snprintf(l->env_file, sizeof(l->env_file), "%s/.env", l->dir);
    if (mkdir(l->dir, 0755) < 0)
        fail_msg("cannot create %s", l->dir);
    char path[400];
    snprintf(path, sizeof(path), "%s/docker-compose.yml", l->dir);
    if (!(fp = fopen(path, "w")) || fputs(compose_file, fp) < 0 || fclose(fp) != 0)
        fail_msg("cannot write %s", path);
    snprintf(port_s, sizeof(port_s), "%d", port);
    if (rg_envfile_set(l->env_file, "APP_PORT", port_s, &err) < 0)
        fail_msg("%s", err.msg);
    spec.project_name = l->project;
    spec.project_dir = l->dir;
    spec.env_file = l->env_file;
    if (rg_compose_open(&l->compose, &spec, &err) < 0)
        fail_msg("%s", err.msg);
    l->env.project = l->project;
}

void
live_up(struct live *l, const char *tag)
{
    static const char *const svc[] = {"app", NULL};
    struct rg_strv services = {.v = (char **)svc, .n = 1};
    struct rg_err err;

    if (rg_envfile_set(l->env_file, "DEMO_APP_TAG", tag, &err) < 0)
        fail_msg("%s", err.msg);
    if (rg_compose_up(l->compose, &services, 120000, -1, NULL, &err) < 0)
        fail_msg("compose up of %s failed: %s", tag, err.msg);
}

void
live_close(struct live *l)
{
    struct rg_err err;
    char path[400];

    if (l->compose && rg_compose_down(l->compose, 60000, NULL, &err) < 0)
        print_message("compose down of %s: %s\n", l->project, err.msg);
    rg_compose_close(l->compose);
    rg_docker_close(l->docker);
    snprintf(path, sizeof(path), "%s/docker-compose.yml", l->dir);
    unlink(path);
    unlink(l->env_file);
    rmdir(l->dir);
    memset(l, 0, sizeof(*l));
}

void
live_gate(struct rg_gate *g, const char *name, enum rg_gate_kind kind, const char *target)
{
    static int ok200[] = {200};
    static int ok101[] = {101};

    memset(g, 0, sizeof(*g));
    g->name = (char *)name;
    g->kind = kind;
    g->target = (char *)target;
    g->timing.every_ms = 250;
    g->timing.within_ms = 10000;
    g->timing.need = 1;
    g->timing.timeout_ms = 2000;
    g->tls_verify = true;
    g->max_connections_used = -1;
    if (kind == RG_GATE_HTTP) {
        g->expect = ok200;
        g->n_expect = 1;
    } else if (kind == RG_GATE_WEBSOCKET) {
        g->expect = ok101;
        g->n_expect = 1;
    }
}
