/* `rollgate --version`: the release, the commit and build it comes from, and the versions of
 * the libraries it runs with (what a bug report needs first). */
#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <yaml.h>

#include "cmd.h"
#include "rollgate_version.h"

void
rg_cli_print_version(FILE *out)
{
    int pq = PQlibVersion();

    fprintf(out, "rollgate %s (commit %s, %s build, %s)\n", ROLLGATE_VERSION, ROLLGATE_GIT_COMMIT,
            ROLLGATE_BUILD_TYPE[0] ? ROLLGATE_BUILD_TYPE : "default",
#if defined(__clang__)
            "clang " __clang_version__
#elif defined(__GNUC__)
            "gcc " __VERSION__
#else
            "an unknown compiler"
#endif
    );
    /* PQlibVersion is major * 10000 + minor from PostgreSQL 10 on. */
    fprintf(out, "libraries: libcurl %s, libpq %d.%d, libyaml %s, %s, jansson %s, sqlite %s, %s\n",
            curl_version_info(CURLVERSION_NOW)->version, pq / 10000, pq % 10000,
            yaml_get_version_string(), archive_version_string(), jansson_version_str(),
            sqlite3_libversion(), OpenSSL_version(OPENSSL_VERSION));
}
