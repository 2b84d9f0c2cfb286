/* The runtime a release runs on: the Docker Engine API over its unix socket, and the compose
 * driver that pulls, switches tags and brings services up. */
#ifndef ROLLGATE_RUNTIME_H
#define ROLLGATE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/util.h"

/* Sets up the HTTP library once per process (thread-safe); every module that makes HTTP
 * requests calls it before its first one. */
void rg_net_init(void);

/* ---- Docker Engine API ---- */

#define RG_DOCKER_MIN_API "1.41" /* Debian 12's docker.io 20.10 */
#define RG_DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"

struct rg_docker; /* a client bound to one daemon; not shared between threads */

/* A port of a container: private_port always; public_port and ip when it is published. */
struct rg_port {
    int private_port;
    int public_port; /* 0: not published */
    char ip[48];     /* the host address it is published on ("0.0.0.0", "127.0.0.1") */
};

/* A container as rollgate needs to judge it. Strings are owned by the struct. */
struct rg_container {
    char *id;
    char *name;     /* without the leading '/' */
    char *project;  /* com.docker.compose.project label, or NULL */
    char *service;  /* com.docker.compose.service label, or NULL */
    char *image;    /* the image reference it was created from (Config.Image) */
    char *image_id; /* sha256:… of the image */
    char *status;   /* created, running, restarting, exited, dead, paused, removing */
    bool running;
    bool restarting;
    bool oom_killed;
    bool tty;
    int exit_code;
    int restart_count;
    char *health;           /* NULL without a healthcheck; else starting, healthy, unhealthy */
    char *health_output;    /* output of the last health check, or NULL */
    int64_t started_at_ms;  /* Unix ms; 0 when never started */
    int64_t finished_at_ms; /* Unix ms; 0 when it has not stopped since it started */
    char *ip;               /* IPv4 address on its first network with one, or NULL */
    char *mac;              /* the MAC address of that endpoint, or NULL */
    struct rg_port *ports;  /* from the list (not inspect): exposed and published TCP ports */
    size_t n_ports;
};

enum rg_docker_event_kind {
    RG_DOCKER_EV_DIE,
    RG_DOCKER_EV_OOM,
    RG_DOCKER_EV_RESTART,
    RG_DOCKER_EV_START,
    RG_DOCKER_EV_HEALTH,
    RG_DOCKER_EV_KILL, /* a stop or kill through the API: the die that follows is intended */
    RG_DOCKER_EV_OTHER,
};

struct rg_docker_event {
    enum rg_docker_event_kind kind;
    char action[64]; /* as Docker says it: "die", "health_status: unhealthy" */
    char id[65];
    char service[128]; /* compose service label, or "" */
    char name[128];
    char image[256]; /* the image reference the container was created from */
    int exit_code;   /* die: the exitCode attribute, else -1 */
    int64_t time_ms; /* Unix ms */
};

struct rg_docker_events; /* an open event stream */

/* Connects to the daemon at socket_path (NULL: DOCKER_HOST when it is unix://…, else
 * RG_DOCKER_DEFAULT_SOCKET), pings it and negotiates the API version: the daemon's newest, which
 * must be at least RG_DOCKER_MIN_API. RG_ERUNTIME when the daemon does not answer or is too old. */
int rg_docker_open(struct rg_docker **out, const char *socket_path, struct rg_err *err);
void rg_docker_close(struct rg_docker *d);

/* The containers of a compose project (all states), optionally of one service, found by labels.
 * *out is an array of *n containers to free with rg_containers_free. */
int rg_docker_list(struct rg_container **out, size_t *n, struct rg_docker *d, const char *project,
                   const char *service, struct rg_err *err);
/* Inspects one container by id or name into out (released with rg_container_release).
 * RG_ENOENT when there is no such container. */
int rg_docker_inspect(struct rg_container *out, struct rg_docker *d, const char *id,
                      struct rg_err *err);
void rg_container_release(struct rg_container *c);
void rg_containers_free(struct rg_container *v, size_t n);

/* The container's inspect document as the daemon wrote it (*out newly allocated): what
 * rg_docker_create_like needs to make the same container again. */
int rg_docker_inspect_raw(char **out, struct rg_docker *d, const char *id, struct rg_err *err);

/* The body of POST /containers/create that makes a container like the one inspect_json
 * describes: its Config (labels included, so compose sees its own container), HostConfig and
 * network endpoints (aliases kept, the old container's id alias and hostname dropped). *name_out
 * gets its name. A pure function, tested on recorded inspect documents. */
int rg_docker_create_body(char **body_out, char **name_out, const char *inspect_json,
                          struct rg_err *err);
/* Creates (not starts) a container like the one inspect_json describes, under the same name;
 * *id_out gets the new id. RG_ERUNTIME with the daemon's message (a name still taken, say). */
int rg_docker_create_like(char **id_out, struct rg_docker *d, const char *inspect_json,
                          struct rg_err *err);
/* Starts a created or stopped container; starting a running one is no error. */
int rg_docker_start(struct rg_docker *d, const char *id, struct rg_err *err);
/* Removes a container, killing it first when it runs; its volumes are kept. A container already
 * gone is no error. */
int rg_docker_remove(struct rg_docker *d, const char *id, struct rg_err *err);

/* Writes the host's neighbour entry (ARP) for a container's IPv4 address: Docker 20.10 sends no
 * gratuitous ARP when a container starts, so connections queued on the entry left INCOMPLETE by
 * the container it replaced (same address) wait for the next ARP retransmit, up to 1 s. The
 * entry is written STALE, so the kernel confirms it on first use. Needs CAP_NET_ADMIN;
 * RG_ENOENT when no interface of the host holds the address's subnet. */
int rg_net_neigh_announce(const char *ip, const char *mac, struct rg_err *err);

/* Appends the container's log lines (stdout and stderr, in order) since since_ms (Unix ms; 0:
 * all) to out, at most tail lines when tail > 0. out keeps its own maximum. */
int rg_docker_logs(struct rg_buf *out, struct rg_docker *d, const char *id, int64_t since_ms,
                   int tail, struct rg_err *err);

/* The digest a local image was pulled by ("registry/repo@sha256:…"), for pinning a release.
 * RG_ENOENT when the image is not on the host. *out is newly allocated. */
int rg_docker_image_digest(char **out, struct rg_docker *d, const char *image, const char *repo,
                           struct rg_err *err);

/* Pulls repo:tag through the Engine API, reading the whole answer: a failed pull answers 200
 * with an error line in its stream. RG_ERUNTIME with the registry's message. */
int rg_docker_pull(struct rg_docker *d, const char *repo, const char *tag, int64_t timeout_ms,
                   struct rg_err *err);

/* Opens the event stream of a compose project's containers from since_ms (Unix ms; 0: now)
 * until until_ms (0: it never ends; else the daemon sends what happened in between and ends the
 * stream, which rg_docker_events_next reports as RG_ENOENT): die, oom, restart, start,
 * health_status, kill and stop events. */
int rg_docker_events_open(struct rg_docker_events **out, struct rg_docker *d, const char *project,
                          int64_t since_ms, int64_t until_ms, struct rg_err *err);
/* Waits up to timeout_ms for the next event. Returns 1 with *ev filled, 0 when the time passed
 * without one, RG_ENOENT when a stream with an end has ended, or another negative code when the
 * stream broke. */
int rg_docker_events_next(struct rg_docker_event *ev, struct rg_docker_events *es,
                          int64_t timeout_ms, struct rg_err *err);
void rg_docker_events_close(struct rg_docker_events *es);

/* ---- the compose driver ---- */

struct rg_compose;
struct rg_spawn_result;

struct rg_compose_spec {
    const char *project_name; /* NULL: derived from project_dir as compose does */
    const char *project_dir;
    const char *compose_file; /* NULL: compose's default in project_dir */
    const char *env_file;     /* passed as --env-file (the file holding the tag) */
};

int rg_compose_open(struct rg_compose **out, const struct rg_compose_spec *spec,
                    struct rg_err *err);
void rg_compose_close(struct rg_compose *c);
/* The name compose gives a project: explicit_name, or the directory's base name in lower case
 * with only letters, digits, '-' and '_'. Newly allocated. */
char *rg_compose_project_name(const char *explicit_name, const char *project_dir);

/* Each runs compose with a deadline; the output (both streams) is appended to log when given.
 * RG_ERUNTIME with compose's last line when it exits non-zero, RG_ETIMEOUT past the deadline,
 * RG_ECANCELED when cancel_fd became readable. */
/* Pulls the services' images at release tag (tag_var=tag in compose's environment), before the
 * env file is switched. */
int rg_compose_pull(const struct rg_compose *c, const struct rg_strv *services, const char *tag_var,
                    const char *tag, int64_t timeout_ms, int cancel_fd, struct rg_buf *log,
                    struct rg_err *err);
int rg_compose_up(const struct rg_compose *c, const struct rg_strv *services, int64_t timeout_ms,
                  int cancel_fd, struct rg_buf *log, struct rg_err *err);
/* Brings each service to counts[i] containers with the release tag (tag_var=tag in compose's
 * environment) without recreating or stopping the ones that run: the new ones start beside
 * them (`up -d --no-deps --no-recreate --scale S=N`). */
int rg_compose_scale_up(const struct rg_compose *c, const struct rg_strv *services,
                        const int *counts, const char *tag_var, const char *tag,
                        int64_t timeout_ms, int cancel_fd, struct rg_buf *log,
                        struct rg_err *err);
int rg_compose_restart(const struct rg_compose *c, const struct rg_strv *services,
                       int64_t timeout_ms, int cancel_fd, struct rg_buf *log, struct rg_err *err);
int rg_compose_down(const struct rg_compose *c, int64_t timeout_ms, struct rg_buf *log,
                    struct rg_err *err);
/* Runs cmd in a service's container (exec -T). res is filled (and must be released) even when
 * the command fails. */
int rg_compose_exec(struct rg_spawn_result *res, const struct rg_compose *c, const char *service,
                    const struct rg_strv *cmd, int64_t timeout_ms, int cancel_fd,
                    struct rg_err *err);

/* ---- systemd units (systemd_unit.c, systemd_journal.c) ----
 * systemctl, journalctl and systemd-run run with an argv, a deadline, and the playbook's
 * command prefix in front ([nsenter, -t, PID, ...]; empty: this host). */

/* What `systemctl show` says of a unit, parsed as key=value pairs in any order. */
struct rg_unit_state {
    char load[32];       /* LoadState: loaded, not-found, masked, ... */
    char active[32];     /* ActiveState: active, activating, failed, inactive, ... */
    char sub[32];        /* SubState: running, auto-restart, dead, ... */
    char result[32];     /* Result: success, exit-code, signal, core-dump, timeout, ... */
    char invocation[40]; /* InvocationID: new at every start, "" when never started */
    int64_t main_pid;    /* ExecMainPID: 0 when no main process runs */
    int64_t n_restarts;  /* NRestarts: automatic restarts; a manual restart resets it */
    int exit_code;       /* ExecMainCode: 1 exited, 2 killed, 3 dumped (CLD_*); 0 none yet */
    int exit_status;     /* ExecMainStatus: the exit status or the signal */
    int64_t started_us;  /* ExecMainStartTimestampMonotonic */
    char user[64];       /* User, Group: "" for root */
    char group[64];
    char working_dir[512];
    struct rg_strv env_files;   /* EnvironmentFiles, without their "(ignore_errors=...)" */
    struct rg_strv environment; /* Environment, one "K=V" each */
};

/* Runs `systemctl show UNIT` with the properties above. RG_EIO when systemctl cannot run or
 * fails; a unit systemd does not know still answers (load "not-found"). */
int rg_unit_show(struct rg_unit_state *out, const struct rg_strv *prefix, const char *unit,
                 int cancel_fd, struct rg_err *err);
/* Parses `systemctl show` output (tests feed recorded answers). */
int rg_unit_parse_show(struct rg_unit_state *out, const char *text, struct rg_err *err);
void rg_unit_state_release(struct rg_unit_state *s);
/* "active (running), main pid 4242, 3 restarts" or "failed (exit-code: exited with status
 * 3)" into buf, which is returned. */
const char *rg_unit_describe(char *buf, size_t size, const struct rg_unit_state *s);

/* `systemctl VERB UNIT` (restart, stop, start) within timeout_ms; its output goes to log.
 * RG_EIO naming the unit and systemctl's message when it fails, RG_ETIMEOUT, RG_ECANCELED. */
int rg_unit_control(const struct rg_strv *prefix, const char *verb, const char *unit,
                    int64_t timeout_ms, int cancel_fd, struct rg_buf *log, struct rg_err *err);

/* Runs argv as the unit runs: through systemd-run, as its User and Group, in its
 * WorkingDirectory, with its EnvironmentFiles and Environment. res is always filled. */
int rg_unit_exec(struct rg_spawn_result *res, const struct rg_strv *prefix, const char *unit,
                 const struct rg_strv *argv, int64_t timeout_ms, int cancel_fd,
                 struct rg_err *err);

/* Appends the unit's journal lines since since_ms (Unix ms; 0: any time), the last max_lines
 * of them (0: all since since_ms), as "HH:MM:SS message" lines: the app's own lines and
 * systemd's lines about the unit ("Main process exited, code=exited, status=3/NOTIMPLEMENTED"). */
int rg_unit_journal(struct rg_buf *out, const struct rg_strv *prefix, const char *unit,
                    int64_t since_ms, int max_lines, struct rg_err *err);
/* Parses `journalctl -o json` lines (one object each) into out as rg_unit_journal does, keeping
 * only entries at or after since_ms. */
void rg_unit_parse_journal(struct rg_buf *out, const char *text, int64_t since_ms);

/* ---- releases on disk (releases.c): root/releases/<tag> and the root/current link ---- */

/* The tag root/current points at (a link to "releases/<tag>"). RG_ENOENT when there is no
 * link yet, RG_EINVAL when it points elsewhere. *tag_out is newly allocated. */
int rg_releases_current(char **tag_out, const char *root, struct rg_err *err);
/* Whether root/releases/<tag> is a directory. */
bool rg_releases_present(const char *root, const char *tag);
/* Points root/current at releases/<tag> in one rename (a link under a temporary name first);
 * the release must be present. */
int rg_releases_switch(const char *root, const char *tag, struct rg_err *err);
/* Makes root/releases/<tag> present: from the git repository (the tag's tree, exported through
 * libgit2; *commit_out gets the commit when not NULL) or from uploads/<tag>, which must hold
 * RG_UPLOAD_MARKER (moved in by a rename). RG_ENOENT when the release is in neither. */
int rg_releases_fetch(const char *root, const char *git, const char *uploads, const char *tag,
                      struct rg_buf *log, struct rg_err *err);
/* The identity of a present release: "git:<commit>" it was exported from, or "dir:<tag>" for
 * an upload. RG_ENOENT when the release is not present. */
int rg_releases_pin(char **out, const char *root, const char *tag, struct rg_err *err);
/* Removes all but the newest keep releases (by the time they arrived), never those in
 * protect; the removed tags are logged. */
int rg_releases_prune(const char *root, int keep, const struct rg_strv *protect,
                      struct rg_buf *log, struct rg_err *err);

/* ---- the env file that holds the release tag ---- */

/* Reads the value of var in the env file at path (the last assignment; surrounding quotes
 * dropped). RG_ENOENT when the file or the variable is missing. *out is newly allocated. */
int rg_envfile_get(char **out, const char *path, const char *var, struct rg_err *err);
/* Sets var=value in the env file, atomically (temporary file, fsync, rename, fsync of the
 * directory), keeping every other line, comment and their order; the variable is appended when
 * missing and the file created when absent. value must already be validated. */
int rg_envfile_set(const char *path, const char *var, const char *value, struct rg_err *err);

/* ---- decoders of the daemon's answers: pure functions, tested with recorded answers ---- */

/* Parses a container inspect document. */
int rg_docker_parse_inspect(struct rg_container *out, const char *json, size_t len,
                            struct rg_err *err);
/* Parses a GET /containers/json answer into an array. */
int rg_docker_parse_list(struct rg_container **out, size_t *n, const char *json, size_t len,
                         struct rg_err *err);
/* Parses one line of the event stream. */
int rg_docker_parse_event(struct rg_docker_event *out, const char *json, size_t len,
                          struct rg_err *err);
/* Parses an RFC 3339 time ("2026-11-20T22:40:15.184892977Z", offsets allowed) into Unix ms;
 * Docker's zero time "0001-01-01T00:00:00Z" gives 0. */
int rg_docker_parse_time(int64_t *ms_out, const char *s, struct rg_err *err);
/* Compares API versions numerically ("1.9" < "1.41"). */
int rg_docker_version_cmp(const char *a, const char *b);

/* The multiplexed log stream of a container without a TTY: 8-byte headers (stream, 0, 0, 0,
 * big-endian length) then payload, split anywhere across reads. Feed bytes as they come; the
 * payloads go to out. A header with an unknown stream type is an error. */
struct rg_frame_decoder {
    unsigned char header[8];
    size_t have;        /* header bytes collected */
    uint32_t remaining; /* payload bytes still to come of the current frame */
    bool raw;           /* TTY: no framing, everything is payload */
    bool detect;        /* not known yet: decided by the first 8 bytes */
};
void rg_frame_decoder_init(struct rg_frame_decoder *fd, bool raw);
/* A decoder that tells framed from raw by the first 8 bytes: a frame header starts with a stream
 * byte 0-2 and three zero bytes, which no text log starts with. Saves the inspect call that
 * would say whether the container has a TTY (and that waits while Docker restarts it). */
void rg_frame_decoder_init_auto(struct rg_frame_decoder *fd);
/* At the end of the stream: a raw stream shorter than 8 bytes is still in the header. */
void rg_frame_decoder_flush(struct rg_frame_decoder *fd, struct rg_buf *out);
int rg_frame_decoder_feed(struct rg_frame_decoder *fd, struct rg_buf *out, const void *data,
                          size_t len, struct rg_err *err);
/* Whether the stream ended cleanly (not inside a header or a payload). */
bool rg_frame_decoder_done(const struct rg_frame_decoder *fd);

#endif
