/* Private to cli: what the git hook commands share — push options, the pusher, the lines git
 * hands a hook, and a target's playbook read at a pushed commit. */
#ifndef ROLLGATE_CLI_HOOK_H
#define ROLLGATE_CLI_HOOK_H

#include <stdbool.h>
#include <stdio.h>

#include "cmd.h"
#include "rollgate/git.h"
#include "rollgate/playbook.h"

#define HOOK_PLAYBOOK_MAX (1024 * 1024)

struct hook_push_opts {
    bool wait; /* rollgate.wait=true|false: stream the deploy to the pusher (default) or not */
    bool plan; /* rollgate.plan: show the plan, deploy nothing */
};

/* Reads GIT_PUSH_OPTION_COUNT and GIT_PUSH_OPTION_<i> (untrusted): options outside "rollgate."
 * are left to others; an unknown rollgate option, a bad value or a control character is
 * RG_EINVAL naming it (escaped). */
int hook_push_options(struct hook_push_opts *o, struct rg_err *err);
/* Everything a receive hook reads: the push options, the repository (quarantined objects
 * included), its targets and stdin's ref lines. */
struct hook_push {
    struct hook_push_opts opts;
    struct rg_git_repo *repo;
    struct rg_git_target *targets;
    size_t n_targets;
    struct rg_git_update *updates;
    size_t n_updates;
};
int hook_push_read(struct hook_push *p, struct rg_err *err);
void hook_push_release(struct hook_push *p);

/* The running binary's absolute path (what the shims exec and the worker runs), into buf;
 * false when it cannot be read. */
bool hook_self_path(char *buf, size_t size);

/* Who pushed: GL_USERNAME (GitLab), else REMOTE_USER, else the account the hook runs as, with
 * "via ssh" when SSH_CONNECTION is set; characters outside a safe set become '?'. */
void hook_actor(char *buf, size_t size);
/* All of stdin's "<old> <new> <ref>" lines; RG_EINVAL on the first bad one. *out to free(). */
int hook_read_updates(struct rg_git_update **out, size_t *n, FILE *in, struct rg_err *err);
/* The tag a ref names ("refs/tags/v1" -> "v1"), or NULL for anything else (a branch). */
const char *hook_tag_of(const char *ref);
/* The target's playbook at commit, loaded (placeholders: unset ${VAR} allowed, as
 * validate --no-env; the hook may not have production secrets). Problems go to errout as
 * validate prints them, named by the playbook's path in the repository. Returns 0 or an exit
 * code (65). */
int hook_load_playbook(struct rg_playbook **out, FILE *errout, struct rg_git_repo *repo,
                       const char *commit, const struct rg_git_target *t, bool placeholders);
/* The same blob written to <git dir>/rollgate/<target>-<commit>.yml (0640, atomically), for the
 * worker to deploy; *path_out to free(). */
int hook_write_playbook(char **path_out, struct rg_git_repo *repo, const char *commit,
                        const struct rg_git_target *t, struct rg_err *err);

int hook_install(struct rg_cmd_ctx *ctx);
int hook_pre_receive(struct rg_cmd_ctx *ctx);
int hook_post_receive(struct rg_cmd_ctx *ctx);

#endif
