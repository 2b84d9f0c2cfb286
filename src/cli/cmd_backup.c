/* `rollgate backup`, `rollgate backups` and `rollgate restore`: the data half of a release, by
 * hand. Taking and restoring hold the target's lock, as a deploy does. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"
#include "rollgate/backup.h"
#include "rollgate/ledger.h"
#include "rollgate/engine.h"

enum { BK_VERIFY, BK_JSON };
enum { BL_JSON };
enum { RS_BACKUP, RS_LATEST, RS_FOR_TAG, RS_FILE, RS_YES, RS_JOBS, RS_JSON };

static const struct rg_opt backup_opts[] = {
    [BK_VERIFY] = {"verify", 0, "ID", "check every checksum of backup ID instead of taking one"},
    [BK_JSON] = {"json", 0, NULL, "print one JSON document"},
    {0},
};

static const struct rg_opt backups_opts[] = {
    [BL_JSON] = {"json", 0, NULL, "print one JSON document"},
    {0},
};

static const struct rg_opt restore_opts[] = {
    [RS_BACKUP] = {"backup", 0, "ID", "the backup to restore (see 'rollgate backups')"},
    [RS_LATEST] = {"latest", 0, NULL, "the newest backup"},
    [RS_FOR_TAG] = {"for-tag", 0, "TAG", "the newest backup of release TAG"},
    [RS_FILE] = {"file", 0, "PATH",
                 "a backup file: a rollgate archive, an Odoo backup zip or "
                 "a plain .sql dump"},
    [RS_YES] = {"yes", 'y', NULL, "do not ask for confirmation"},
    [RS_JOBS] = {"jobs", 'j', "N", "database connections at once (default 2)"},
    [RS_JSON] = {"json", 0, NULL, "print one JSON document with the result"},
    {0},
};

static int
parse_id(int64_t *out, const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0)
        return -1;
    *out = v;
    return 0;
}

static int
fail(struct rg_cmd_ctx *ctx, const struct rg_err *err)
{
    fprintf(ctx->errout, "rollgate: %s: %s\n", ctx->cmd->name, err->msg);
    return rg_cli_exit_for(err->code);
}

static json_t *
backup_json(const struct rg_backup_row *b)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(b->id));
    json_object_set_new(o, "path", json_string(b->path));
    json_object_set_new(o, "tag", json_string(b->tag));
    json_object_set_new(o, "digest", json_string(b->digest));
    json_object_set_new(o, "deploy", b->deploy_id ? json_integer(b->deploy_id) : json_null());
    json_object_set_new(o, "created_ms", json_integer(b->created_ms));
    json_object_set_new(o, "size", json_integer(b->size));
    json_object_set_new(o, "verified_ms",
                        b->verified_ms ? json_integer(b->verified_ms) : json_null());
    return o;
}

static void
print_json(FILE *out, json_t *o)
{
    json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
}

/* A backup or a restore by hand: an engine run under the target's lock, with its ledger row. */
static int
run_manual(struct rg_run_result *res, struct rg_cmd_ctx *ctx, const struct rg_playbook *pb,
           enum rg_run_kind kind, const char *path, int jobs)
{
    struct rg_run_opts o = {
        .kind = kind,
        .backup_path = path,
        .restore_jobs = jobs,
        .trigger = "cli",
        .actor = rg_cli_actor(),
        /* No self-pipe: pg_dump and the restore cannot be stopped half-way at a safe point, so
         * a signal ends the command at once as it always did; the next run closes its ledger
         * row and brings a stopped release back up. */
        .cancel_fd = -1,
    };
    struct rg_progress prog;
    struct rg_err err;
    int rc;

    /* A person at a terminal sees the states go by (a restore waits for its gates); scripts
     * get only the result, on stdout. */
    if (isatty(fileno(ctx->errout))) {
        rg_progress_init(&prog, ctx->errout, false, pb->name);
        o.report = rg_progress_report;
        o.report_data = &prog;
    }
    if ((rc = rg_engine_run(res, pb, &o, &err)) < 0)
        return fail(ctx, &err);
    return 0;
}

static int
cmd_backup(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_ledger *l = NULL;
    struct rg_run_result res;
    struct rg_backup_row b;
    struct rg_err err;
    int64_t id;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        goto out;
    if (rg_ledger_open(&l, pb->state_dir, pb->name, &err) < 0) {
        rc = fail(ctx, &err);
        goto out;
    }
    if (ctx->optcount[BK_VERIFY]) {
        if (parse_id(&id, ctx->optval[BK_VERIFY]) < 0) {
            rc = rg_cli_usage_error(ctx->cmd,
                                    "--verify needs a backup id (a number from "
                                    "'rollgate backups'), not '%s'",
                                    ctx->optval[BK_VERIFY]);
            goto out;
        }
        if (rg_ledger_backup_get(&b, l, id, &err) < 0 ||
            rg_backup_verify(l, id, b.path, &err) < 0) {
            rc = fail(ctx, &err);
            goto out;
        }
        if (ctx->optcount[BK_JSON]) {
            rg_ledger_backup_get(&b, l, id, &err);
            print_json(ctx->out, backup_json(&b));
        } else {
            fprintf(ctx->out, "backup #%lld verified: every checksum matches (%s)\n", (long long)id,
                    b.path);
        }
        goto out;
    }
    if (!pb->backup.enabled) {
        fprintf(ctx->errout,
                "rollgate: backup: playbook '%s' has no 'backup' section (database "
                "and dir)\n",
                ctx->args[0]);
        rc = RG_EXIT_INVALID;
        goto out;
    }
    if ((rc = run_manual(&res, ctx, pb, RG_RUN_BACKUP, NULL, 0)) != 0)
        goto out;
    if (res.outcome != RG_OUTCOME_BACKED_UP) {
        fprintf(ctx->errout, "rollgate: backup: %s\n", res.cause);
        rc = rg_cli_exit_for(res.error_code);
        goto out;
    }
    if (ctx->optcount[BK_JSON])
        print_json(ctx->out, backup_json(&res.backup));
    else
        fprintf(ctx->out, "backup #%lld of release %s: %s (%lld bytes)\n", (long long)res.backup.id,
                res.backup.tag[0] ? res.backup.tag : "(none)", res.backup.path,
                (long long)res.backup.size);
out:
    rg_ledger_close(l);
    rg_playbook_free(pb);
    return rc;
}

static int
cmd_backups(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_ledger *l = NULL;
    struct rg_backup_row *v = NULL;
    struct rg_err err;
    size_t n = 0;
    int rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        goto out;
    /* A reading command creates nothing: no ledger yet means no backups. */
    if ((rc = rg_ledger_open_existing(&l, pb->state_dir, pb->name, &err)) == RG_ENOENT) {
        rc = 0;
    } else if (rc < 0 || rg_ledger_backups(&v, &n, l, &err) < 0) {
        rc = fail(ctx, &err);
        goto out;
    }
    if (ctx->optcount[BL_JSON]) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, backup_json(&v[i]));
        print_json(ctx->out, a);
        goto out;
    }
    if (!n) {
        fprintf(ctx->out, "no backups of '%s' yet (take one with 'rollgate backup %s')\n", pb->name,
                ctx->args[0]);
        goto out;
    }
    fprintf(ctx->out, "%-5s %-16s %-19s %12s  %-19s %s\n", "ID", "TAG", "TAKEN (UTC)", "SIZE",
            "VERIFIED (UTC)", "PATH");
    for (size_t i = 0; i < n; i++) {
        char taken[32], verified[32];
        rg_cli_format_time(taken, sizeof(taken), v[i].created_ms);
        rg_cli_format_time(verified, sizeof(verified), v[i].verified_ms);
        fprintf(ctx->out, "%-5lld %-16s %-19s %12lld  %-19s %s\n", (long long)v[i].id,
                v[i].tag[0] ? v[i].tag : "-", taken, (long long)v[i].size,
                v[i].verified_ms ? verified : "no", v[i].path);
    }
out:
    free(v);
    rg_ledger_close(l);
    rg_playbook_free(pb);
    return rc;
}

/* Which backup a restore means: exactly one of --backup, --latest, --for-tag, --file. */
static int
pick(char **path_out, struct rg_cmd_ctx *ctx, struct rg_ledger *l, const struct rg_playbook *pb,
     struct rg_err *err)
{
    struct rg_backup_row b;
    int64_t id;
    int given = !!ctx->optcount[RS_BACKUP] + !!ctx->optcount[RS_LATEST] +
                !!ctx->optcount[RS_FOR_TAG] + !!ctx->optcount[RS_FILE];

    *path_out = NULL;
    if (given != 1)
        return rg_cli_usage_error(ctx->cmd, "say which backup: one of --backup ID, --latest, "
                                            "--for-tag TAG or --file PATH");
    if (ctx->optcount[RS_FILE]) {
        *path_out = rg_strdup(ctx->optval[RS_FILE]);
        return 0;
    }
    if (ctx->optcount[RS_BACKUP]) {
        if (parse_id(&id, ctx->optval[RS_BACKUP]) < 0)
            return rg_cli_usage_error(ctx->cmd,
                                      "--backup needs a backup id (a number from "
                                      "'rollgate backups'), not '%s'",
                                      ctx->optval[RS_BACKUP]);
        if (rg_ledger_backup_get(&b, l, id, err) < 0)
            return -1;
    } else if (ctx->optcount[RS_FOR_TAG]) {
        if (rg_playbook_check_tag(pb, ctx->optval[RS_FOR_TAG], err) < 0 ||
            rg_ledger_backup_latest(&b, l, ctx->optval[RS_FOR_TAG], err) < 0)
            return -1;
    } else if (rg_ledger_backup_latest(&b, l, NULL, err) < 0) {
        return -1;
    }
    *path_out = rg_strdup(b.path);
    return 0;
}

static bool
confirmed(struct rg_cmd_ctx *ctx, const struct rg_playbook *pb, const char *path)
{
    char answer[16];

    fprintf(ctx->errout,
            "restore '%s' into the database of '%s'? The live database is renamed and kept, "
            "not dropped.\ntype 'yes' to go on: ",
            path, pb->name);
    fflush(ctx->errout);
    if (!fgets(answer, sizeof(answer), stdin))
        return false;
    answer[strcspn(answer, "\n")] = '\0';
    return strcmp(answer, "yes") == 0;
}

static int
cmd_restore(struct rg_cmd_ctx *ctx)
{
    struct rg_playbook *pb = NULL;
    struct rg_ledger *l = NULL;
    struct rg_run_result run;
    const struct rg_restore_result *res = &run.restored;
    struct rg_err err;
    char *path = NULL;
    int jobs = 0, rc;

    if ((rc = rg_cli_load_playbook(&pb, ctx, ctx->args[0])) != 0)
        goto out;
    if (!pb->backup.enabled) {
        fprintf(ctx->errout,
                "rollgate: restore: playbook '%s' has no 'backup' section "
                "(database and dir)\n",
                ctx->args[0]);
        rc = RG_EXIT_INVALID;
        goto out;
    }
    if (ctx->optcount[RS_JOBS]) {
        int64_t n;
        if (parse_id(&n, ctx->optval[RS_JOBS]) < 0 || n > 64) {
            rc = rg_cli_usage_error(ctx->cmd, "--jobs needs a number from 1 to 64, not '%s'",
                                    ctx->optval[RS_JOBS]);
            goto out;
        }
        jobs = (int)n;
    }
    if (rg_ledger_open(&l, pb->state_dir, pb->name, &err) < 0) {
        rc = fail(ctx, &err);
        goto out;
    }
    if ((rc = pick(&path, ctx, l, pb, &err)) != 0) {
        rc = rc > 0 ? rc : fail(ctx, &err);
        goto out;
    }
    if (!ctx->optcount[RS_YES]) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(ctx->errout, "rollgate: restore: not a terminal, so nobody can confirm: "
                                 "add --yes to restore without asking\n");
            rc = RG_EXIT_USAGE;
            goto out;
        }
        if (!confirmed(ctx, pb, path)) {
            fprintf(ctx->errout, "rollgate: restore: not confirmed; nothing changed\n");
            rc = RG_EXIT_ABORTED;
            goto out;
        }
    }
    /* The ledger is the engine's from here on: one writer at a time. */
    rg_ledger_close(l);
    l = NULL;
    if ((rc = run_manual(&run, ctx, pb, RG_RUN_RESTORE, path, jobs)) != 0)
        goto out;
    if (run.outcome != RG_OUTCOME_RESTORED) {
        fprintf(ctx->errout, "rollgate: restore: %s\n", run.cause);
        rc = run.error_code == RG_EINVAL && !res->changed          ? RG_EXIT_INVALID
             : run.outcome == RG_OUTCOME_UNRECOVERED || run.halted ? RG_EXIT_UNRECOVERED
                                                                   : RG_EXIT_ABORTED;
        goto out;
    }
    if (ctx->optcount[RS_JSON]) {
        json_t *j = json_object();
        json_object_set_new(j, "backup", json_string(path));
        json_object_set_new(j, "restore", json_integer(run.deploy_id));
        json_object_set_new(j, "kind", json_string(res->kind));
        json_object_set_new(j, "tag", res->tag[0] ? json_string(res->tag) : json_null());
        json_object_set_new(j, "database", json_string(res->database));
        json_object_set_new(j, "replaced_database", json_string(res->replaced_db));
        json_object_set_new(j, "replaced_filestore",
                            res->replaced_fs[0] ? json_string(res->replaced_fs) : json_null());
        json_object_set_new(j, "serving", run.tag[0] ? json_string(run.tag) : json_null());
        json_object_set_new(j, "elapsed_ms", json_integer(res->elapsed_ms));
        print_json(ctx->out, j);
        goto out;
    }
    fprintf(ctx->out, "restored %s (%s) into database '%s' in %.1fs\n", path, res->kind,
            res->database, (double)res->elapsed_ms / 1000.0);
    fprintf(ctx->out, "kept the replaced database as '%s'\n", res->replaced_db);
    if (res->replaced_fs[0])
        fprintf(ctx->out, "kept the replaced filestore as '%s'\n", res->replaced_fs);
    if (run.restarted)
        fprintf(ctx->out,
                "release %s was stopped for the swap and serves again (restore #%lld "
                "in 'rollgate history')\n",
                run.tag, (long long)run.deploy_id);
    if (res->tag[0] && strcmp(res->tag, run.tag) != 0)
        fprintf(ctx->out,
                "this data belongs to release %s: if another release serves now, "
                "run 'rollgate rollback %s --to %s'\n",
                res->tag, ctx->args[0], res->tag);
out:
    free(path);
    rg_ledger_close(l);
    rg_playbook_free(pb);
    return rc;
}

const struct rg_cmd rg_cmd_backup = {
    .name = "backup",
    .summary = "take a backup of the database and filestore, or verify one",
    .usage = "PLAYBOOK [--verify ID] [--json]",
    .description =
        "Dumps the playbook's database (pg_dump, custom format, streamed into the archive) and\n"
        "its filestore into one archive in backup.dir, with a manifest of every member's size\n"
        "and sha256, and records it in the ledger as the data of the release serving now.\n"
        "Retention (backup.keep) then removes the oldest archives, never the newest of the\n"
        "live release or of the previous known-good one. With --verify ID nothing is taken:\n"
        "every member of backup ID is read back and checked against its manifest.",
    .opts = backup_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_backup,
};

const struct rg_cmd rg_cmd_backups = {
    .name = "backups",
    .summary = "list the backups of a target",
    .usage = "PLAYBOOK [--json]",
    .description = "Lists the backups in the ledger, newest first: id, release, when it was\n"
                   "taken, size, when its checksums were last verified, and its file.",
    .opts = backups_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_backups,
};

const struct rg_cmd rg_cmd_restore = {
    .name = "restore",
    .summary = "restore the database and filestore from a backup, keeping what it replaces",
    .usage = "PLAYBOOK (--backup ID | --latest | --for-tag TAG | --file PATH) [--yes] [--jobs N] "
             "[--json]",
    .description =
        "Verifies the whole backup before changing anything (checksums, manifest, paths, sizes),\n"
        "then reads it again and streams the dump into a scratch database (rollgate archives:\n"
        "schema by pg_restore, table rows straight from the archive over --jobs connections at\n"
        "once, default 2, big tables split among them, then\n"
        "indexes by pg_restore --jobs; Odoo zips and .sql files: psql with ON_ERROR_STOP),\n"
        "runs backup.verify_query there,\n"
        "then swaps it in: connections to the live database are blocked and ended, the live\n"
        "database is renamed to <db>_pre_restore_<time> (kept, never dropped) and the scratch\n"
        "one takes its name; the filestore is swapped the same way. Asks for confirmation\n"
        "unless --yes. Exit 0 restored; 65 the backup is invalid or hostile (refused before\n"
        "any change); 3 nothing changed (not confirmed, or the restore failed before the\n"
        "swap); 2 the database was swapped but a later step failed; 4 a deploy holds the\n"
        "target.",
    .opts = restore_opts,
    .min_args = 1,
    .max_args = 1,
    .run = cmd_restore,
};
