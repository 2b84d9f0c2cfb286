/* libFuzzer target for the decoders of the Docker daemon's answers: any bytes in as a container
 * inspect, a container list, an event line, a time, two API versions and a log stream (framed
 * and raw, in one read and in two), with no crash, leak or undefined behaviour, and the log
 * decoder giving the same payload however the stream is split; and the same bytes as a compose
 * file (`rollgate init`). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/compose_file.h"
#include "rollgate/err.h"
#include "rollgate/runtime.h"
#include "rollgate/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOG_MAX (1 << 16)

static int
decode(struct rg_buf *out, bool *done, const uint8_t *data, size_t size, size_t split, bool raw)
{
    struct rg_frame_decoder fd;
    struct rg_err err;
    int rc;

    rg_buf_init(out, LOG_MAX);
    rg_frame_decoder_init(&fd, raw);
    rg_err_clear(&err);
    rc = rg_frame_decoder_feed(&fd, out, data, split, &err);
    if (rc == 0)
        rc = rg_frame_decoder_feed(&fd, out, data + split, size - split, &err);
    *done = rg_frame_decoder_done(&fd);
    return rc;
}

static void
check_frames(const uint8_t *data, size_t size, bool raw)
{
    struct rg_buf whole, parts;
    bool done_whole, done_parts;
    size_t split = size ? data[0] % (size + 1) : 0;
    int rc_whole = decode(&whole, &done_whole, data, size, size, raw);
    int rc_parts = decode(&parts, &done_parts, data, size, split, raw);

    /* Where the stream is cut must not change what comes out of it. */
    if (rc_whole != rc_parts || whole.len != parts.len ||
        (whole.len && memcmp(whole.data, parts.data, whole.len) != 0) ||
        (rc_whole == 0 && done_whole != done_parts))
        __builtin_trap();
    if (raw && (rc_whole != 0 || whole.len != (size < LOG_MAX ? size : LOG_MAX)))
        __builtin_trap();
    if (whole.len > size)
        __builtin_trap();
    rg_buf_release(&whole);
    rg_buf_release(&parts);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    struct rg_container c, *v = NULL;
    struct rg_docker_event ev;
    struct rg_err err;
    size_t n = 0;
    int64_t ms;
    char *s, *nl;

    rg_err_clear(&err);
    if (rg_docker_parse_inspect(&c, json, size, &err) == 0 && (!c.id || !c.name || !c.status))
        __builtin_trap(); /* callers rely on these three */
    rg_container_release(&c);

    if (rg_docker_parse_list(&v, &n, json, size, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!v[i].id || !v[i].name)
                __builtin_trap();
    }
    rg_containers_free(v, n);

    (void)rg_docker_parse_event(&ev, json, size, &err);

    /* The same bytes as a compose file for `rollgate init`. */
    struct rg_compose_file cf;
    if (rg_compose_file_parse(&cf, "fuzz.yml", json, size, &err) == 0) {
        for (size_t i = 0; i < cf.n_services; i++)
            if (!cf.services[i].name || (cf.services[i].image && !cf.services[i].repo))
                __builtin_trap();
        rg_compose_file_release(&cf);
    }

    /* The string decoders take C strings: a NUL-terminated copy (it may hold NULs inside). */
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)rg_docker_parse_time(&ms, s, &err);
    /* Two versions: the text before the first newline and the text after it. */
    if ((nl = strchr(s, '\n'))) {
        *nl = '\0';
        int ab = rg_docker_version_cmp(s, nl + 1), ba = rg_docker_version_cmp(nl + 1, s);
        if ((ab > 0) != (ba < 0) || (ab < 0) != (ba > 0))
            __builtin_trap(); /* a comparison must be antisymmetric */
    }
    free(s);

    check_frames(data, size, false);
    check_frames(data, size, true);
    return 0;
}
