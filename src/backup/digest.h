/* SHA-256 for backup checksums, computed by libcrypto: a streaming context and a hex digest.
 * Private to the backup module, so no OpenSSL header reaches include/rollgate/. */
#ifndef ROLLGATE_BACKUP_DIGEST_H
#define ROLLGATE_BACKUP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "rollgate/err.h"

#define AR_SHA256_HEX_LEN 64

struct ar_sha256 {
    void *ctx;   /* EVP_MD_CTX, owned; NULL once finished or released */
    bool failed; /* a libcrypto call failed; final_hex reports it */
};

/* Starts a digest in c. RG_EINTERNAL when libcrypto cannot provide SHA-256 (nothing to release
 * then). On success the caller ends c with ar_sha256_final_hex or ar_sha256_release. */
int ar_sha256_init(struct ar_sha256 *c, struct rg_err *err);
/* Adds len bytes; a failure is remembered and reported by ar_sha256_final_hex. */
void ar_sha256_update(struct ar_sha256 *c, const void *data, size_t len);
/* Finishes the digest as 64 lowercase hex digits and a NUL, and releases c. RG_EINTERNAL when
 * any step failed (hex is then ""). */
int ar_sha256_final_hex(struct ar_sha256 *c, char hex[AR_SHA256_HEX_LEN + 1], struct rg_err *err);
/* Releases an unfinished c (finished or released ones are accepted too). */
void ar_sha256_release(struct ar_sha256 *c);

#endif
