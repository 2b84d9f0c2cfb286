/* `rollgate init`: a first playbook for a compose stack that already runs, read off its compose
 * file, written where nothing is, and a list of what the person must still decide. The text is
 * loaded back before it is kept: init never leaves a playbook that does not validate. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "rollgate/compose_file.h"
#include "rollgate/driver.h"
#include "rollgate/runtime.h"
#include "rollgate/util.h"

enum { IN_COMPOSE, IN_NAME, IN_OUTPUT, IN_NGINX };

static const struct rg_opt init_opts[] = {
    [IN_COMPOSE] = {"compose", 'f', "FILE",
                    "the compose file (default: compose.yaml, compose.yml, docker-compose.yaml "
                    "or docker-compose.yml in the project directory)"},
    [IN_NAME] = {"name", 0, "NAME", "the target's name (default: the project directory's)"},
    [IN_OUTPUT] = {"output", 'o', "FILE", "where to write the playbook (default: rollgate.yml)"},
    [IN_NGINX] = {"nginx-dir", 0, "DIR",
                  "where host nginx keeps its configuration (default: /etc/nginx): upstreams "
                  "that point at the stack's published ports become a proxy section"},
    {0},
};

enum role { ROLE_APP, ROLE_DB, ROLE_PROXY };

static const char *
base_of(const char *repo)
{
    const char *slash = repo ? strrchr(repo, '/') : NULL;
    return slash ? slash + 1 : repo ? repo : "";
}

static enum role
role_of(const struct rg_compose_service *s)
{
    const char *b = base_of(s->repo);

    if (strncmp(b, "postgres", 8) == 0 || strcmp(b, "postgis") == 0)
        return ROLE_DB;
    if (strncmp(b, "nginx", 5) == 0)
        return ROLE_PROXY;
    return ROLE_APP;
}

/* Compose's own grammar for names; anything else would not survive into YAML and gates. */
static bool
plain_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

/* Whether every ${...} in s has a default (the playbook then loads without the variable). */
static bool
vars_have_defaults(const char *s)
{
    for (const char *p = strstr(s, "${"); p; p = strstr(p + 2, "${")) {
        const char *close = strchr(p, '}'), *def = strstr(p, ":-");
        if (!close || !def || def > close)
            return false;
    }
    return true;
}

/* A service init can deploy: a plain name, an image by tag (one pinned by digest is not moved
 * by releases), its repository fixed or from variables with defaults. */
static bool
deployable(const struct rg_compose_service *s)
{
    return plain_name(s->name) && s->image && !strchr(s->image, '@') && s->repo && s->repo[0] &&
           vars_have_defaults(s->repo) && !strpbrk(s->repo, " \"'#[]\\");
}

/* The variable most app services take their tag from; NULL when none does. */
static const char *
common_tag_var(const struct rg_compose_file *cf)
{
    const char *best = NULL;
    size_t best_n = 0;

    for (size_t i = 0; i < cf->n_services; i++) {
        const char *v = cf->services[i].tag_var;
        size_t n = 0;
        if (!v || role_of(&cf->services[i]) != ROLE_APP || !deployable(&cf->services[i]) ||
            !plain_name(v))
            continue;
        for (size_t k = 0; k < cf->n_services; k++)
            n += cf->services[k].tag_var && strcmp(cf->services[k].tag_var, v) == 0;
        if (n > best_n) {
            best = v;
            best_n = n;
        }
    }
    return best;
}

static const char *
find_compose(char *buf, size_t size, const char *dir)
{
    static const char *const names[] = {"compose.yaml", "compose.yml", "docker-compose.yaml",
                                        "docker-compose.yml"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(buf, size, "%s/%s", dir, names[i]);
        if (access(buf, F_OK) == 0)
            return buf;
    }
    return NULL;
}

/* The name grammar of a target: letters, digits, '.', '-', '_'. */
static void
target_name(char *out, size_t size, const char *given, const char *dir)
{
    char *derived = rg_compose_project_name(NULL, dir);
    size_t n = 0;

    for (const char *p = given ? given : derived; *p && n + 1 < size; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            ((*p == '-' || *p == '_' || *p == '.') && n > 0))
            out[n++] = *p;
    out[n] = '\0';
    if (!n)
        snprintf(out, size, "app");
    free(derived);
}

struct draft {
    struct rg_buf text;
    struct rg_buf todo;
    int todos;
    struct rg_strv gates;    /* verify */
    struct rg_strv settle;   /* settle's gates */
    struct rg_strv services; /* deployed */
};

static void
todo(struct draft *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
todo(struct draft *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rg_buf_addf(&d->todo, "  %d. %s\n", ++d->todos, line);
}

/* The gates of one deployed service: its container, then its published ports. */
static void
app_gates(struct draft *d, const struct rg_compose_service *s)
{
    bool odoo = strstr(base_of(s->repo), "odoo") != NULL, http_done = false;
    char name[160];

    snprintf(name, sizeof(name), "%s_running", s->name);
    rg_buf_addf(&d->text, "  %s: {container: %s, state: running}\n", name, s->name);
    rg_strv_push(&d->gates, name);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct rg_compose_port *p = &s->ports[i];
        char ip[72];
        if (!p->host || p->udp)
            continue; /* not published on a fixed port, or not TCP: no gate from here */
        if (strchr(p->host_ip, '$') || strpbrk(p->host_ip, " \"'#{}[]")) {
            todo(d, "service '%s' publishes port %d on an address from a variable (%s): add a "
                    "gate for it by hand",
                 s->name, p->host, p->host_ip);
            continue;
        }
        if (!p->host_ip[0] || strcmp(p->host_ip, "0.0.0.0") == 0 || strcmp(p->host_ip, "::") == 0)
            snprintf(ip, sizeof(ip), "127.0.0.1");
        else if (strchr(p->host_ip, ':'))
            snprintf(ip, sizeof(ip), "[%s]", p->host_ip);
        else
            snprintf(ip, sizeof(ip), "%s", p->host_ip);
        if (odoo && p->container == 8072) {
            snprintf(name, sizeof(name), "%s_live", s->name);
            rg_buf_addf(&d->text, "  %s: {websocket: \"ws://%s:%d/websocket\"}\n", name, ip,
                        p->host);
        } else if (!http_done) {
            /* 443 is TLS, most likely with a certificate for a public name, not 127.0.0.1. */
            bool tls = p->container == 443 || p->host == 443;
            snprintf(name, sizeof(name), "%s_http", s->name);
            rg_buf_addf(&d->text, "  %s: {http: \"http%s://%s:%d%s\", expect: [200]%s}\n", name,
                        tls ? "s" : "", ip, p->host, odoo ? "/web/health" : "/",
                        tls ? ", tls_verify: false" : "");
            rg_strv_push(&d->settle, name);
            if (!odoo)
                todo(d, "gates.%s probes http://%s:%d/: point it at the health endpoint of "
                        "service '%s' (and set 'expect' to what a healthy one answers)",
                     name, ip, p->host, s->name);
            http_done = true;
        } else {
            snprintf(name, sizeof(name), "%s_port_%d", s->name, p->host);
            if (rg_strv_contains(&d->gates, name))
                continue; /* the same port twice (tcp and udp, two addresses): one gate */
            rg_buf_addf(&d->text, "  %s: {tcp: \"%s:%d\"}\n", name, ip, p->host);
        }
        rg_strv_push(&d->gates, name);
    }
    if (!http_done)
        todo(d, "service '%s' publishes no host port, so only its container is checked: add an "
                "http gate on a port it publishes, or a command gate",
             s->name);
}

/* A postgres gate and a backup section from the database service's environment. The password
 * is never copied out of the compose file: the DSN reads it from the environment. */
static void
db_parts(struct draft *d, const struct rg_compose_service *db, const char *name, char **dsn_out)
{
    const char *user = rg_compose_service_env(db, "POSTGRES_USER");
    const char *dbname = rg_compose_service_env(db, "POSTGRES_DB");
    int port = 5432;
    bool published = false;

    for (size_t i = 0; i < db->n_ports; i++)
        if (db->ports[i].container == 5432 && db->ports[i].host) {
            port = db->ports[i].host;
            published = true;
        }
    const char *host = "127.0.0.1";

    for (size_t i = 0; i < db->n_ports; i++)
        if (db->ports[i].container == 5432 && db->ports[i].host && db->ports[i].host_ip[0] &&
            strcmp(db->ports[i].host_ip, "0.0.0.0") != 0 && plain_name(db->ports[i].host_ip))
            host = db->ports[i].host_ip;
    if (!plain_name(user))
        user = "postgres";
    if (!plain_name(dbname))
        dbname = user;
    /* No password in the DSN: libpq reads PGPASSWORD (or ~/.pgpass) itself. */
    *dsn_out = rg_asprintf("host=%s port=%d dbname=%s user=%s", host, port, dbname, user);
    rg_buf_addf(&d->text, "  db: {postgres: \"%s\", max_connections_used: 80%%}\n", *dsn_out);
    rg_strv_push(&d->gates, "db");
    todo(d, "the postgres gate and the backups log in as '%s': give rollgate the password as "
            "PGPASSWORD in its environment or in ~/.pgpass (never in the playbook)",
         user);
    if (!published)
        todo(d, "service '%s' publishes no host port for 5432: publish it on 127.0.0.1 (ports: "
                "[\"127.0.0.1:5432:5432\"]) or change the DSN's host, so that the gate and "
                "pg_dump reach it",
             db->name);
    todo(d, "backup.database names database '%s' (POSTGRES_DB, else the user): make it the "
            "database the application keeps its data in",
         dbname);
    todo(d, "backups go to /var/backups/rollgate/%s (pg_dump and pg_restore of the server's "
            "major version must be installed where rollgate runs)",
         name);
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted (nginx includes them in that order). */
static int
list_dir(struct rg_strv *out, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        struct stat st;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        /* Regular files only: a FIFO would block the read forever. */
        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rg_strv_push(out, e->d_name);
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), by_name);
    return 0;
}

/* Host nginx's upstream blocks whose servers are ports the deployed services publish: the
 * proxy section a switch needs, offered commented out (the compose file must change first). */
static void
nginx_upstreams(struct draft *d, const char *nginx_dir, const struct rg_compose_file *cf,
                const char *name)
{
    static const char *const subdirs[] = {"conf.d", "sites-enabled"};
    struct rg_buf found, conf;
    struct rg_err err;
    char path[PATH_MAX], where[PATH_MAX + 256] = "";

    rg_buf_init(&found, 8192);
    rg_buf_init(&conf, 256 * 1024);
    for (size_t k = 0; k < sizeof(subdirs) / sizeof(subdirs[0]); k++) {
        struct rg_strv files = {0};
        snprintf(path, sizeof(path), "%s/%s", nginx_dir, subdirs[k]);
        if (list_dir(&files, path) < 0)
            continue;
        for (size_t f = 0; f < files.n; f++) {
            char file[PATH_MAX + 256], upstream[65] = "";
            snprintf(file, sizeof(file), "%s/%s", path, files.v[f]);
            rg_buf_reset(&conf);
            if (rg_fs_read_file(&conf, file, &err) < 0 || !conf.data)
                continue;
            for (char *save = NULL, *line = strtok_r(conf.data, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save)) {
                char host[64];
                int port;
                char word[80], *srv;
                while (*line == ' ' || *line == '\t')
                    line++;
                /* "upstream NAME {" (and the one-line "upstream NAME { server A:P; }"):
                 * only names nginx and rollgate both take. */
                if (sscanf(line, "upstream %79s", word) == 1) {
                    size_t wl = strcspn(word, "{");
                    word[wl] = '\0';
                    upstream[0] = '\0';
                    if (wl && wl <= 64 && strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                                                       "NOPQRSTUVWXYZ0123456789_") == wl)
                        snprintf(upstream, sizeof(upstream), "%.64s", word);
                    if (!(srv = strstr(line, "server ")))
                        continue;
                    line = srv;
                }
                if (*line == '}')
                    upstream[0] = '\0';
                if (!upstream[0] || sscanf(line, "server %63[^:]:%d", host, &port) != 2)
                    continue;
                /* Only this host's loopback or any-address: another machine's port is not
                 * this stack's. */
                if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0 &&
                    strcmp(host, "0.0.0.0") != 0)
                    continue;
                for (size_t i = 0; i < cf->n_services; i++) {
                    const struct rg_compose_service *s = &cf->services[i];
                    if (!rg_strv_contains(&d->services, s->name))
                        continue;
                    for (size_t p = 0; p < s->n_ports; p++)
                        if (s->ports[p].host == port) {
                            rg_buf_addf(&found, "#     %s: {service: %s, port: %d}\n", upstream,
                                        s->name, s->ports[p].container);
                            snprintf(where, sizeof(where), "%s", file);
                            upstream[0] = '\0'; /* one server per upstream is enough */
                        }
                }
            }
        }
        rg_strv_release(&files);
    }
    if (found.len) {
        rg_buf_addf(&d->text,
                    "\n# Host nginx proxies to this stack (%s). For deploys without a failed\n"
                    "# request, uncomment (docs/switch.md): the services must then publish no\n"
                    "# fixed host port, nginx must include the upstream file below instead\n"
                    "# of its own upstream blocks of the same names, and the gates name the\n"
                    "# services (http://SERVICE:PORT/...) instead of 127.0.0.1.\n"
                    "# strategy: switch\n"
                    "# proxy:\n"
                    "#   upstream_file: %s/conf.d/rollgate-%s-upstreams.conf\n"
                    "#   upstreams:\n%s",
                    where, nginx_dir, name, found.data);
        todo(d, "host nginx proxies to the stack (%s): the playbook holds the proxy section for "
                "`strategy: switch`, commented out",
             where);
    }
    rg_buf_release(&found);
    rg_buf_release(&conf);
}

static int
write_new(const char *path, const char *text, struct rg_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);

    if (fd < 0 && errno == EEXIST)
        return rg_err_set(err, RG_EINVAL, "'%s' exists: init never overwrites a playbook "
                                          "(choose another with --output)",
                          path);
    if (fd < 0)
        return rg_err_sys(err, errno == EACCES || errno == EPERM ? RG_ENOPERM
                               : errno == ENOENT || errno == ENOTDIR ? RG_ECANTCREAT
                                                                     : RG_EIO,
                          "cannot create '%s'", path);
    int rc = rg_fs_write_all(fd, text, strlen(text), path, err);
    if (rc == 0 && fsync(fd) < 0)
        rc = rg_err_sys(err, RG_EIO, "cannot write '%s'", path);
    if (rc < 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    close(fd);
    return 0;
}

static void
yaml_list(struct rg_buf *b, const struct rg_strv *v)
{
    rg_buf_adds(b, "[");
    for (size_t i = 0; i < v->n; i++)
        rg_buf_addf(b, "%s%s", i ? ", " : "", v->v[i]);
    rg_buf_adds(b, "]");
}

static int
cmd_init(struct rg_cmd_ctx *ctx)
{
    const char *dir_arg = ctx->nargs ? ctx->args[0] : ".";
    const char *output = ctx->optval[IN_OUTPUT] ? ctx->optval[IN_OUTPUT] : "rollgate.yml";
    char dir[PATH_MAX], found[PATH_MAX + 32], name[65], compose_abs[PATH_MAX];
    const char *compose = ctx->optval[IN_COMPOSE];
    const struct rg_compose_service *db = NULL, *proxy = NULL;
    struct rg_compose_file cf;
    struct draft d = {0};
    const char *tag_var, *repo = NULL;
    char *dsn = NULL, *env_tag = NULL, *env_path = NULL;
    struct rg_err err;
    int rc = RG_EXIT_OK;

    if (ctx->optval[IN_NAME] && !plain_name(ctx->optval[IN_NAME]))
        return rg_cli_usage_error(ctx->cmd, "invalid name '%s' (1-64 letters, digits, '.', '-' "
                                            "or '_')",
                                  ctx->optval[IN_NAME]);
    if (!realpath(dir_arg, dir)) {
        fprintf(ctx->errout, "rollgate: init: project directory '%s': %s\n", dir_arg,
                strerror(errno));
        return RG_EXIT_INVALID;
    }
    if (!compose && !(compose = find_compose(found, sizeof(found), dir))) {
        fprintf(ctx->errout,
                "rollgate: init: no compose file in '%s' (compose.yaml, compose.yml, "
                "docker-compose.yaml, docker-compose.yml): name it with --compose\n",
                dir);
        return RG_EXIT_INVALID;
    }
    if (!realpath(compose, compose_abs)) {
        fprintf(ctx->errout, "rollgate: init: compose file '%s': %s\n", compose, strerror(errno));
        return RG_EXIT_INVALID;
    }
    if (rg_compose_file_read(&cf, compose, &err) < 0) {
        fprintf(ctx->errout, "rollgate: init: %s\n", err.msg);
        return rg_cli_exit_for(err.code == RG_ENOENT ? RG_EINVAL : err.code);
    }
    target_name(name, sizeof(name), ctx->optval[IN_NAME], dir);
    rg_buf_init(&d.text, 64 * 1024);
    rg_buf_init(&d.todo, 16 * 1024);
    tag_var = common_tag_var(&cf);
    for (size_t i = 0; i < cf.n_services; i++) {
        const struct rg_compose_service *s = &cf.services[i];
        enum role r = role_of(s);
        if (r == ROLE_DB && !db)
            db = s;
        else if (r == ROLE_PROXY && !proxy)
            proxy = s;
        else if (r == ROLE_APP && deployable(s) &&
                 (tag_var ? s->tag_var && strcmp(s->tag_var, tag_var) == 0
                          : !repo || strcmp(s->repo, repo) == 0)) {
            /* Without a tag variable, the services of the first application image only: a
             * redis or a worker of another image keeps its own tag. */
            rg_strv_push(&d.services, s->name);
            if (!repo)
                repo = s->repo;
        } else if (r == ROLE_APP && s->image && !deployable(s)) {
            todo(&d, "service '%s' (image %s) was left out: its name or its image's repository "
                     "comes from a variable without a default or is not a plain name; add it to "
                     "runtime.services "
                     "by hand if a release deploys it (an image pinned by digest is not moved by "
                     "releases)",
                 s->name, s->image);
        }
    }
    if (!d.services.n) {
        fprintf(ctx->errout,
                "rollgate: init: no service of '%s' runs an application image (only a database "
                "or a proxy, or images built in place): rollgate deploys images from a "
                "registry\n",
                compose);
        rc = RG_EXIT_INVALID;
        goto out;
    }
    if (!tag_var) {
        tag_var = "APP_TAG";
        struct rg_buf names;
        rg_buf_init(&names, 1024);
        for (size_t i = 0; i < d.services.n; i++)
            rg_buf_addf(&names, "%s%s", i ? ", " : "", d.services.v[i]);
        todo(&d, "the compose file must take the release from the environment: write image: "
                 "%s:${APP_TAG} for service%s %s (rollgate sets APP_TAG in .env on every "
                 "deploy)",
             repo, d.services.n > 1 ? "s" : "", names.data);
        rg_buf_release(&names);
    }
    env_path = rg_asprintf("%s/.env", dir);
    if (rg_envfile_get(&env_tag, env_path, tag_var, &err) < 0)
        todo(&d, "%s: put %s=<the tag that runs now> there before the first deploy, so "
                 "that rollgate knows the release to return to",
             err.msg, tag_var);

    rg_buf_addf(&d.text,
                "# Written by `rollgate init` from %s. Read the notes it printed, then\n"
                "# `rollgate validate` and `rollgate plan --tag TAG` before the first deploy.\n"
                "version: 1\n"
                "name: %s\n"
                "state_dir: /var/lib/rollgate\n\n"
                "runtime:\n"
                "  driver: compose\n"
                "  project_dir: %s\n",
                compose, name, dir);
    /* Compose as it runs today: the same file and the same project, or rollgate would start a
     * second stack beside the first. */
    if (ctx->optval[IN_COMPOSE])
        rg_buf_addf(&d.text, "  compose_file: %s\n", compose_abs);
    if (cf.project_name && plain_name(cf.project_name))
        rg_buf_addf(&d.text, "  project_name: %s\n", cf.project_name);
    rg_buf_addf(&d.text,
                "  env_file: .env\n"
                "  tag_var: %s\n"
                "  services: ",
                tag_var);
    yaml_list(&d.text, &d.services);
    rg_buf_addf(&d.text,
                "\n\nrelease:\n"
                "  image: \"%s\"\n"
                "  tag_pattern: '^v?[0-9]+(\\.[0-9]+)*(-[a-z0-9.]+)?$'\n\n"
                "defaults: {every: 2s, within: 2m, timeout: 5s}\n\n"
                "gates:\n",
                repo);
    todo(&d, "release.tag_pattern accepts v1.2.3 or 1.2.3 with an optional -suffix: narrow it "
             "to the tags your releases have");
    for (size_t i = 0; i < cf.n_services; i++)
        if (rg_strv_contains(&d.services, cf.services[i].name))
            app_gates(&d, &cf.services[i]);
    if (db)
        db_parts(&d, db, name, &dsn);
    rg_buf_adds(&d.text, "  errors: {logs: ");
    rg_buf_adds(&d.text, d.services.v[0]);
    rg_buf_adds(&d.text, ", pattern: 'Traceback|FATAL|panic|OOM|Killed'}\n");
    rg_strv_push(&d.settle, "errors");
    for (size_t i = 0; dsn && i < cf.n_services; i++)
        if (rg_strv_contains(&d.services, cf.services[i].name) &&
            strstr(base_of(cf.services[i].repo), "odoo"))
            todo(&d, "Odoo's filestore is not in the database: set backup.filestore to its "
                     "directory on the host (the volume service '%s' mounts at "
                     "/var/lib/odoo) so that a restore brings back the attachments too",
                 cf.services[i].name);
    if (dsn)
        rg_buf_addf(&d.text,
                    "\nbackup:\n"
                    "  before_deploy: true\n"
                    "  database: \"%s\"\n"
                    "  dir: /var/backups/rollgate/%s\n"
                    "  keep: 7\n",
                    dsn, name);
    rg_buf_adds(&d.text, "\ndeploy:\n  - pull\n  - up\n  - verify: ");
    yaml_list(&d.text, &d.gates);
    rg_buf_adds(&d.text, "\n  - settle: {for: 30s, watch: ");
    yaml_list(&d.text, &d.services);
    rg_buf_adds(&d.text, ", gates: ");
    yaml_list(&d.text, &d.settle);
    rg_buf_adds(&d.text, "}\n\nrecover:\n  - rollback: previous\n");
    if (dsn)
        rg_buf_adds(&d.text, "  - restore: before_deploy\n");
    size_t todos_before = (size_t)d.todos;
    nginx_upstreams(&d, ctx->optval[IN_NGINX] ? ctx->optval[IN_NGINX] : "/etc/nginx", &cf, name);
    if ((size_t)d.todos > todos_before)
        ; /* the host's nginx was found and said so */
    else if (proxy)
        todo(&d, "nginx runs as service '%s': with `strategy: switch` rollgate starts each "
                 "release beside the serving one and moves nginx in one reload, so no request "
                 "fails (docs/switch.md: the services then publish no fixed host port)",
             proxy->name);
    else
        todo(&d, "nginx in front of the stack? `strategy: switch` deploys without a failed "
                 "request (docs/switch.md)");

    if (d.text.truncated) {
        fprintf(ctx->errout, "rollgate: init: '%s' describes more than a first playbook can "
                             "hold: write it by hand (docs/playbook.md)\n",
                compose);
        rc = RG_EXIT_INVALID;
        goto out;
    }
    /* What init writes must load as it is, with nothing from the environment. */
    struct rg_playbook *pb = NULL;
    struct rg_diags diags;
    struct rg_load_opts lo = {.driver_caps = rg_driver_caps};
    rg_diags_init(&diags);
    if (rg_playbook_load_buffer(&pb, &diags, output, d.text.data, d.text.len, &lo, &err) < 0) {
        rg_cli_print_diags(ctx->errout, &diags);
        fprintf(ctx->errout, "rollgate: init: the playbook drafted from '%s' does not validate "
                             "(a bug: report it with the compose file): %s\n",
                compose, err.msg);
        rg_diags_release(&diags);
        rc = RG_EXIT_INTERNAL;
        goto out;
    }
    rg_diags_release(&diags);
    if (env_tag && rg_playbook_check_tag(pb, env_tag, &err) < 0)
        todo(&d, "the release that runs now, '%s', does not match the drafted tag_pattern: "
                 "rollgate could not roll back to it; set tag_pattern so that it matches",
             env_tag);
    rg_playbook_free(pb);
    if (write_new(output, d.text.data, &err) < 0) {
        fprintf(ctx->errout, "rollgate: init: %s\n", err.msg);
        rc = rg_cli_exit_for(err.code);
        goto out;
    }
    fprintf(ctx->out, "wrote %s: target '%s', services ", output, name);
    for (size_t i = 0; i < d.services.n; i++)
        fprintf(ctx->out, "%s%s", i ? ", " : "", d.services.v[i]);
    fprintf(ctx->out, ", the release in %s of %s/.env, %zu gates%s\n", tag_var, dir,
            d.gates.n + 1, dsn ? ", backups before each deploy" : "");
    fprintf(ctx->out, "still to do:\n%s", d.todo.data ? d.todo.data : "");
    fprintf(ctx->out, "then: rollgate validate %s && rollgate plan %s --tag TAG\n", output,
            output);
out:
    free(dsn);
    free(env_tag);
    free(env_path);
    rg_buf_release(&d.text);
    rg_buf_release(&d.todo);
    rg_strv_release(&d.gates);
    rg_strv_release(&d.settle);
    rg_strv_release(&d.services);
    rg_compose_file_release(&cf);
    return rc;
}

const struct rg_cmd rg_cmd_init = {
    .name = "init",
    .summary = "write a first playbook for a compose stack that already runs",
    .usage = "[--compose FILE] [--name NAME] [--output FILE] [--nginx-dir DIR] [PROJECT_DIR]",
    .description =
        "Reads the compose file of PROJECT_DIR (default: the current directory) and writes a\n"
        "playbook (default rollgate.yml, never over an existing file): the services whose\n"
        "image takes its tag from ${VAR}, that variable as the tag, a container gate per\n"
        "service and gates on the ports they publish, a postgres gate and backups when a\n"
        "PostgreSQL service runs, verify and settle, a rollback rung, and (commented out)\n"
        "the proxy section of the switch strategy when host nginx proxies to a published\n"
        "port. Then prints what\n"
        "must still be decided by a person. Nothing is contacted or started.\n",
    .opts = init_opts,
    .min_args = 0,
    .max_args = 1,
    .run = cmd_init,
};
