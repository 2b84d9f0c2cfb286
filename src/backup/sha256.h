/* SHA-256 (FIPS 180-4) for backup checksums: streaming context, hex digest. */
#ifndef ROLLGATE_BACKUP_SHA256_H
#define ROLLGATE_BACKUP_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RG_SHA256_LEN 32
#define RG_SHA256_HEX_LEN 64

struct rg_sha256 {
    uint32_t h[8];
    uint64_t bytes;           /* message length so far */
    unsigned char block[64];  /* partial block */
    size_t fill;              /* bytes in block */
};

void rg_sha256_init(struct rg_sha256 *c);
void rg_sha256_update(struct rg_sha256 *c, const void *data, size_t len);
/* Finishes the digest into out; c must be initialised again before reuse. */
void rg_sha256_final(struct rg_sha256 *c, unsigned char out[RG_SHA256_LEN]);
/* Finishes the digest as 64 lowercase hex digits and a NUL. */
void rg_sha256_final_hex(struct rg_sha256 *c, char hex[RG_SHA256_HEX_LEN + 1]);

/* Whether the SHA extensions of the processor are used (decided on first use). */
bool rg_sha256_accelerated(void);
/* Tests: true forces the portable code, false lets the processor decide again. */
void rg_sha256_use_portable(bool portable);

#endif
