/* The database dump's second half of a read, on a thread of its own: the checksum of the whole
 * dump and, when extracting, the write of the dump file. The reading thread decompresses into
 * the slots and checksums each part; this thread takes the slots in order. On a restore that is
 * the difference between the two costs adding up and overlapping, and a restore is downtime. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_internal.h"
#include "backup/digest.h"
#include "rollgate/util.h"

#define SLOTS 8
#define SLOT_SIZE (1024 * 1024)

struct ar_dbpipe {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;                       /* the dump file, or -1 when only verifying */
    char *buf[SLOTS];
    size_t len[SLOTS];
    size_t head, tail;            /* slots filled by the reader: [tail, head) */
    bool closing;
    int failed_errno;             /* the write that failed, 0 while all is well */
    struct ar_sha256 sha;
};

static void *
worker(void *arg)
{
    struct ar_dbpipe *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->tail == p->head && !p->closing)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->tail == p->head)
            break;
        size_t i = p->tail % SLOTS;
        pthread_mutex_unlock(&p->mu);
        /* The slot is ours until tail moves past it. */
        ar_sha256_update(&p->sha, p->buf[i], p->len[i]);
        int bad =
            p->fd >= 0 && rg_fs_write_all(p->fd, p->buf[i], p->len[i], "", NULL) < 0 ? errno : 0;
        pthread_mutex_lock(&p->mu);
        if (bad && !p->failed_errno)
            p->failed_errno = bad;
        p->tail++;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int
ar_dbpipe_start(struct ar_dbpipe **out, int fd, struct rg_err *err)
{
    struct ar_dbpipe *p;
    struct ar_sha256 sha;
    int rc;

    *out = NULL;
    if ((rc = ar_sha256_init(&sha, err)) < 0)
        return rc;
    p = rg_calloc(1, sizeof(*p));
    p->fd = fd;
    p->sha = sha;
    for (size_t i = 0; i < SLOTS; i++)
        p->buf[i] = rg_malloc(SLOT_SIZE);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, worker, p) != 0)
        abort(); /* out of threads: as out of memory, nothing to recover */
    *out = p;
    return 0;
}

void *
ar_dbpipe_slot(struct ar_dbpipe *p, size_t *cap)
{
    void *slot;

    pthread_mutex_lock(&p->mu);
    while (p->head - p->tail == SLOTS)
        pthread_cond_wait(&p->cv, &p->mu);
    slot = p->buf[p->head % SLOTS];
    pthread_mutex_unlock(&p->mu);
    *cap = SLOT_SIZE;
    return slot;
}

int
ar_dbpipe_commit(struct ar_dbpipe *p, size_t len)
{
    int failed;

    pthread_mutex_lock(&p->mu);
    p->len[p->head % SLOTS] = len;
    p->head++;
    failed = p->failed_errno;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (failed) {
        errno = failed;
        return -1;
    }
    return 0;
}

int
ar_dbpipe_finish(struct ar_dbpipe *p, char hex[AR_SHA256_HEX_LEN + 1], struct rg_err *err)
{
    int failed, rc = 0;

    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    failed = p->failed_errno;
    if (hex)
        rc = ar_sha256_final_hex(&p->sha, hex, err);
    else
        ar_sha256_release(&p->sha);
    for (size_t i = 0; i < SLOTS; i++)
        free(p->buf[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    if (failed) {
        errno = failed;
        return -1;
    }
    return rc;
}
