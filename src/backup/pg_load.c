/* Table data of a custom-format dump loaded over several connections at once. pg_restore --jobs
 * loads different tables side by side but each table over one connection, so the one big table
 * most databases have (messages, attachments, orders) is loaded by one server process while the
 * other cores wait. Here the calling thread reads the dump once, as a stream, and gathers each
 * table's rows into units of a few megabytes cut at row ends; every worker thread holds one connection
 * and streams the units it takes with COPY FROM STDIN, so a big table is parsed and stored by
 * as many server processes as there are jobs. Rows of one table end up in several transactions;
 * the database is a scratch one that is dropped on any failure, so none is ever seen half. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pg_internal.h"
#include "backup/pgdump_format.h"

enum {
    UNIT_BYTES = 8 << 20,  /* rows per unit: big enough to amortise, small enough to spread */
    SEND_BYTES = 256 << 10, /* rows per CopyData message */
    MAX_ROW_BYTES = (1 << 30) + UNIT_BYTES
};

struct unit {
    size_t entry; /* index into the TOC */
    uint8_t *rows; /* COPY text, whole rows */
    size_t len, cap;
};

struct loader {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct unit *q;
    size_t cap, head, tail; /* units queued: [tail, head) */
    bool closed;            /* no more units will come */
    bool failed;            /* stop everything; err holds the first failure */
    struct rg_err err;
    uint8_t **spare; /* unit buffers of UNIT_BYTES given back by the workers */
    size_t nspare;
    const struct pgd_toc *toc;
    const struct pg_dsn *d;
    const char *dbname;
    int64_t deadline;
};

struct worker {
    struct loader *l;
    pthread_t thread;
    PGconn *conn;
    size_t entry;   /* the entry whose COPY is open, or SIZE_MAX */
};

static void
fail(struct loader *l, const struct rg_err *e)
{
    pthread_mutex_lock(&l->mu);
    if (!l->failed) {
        l->failed = true;
        l->err = *e;
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static const struct pgd_entry *
entry_of(const struct worker *w)
{
    return &w->l->toc->entries[w->entry];
}

static int
conn_error(struct worker *w, const char *what, struct rg_err *err)
{
    char why[400];

    pg_message(why, sizeof(why), w->conn);
    return rg_err_set(err, RG_EDB, "%s %s.%s in '%s': %s", what, entry_of(w)->nspace,
                      entry_of(w)->tag, w->l->dbname, why);
}

static int
copy_begin(struct worker *w, size_t entry, struct rg_err *err)
{
    PGresult *res;
    int rc = 0;

    w->entry = entry;
    res = PQexec(w->conn, entry_of(w)->copy_stmt);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = conn_error(w, "cannot start loading", err);
        w->entry = SIZE_MAX;
    }
    PQclear(res);
    return rc;
}

/* Ends the open COPY: normally, or with an error message that makes the server roll it back. */
static int
copy_end(struct worker *w, bool abort, struct rg_err *err)
{
    PGresult *res;
    int rc = 0;

    if (w->entry == SIZE_MAX)
        return 0;
    if (PQputCopyEnd(w->conn, abort ? "rollgate: restore stopped" : NULL) != 1 && !abort)
        rc = conn_error(w, "cannot finish loading", err);
    while ((res = PQgetResult(w->conn))) {
        if (rc == 0 && !abort && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = conn_error(w, "loading failed for", err);
        PQclear(res);
    }
    w->entry = SIZE_MAX;
    return rc;
}

static int
feed(struct worker *w, const struct unit *u, struct rg_err *err)
{
    /* CopyData messages need not end at row ends: the server joins them. */
    for (size_t off = 0; off < u->len;) {
        size_t n = u->len - off < SEND_BYTES ? u->len - off : SEND_BYTES;
        if (PQputCopyData(w->conn, (const char *)u->rows + off, (int)n) != 1)
            return conn_error(w, "cannot send the rows of", err);
        off += n;
    }
    return 0;
}

/* A unit's buffer back to the pool (a standard one) or freed (a big row's). */
static void
unit_done(struct loader *l, struct unit *u)
{
    pthread_mutex_lock(&l->mu);
    if (u->cap == UNIT_BYTES && l->nspare < l->cap + 2) {
        l->spare[l->nspare++] = u->rows;
        u->rows = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    free(u->rows);
    u->rows = NULL;
}

static int
session_setup(struct worker *w, struct rg_err *err)
{
    struct loader *l = w->l;
    int64_t left = l->deadline - rg_mono_ms();
    char *sql;
    int rc;

    if ((rc = pg_connect(&w->conn, l->d, l->dbname, err)) < 0)
        return rc;
    if (l->toc->encoding[0] && PQsetClientEncoding(w->conn, l->toc->encoding) != 0)
        return rg_err_set(err, RG_EDB, "cannot set client encoding '%s' in '%s'",
                          l->toc->encoding, l->dbname);
    /* The session pg_restore sets up before it loads data, so rows load here exactly as they
     * would there: no timeouts but the restore's own (pg_restore sets statement_timeout 0; the
     * deadline is ours), no row-level security in the way, names resolved only as the dump wrote
     * them, string literals as the dump's STDSTRINGS says, function bodies not checked, and
     * xmloption content: where a database or role defaults to document, COPY would otherwise
     * refuse xml values that are fragments. client_min_messages keeps notices quiet. */
    sql = rg_asprintf("set statement_timeout = %lld; set lock_timeout = 0; "
                      "set idle_in_transaction_session_timeout = 0; "
                      "set standard_conforming_strings = %s; "
                      "select pg_catalog.set_config('search_path', '', false); "
                      "set check_function_bodies = false; set xmloption = content; "
                      "set client_min_messages = warning; set row_security = off",
                      (long long)(left > 0 ? left : 1), l->toc->std_strings_off ? "off" : "on");
    rc = pg_exec(NULL, w->conn, sql, 0, NULL, "cannot prepare a loading session", err);
    free(sql);
    return rc;
}

static void *
work(void *arg)
{
    struct worker *w = arg;
    struct loader *l = w->l;
    struct rg_err err;
    struct unit u;
    int rc = session_setup(w, &err);

    if (rc < 0)
        fail(l, &err);
    while (rc == 0) {
        pthread_mutex_lock(&l->mu);
        while (l->head == l->tail && !l->closed && !l->failed)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->failed || l->head == l->tail) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        u = l->q[l->tail++ % l->cap];
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if ((u.entry != w->entry &&
             ((rc = copy_end(w, false, &err)) < 0 || (rc = copy_begin(w, u.entry, &err)) < 0)) ||
            (rc = feed(w, &u, &err)) < 0)
            fail(l, &err);
        unit_done(l, &u);
    }
    pthread_mutex_lock(&l->mu);
    bool stop = l->failed;
    pthread_mutex_unlock(&l->mu);
    if (w->conn && copy_end(w, stop, &err) < 0)
        fail(l, &err);
    return NULL;
}

/* Queues a unit (the queue owns its buffer then, *u is emptied); false when the load has failed
 * and the reader should stop. */
static bool
push(struct loader *l, struct unit *u)
{
    bool ok;

    pthread_mutex_lock(&l->mu);
    while (l->head - l->tail == l->cap && !l->failed)
        pthread_cond_wait(&l->cv, &l->mu);
    ok = !l->failed;
    if (ok) {
        l->q[l->head++ % l->cap] = *u;
        u->rows = NULL;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* An empty unit for entry, its buffer from the pool when one is there. */
static void
unit_start(struct loader *l, struct unit *u, size_t entry)
{
    uint8_t *rows = NULL;

    pthread_mutex_lock(&l->mu);
    if (l->nspare)
        rows = l->spare[--l->nspare];
    pthread_mutex_unlock(&l->mu);
    *u = (struct unit){.entry = entry, .rows = rows ? rows : rg_malloc(UNIT_BYTES),
                       .cap = UNIT_BYTES};
}

static bool
failed(struct loader *l)
{
    bool f;

    pthread_mutex_lock(&l->mu);
    f = l->failed;
    pthread_mutex_unlock(&l->mu);
    return f;
}

/* One table's data block gathered into units cut at row ends. */
static int
split(struct loader *l, struct pgd_stream *in, size_t entry)
{
    struct unit u;
    const uint8_t *data;
    size_t n;
    int rc;

    unit_start(l, &u, entry);
    while ((rc = pgd_stream_next_chunk(in, &data, &n)) > 0) {
        if (pgd_chunk_is_copy_end(data, n))
            continue; /* the end is the end of the COPY, for every worker */
        /* In COPY's text format every raw newline ends a row (newlines in values are escaped),
         * and a unit is cut only there. A row bigger than a unit gets a buffer of its own. */
        if (u.len + n > u.cap && u.len > 0 && u.rows[u.len - 1] == '\n') {
            if (!push(l, &u))
                break;
            unit_start(l, &u, entry);
        }
        if (u.len + n > u.cap) {
            /* PostgreSQL's own limit on a field; a longer "row" is a damaged dump. */
            if (u.len + n > MAX_ROW_BYTES) {
                rc = rg_err_set(in->err, RG_EINVAL, "pg_dump archive: a row of %s.%s is longer "
                                "than 1 GiB", l->toc->entries[entry].nspace,
                                l->toc->entries[entry].tag);
                break;
            }
            u.cap = u.len + n > 2 * u.cap ? u.len + n : 2 * u.cap;
            u.rows = rg_realloc(u.rows, u.cap);
        }
        memcpy(u.rows + u.len, data, n);
        u.len += n;
    }
    if (rc == 0 && u.len > 0 && !failed(l))
        push(l, &u);
    free(u.rows);
    return rc;
}

static int
read_blocks(struct loader *l, struct pgd_stream *in, int tee_fd, bool *seen, const bool *loaded,
            struct rg_err *err)
{
    int type, id, rc = 0;

    while (!failed(l) && (rc = pgd_stream_next_block(in, &type, &id)) > 0) {
        const struct pgd_entry *e = pgd_toc_find(l->toc, id);
        size_t i = e ? (size_t)(e - l->toc->entries) : 0;

        if (rg_mono_ms() > l->deadline)
            return rg_err_set(err, RG_ETIMEOUT, "loading '%s' took longer than the restore "
                              "timeout", l->dbname);
        if (type == PGD_BLOCK_DATA && e && loaded[i]) {
            if (seen[i])
                return rg_err_set(err, RG_EINVAL, "pg_dump archive: two data blocks for %s.%s",
                                  e->nspace, e->tag);
            seen[i] = true;
            rc = split(l, in, i);
        } else if (tee_fd >= 0) {
            /* Everything else goes, as it is, into the skeleton for pg_restore. */
            if ((rc = pgd_stream_tee_block(in, tee_fd)) == 0 &&
                (rc = pgd_stream_skip_block(in, type)) == 0)
                rc = pgd_stream_tee_block(in, -1);
        } else {
            rc = pgd_stream_skip_block(in, type);
        }
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (failed(l)) /* a worker's error is the one to report */
        return 0;
    for (size_t i = 0; i < l->toc->n; i++)
        if (loaded[i] && !seen[i])
            return rg_err_set(err, RG_EINVAL, "pg_dump archive: no data block for %s.%s",
                              l->toc->entries[i].nspace, l->toc->entries[i].tag);
    return 0;
}

int
pg_load_tables(const struct pg_dsn *d, const char *dbname, const struct pgd_toc *toc,
               struct pgd_stream *in, int tee_fd, int jobs, int64_t timeout_ms, bool *loaded,
               struct rg_err *err)
{
    struct loader l = {.toc = toc, .d = d, .dbname = dbname,
                       .deadline = rg_mono_ms() + timeout_ms};
    struct worker *w;
    bool *seen = rg_calloc(toc->n ? toc->n : 1, sizeof(*seen));
    struct rg_err rerr;
    int rc;

    for (size_t i = 0; i < toc->n; i++)
        loaded[i] = pgd_entry_copyable(&toc->entries[i]);
    jobs = jobs < 1 ? 1 : jobs;
    l.cap = 2 * (size_t)jobs;
    l.q = rg_calloc(l.cap, sizeof(*l.q));
    l.spare = rg_calloc(l.cap + 2, sizeof(*l.spare));
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    w = rg_calloc((size_t)jobs, sizeof(*w));
    for (int i = 0; i < jobs; i++) {
        w[i] = (struct worker){.l = &l, .entry = SIZE_MAX};
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
            abort(); /* out of threads: as out of memory, nothing to recover */
    }
    /* The stream's errors land in the reader's rg_err; the loader's first failure is reported. */
    struct rg_err *stream_err = in->err;
    in->err = &rerr;
    if ((rc = read_blocks(&l, in, tee_fd, seen, loaded, &rerr)) < 0)
        fail(&l, &rerr);
    in->err = stream_err;
    pthread_mutex_lock(&l.mu);
    l.closed = true;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
    for (int i = 0; i < jobs; i++) {
        pthread_join(w[i].thread, NULL);
        PQfinish(w[i].conn);
    }
    /* Units a failure left in the queue. */
    for (size_t i = l.tail; i != l.head; i++)
        free(l.q[i % l.cap].rows);
    for (size_t i = 0; i < l.nspare; i++)
        free(l.spare[i]);
    if (l.failed) {
        if (err)
            *err = l.err;
        rc = l.err.code ? l.err.code : RG_EINTERNAL;
    }
    pthread_mutex_destroy(&l.mu);
    pthread_cond_destroy(&l.cv);
    free(l.q);
    free(l.spare);
    free(w);
    free(seen);
    return rc;
}
