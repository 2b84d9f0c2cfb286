/* The reverse proxy in front of a switched release (nginx): the upstream file rollgate owns,
 * rewritten atomically, checked by nginx before it counts, applied by a graceful reload, and
 * guarded against edits by hand. */
#ifndef ROLLGATE_PROXY_H
#define ROLLGATE_PROXY_H

#include <stdint.h>

#include "rollgate/err.h"
#include "rollgate/playbook.h"
#include "rollgate/util.h"

/* The text of the upstream file: a header naming rollgate and release, then one upstream block
 * per upstream of p, its servers the addresses in servers[i] ("172.18.0.3:8069", one strv per
 * upstream, in p's order). An upstream without a server is refused (RG_EINVAL): nginx would
 * refuse the file. *text_out is newly allocated. */
int rg_proxy_render(char **text_out, const struct rg_proxy *p, const struct rg_strv *servers,
                    const char *release, struct rg_err *err);

/* Whether the upstream file is still what rollgate last wrote (kept at record_path). Returns 0
 * when it is, or when there is no record yet (the file is adopted as it is); RG_EINVAL with the
 * differences (a unified diff, truncated) when it was changed by hand; RG_EIO when it cannot be
 * read. */
int rg_proxy_check_owned(const struct rg_proxy *p, const char *record_path, struct rg_err *err);

/* Before anything starts: the upstream file is rollgate's (rg_proxy_check_owned), its
 * directory can take the new file (the rename happens there), and the configuration as it is
 * passes p->test. RG_EINVAL, RG_EIO or RG_ERUNTIME saying which and how to fix it. */
int rg_proxy_ready(const struct rg_proxy *p, const char *record_path, int64_t timeout_ms,
                   struct rg_buf *log, struct rg_err *err);

/* Puts text in force: the upstream file replaced atomically (temporary file, fsync, rename,
 * fsync of the directory), the configuration tested (p->test), nginx reloaded (p->reload), and
 * text recorded at record_path. When the test or the reload fails the previous file is put
 * back, so nothing changed (RG_ERUNTIME with nginx's own words). What ran goes to log. */
int rg_proxy_apply(const struct rg_proxy *p, const char *record_path, const char *text,
                   int64_t timeout_ms, struct rg_buf *log, struct rg_err *err);

/* The servers the upstream file in force names for upstream name (as "ip:port"), read from the
 * record rollgate keeps; RG_ENOENT when there is no record or no such upstream. */
int rg_proxy_servers(struct rg_strv *out, const char *record_path, const char *name,
                     struct rg_err *err);

#endif
