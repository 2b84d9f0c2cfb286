/* SHA-256 through libcrypto's EVP interface: the hash every backup member carries. libcrypto
 * picks the processor's SHA extensions when it has them, and a restore hashes every byte of the
 * dump while the service is down. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "backup/digest.h"

/* The message of libcrypto's oldest queued error, and the queue emptied. */
static int
crypto_fail(struct rg_err *err, const char *what)
{
    char buf[256] = "unknown error";
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return rg_err_set(err, RG_EINTERNAL, "cannot %s sha-256: %s", what, buf);
}

int
ar_sha256_init(struct ar_sha256 *c, struct rg_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    c->ctx = NULL;
    c->failed = false;
    if (!ctx)
        return crypto_fail(err, "set up");
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return crypto_fail(err, "set up");
    }
    c->ctx = ctx;
    return 0;
}

void
ar_sha256_update(struct ar_sha256 *c, const void *data, size_t len)
{
    if (!c->failed && EVP_DigestUpdate(c->ctx, data, len) != 1)
        c->failed = true;
}

int
ar_sha256_final_hex(struct ar_sha256 *c, char hex[AR_SHA256_HEX_LEN + 1], struct rg_err *err)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = 0;

    hex[0] = '\0';
    if (c->failed || !c->ctx || EVP_DigestFinal_ex(c->ctx, md, &n) != 1 ||
        n * 2 != AR_SHA256_HEX_LEN)
        rc = crypto_fail(err, "compute");
    else {
        for (unsigned int i = 0; i < n; i++) {
            hex[2 * i] = digits[md[i] >> 4];
            hex[2 * i + 1] = digits[md[i] & 0x0f];
        }
        hex[2 * n] = '\0';
    }
    ar_sha256_release(c);
    return rc;
}

void
ar_sha256_release(struct ar_sha256 *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
}
