/* The multiplexed stream of container logs: 8-byte frame headers split anywhere across reads,
 * decoded by a small state machine so no frame boundary is ever assumed to align with a read. */
#include <string.h>

#include "rollgate/runtime.h"

void
rg_frame_decoder_init(struct rg_frame_decoder *fd, bool raw)
{
    memset(fd, 0, sizeof(*fd));
    fd->raw = raw;
}

void
rg_frame_decoder_init_auto(struct rg_frame_decoder *fd)
{
    memset(fd, 0, sizeof(*fd));
    fd->detect = true;
}

void
rg_frame_decoder_flush(struct rg_frame_decoder *fd, struct rg_buf *out)
{
    if (fd->detect && fd->have) {
        rg_buf_add(out, fd->header, fd->have);
        fd->have = 0;
        fd->detect = false;
        fd->raw = true;
    }
}

static bool
looks_like_header(const unsigned char h[8])
{
    return h[0] <= 2 && !h[1] && !h[2] && !h[3];
}

int
rg_frame_decoder_feed(struct rg_frame_decoder *fd, struct rg_buf *out, const void *data,
                      size_t len, struct rg_err *err)
{
    const unsigned char *p = data;

    if (fd->detect) {
        size_t take = sizeof(fd->header) - fd->have;
        if (take > len)
            take = len;
        memcpy(fd->header + fd->have, p, take);
        fd->have += take;
        p += take;
        len -= take;
        if (fd->have < sizeof(fd->header))
            return 0;
        fd->detect = false;
        if (!looks_like_header(fd->header)) {
            fd->raw = true;
            rg_buf_add(out, fd->header, fd->have);
            fd->have = 0;
        } else {
            /* The header is complete: let the framed path take it from here. */
            fd->have = 0;
            if (rg_frame_decoder_feed(fd, out, fd->header, sizeof(fd->header), err) < 0)
                return err->code;
        }
    }
    if (fd->raw) {
        rg_buf_add(out, p, len);
        return 0;
    }
    while (len > 0) {
        if (fd->remaining == 0) {
            size_t take = sizeof(fd->header) - fd->have;
            if (take > len)
                take = len;
            memcpy(fd->header + fd->have, p, take);
            fd->have += take;
            p += take;
            len -= take;
            if (fd->have < sizeof(fd->header))
                break;
            /* stream 0 stdin, 1 stdout, 2 stderr; three zero bytes; big-endian length */
            if (fd->header[0] > 2 || fd->header[1] || fd->header[2] || fd->header[3])
                return rg_err_set(err, RG_ERUNTIME,
                                  "malformed log frame header (stream byte %u); is the "
                                  "container's TTY setting what rollgate assumed?",
                                  fd->header[0]);
            fd->remaining = (uint32_t)fd->header[4] << 24 | (uint32_t)fd->header[5] << 16 |
                            (uint32_t)fd->header[6] << 8 | fd->header[7];
            fd->have = 0;
            continue;
        }
        size_t take = fd->remaining < len ? fd->remaining : len;
        rg_buf_add(out, p, take);
        fd->remaining -= (uint32_t)take;
        p += take;
        len -= take;
    }
    return 0;
}

bool
rg_frame_decoder_done(const struct rg_frame_decoder *fd)
{
    return fd->raw || fd->detect || (fd->have == 0 && fd->remaining == 0);
}
